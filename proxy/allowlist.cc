// proxy/allowlist.cc — parsing and matching of vsock-proxy's YAML allowlist (see the header).
#include "proxy/allowlist.h"

#include "base/error.h"
#include "base/file.h"

#include <algorithm>
#include <strings.h>
#include <yaml-cpp/yaml.h>

namespace proxy {

namespace {

constexpr std::size_t kMaxAllowlistBytes = 1 << 20;
constexpr const char* kExample = "e.g. 'allowlist: [{address: 127.0.0.1, port: 8443}]'";

// A value from the file, cut short and with control characters shown as '?', for a one-line message.
std::string shown(const std::string& value)
{
    std::string out = value.substr(0, 64);
    for (char& ch : out)
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
            ch = '?';
    return out;
}

[[noreturn]] void bad(const std::string& source, const YAML::Mark& mark, const std::string& problem, const std::string& fix)
{
    std::string where = source + (mark.is_null() ? "" : ":" + std::to_string(mark.line + 1));
    throw base::Error(base::ErrorKind::InvalidInput, "PROXY_ALLOWLIST", where + ": " + problem + "; " + fix);
}

const char* kind_name(const YAML::Node& n)
{
    switch (n.Type()) {
    case YAML::NodeType::Map:
        return "a map";
    case YAML::NodeType::Sequence:
        return "a list";
    case YAML::NodeType::Scalar:
        return "a scalar";
    default:
        return "empty";
    }
}

AllowEntry parse_entry(const YAML::Node& item, std::size_t index, const std::string& source)
{
    std::string which = "allowlist entry " + std::to_string(index + 1);
    const std::string fix = "each entry is a map with address and port, e.g. - {address: 127.0.0.1, port: 8443}";
    if (!item.IsMap())
        bad(source, item.Mark(), which + " is " + kind_name(item) + ", not a map", fix);
    AllowEntry entry;
    bool have_address = false, have_port = false;
    for (const auto& kv : item) {
        if (!kv.first.IsScalar())
            bad(source, kv.first.Mark(), which + " has a key that is not a word", fix);
        const std::string key = kv.first.Scalar();
        const YAML::Node& value = kv.second;
        if (key == "address") {
            if (!value.IsScalar() || value.Scalar().empty())
                bad(source, value.Mark(), which + ": address must be a host name or IP address", fix);
            entry.address = value.Scalar();
            if (entry.address.size() > 253 || entry.address.find_first_of(std::string(" \t\r\n\0/", 6)) != std::string::npos)
                bad(source, value.Mark(), which + ": address '" + shown(entry.address) + "' is not a host name or IP address", fix);
            have_address = true;
        } else if (key == "port") {
            const std::string text = value.IsScalar() ? value.Scalar() : "";
            bool digits = !text.empty() && text.size() <= 5 && std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
            unsigned long port = digits ? std::stoul(text) : 0;
            if (!digits || port < 1 || port > 65535)
                bad(source, value.Mark(), which + ": port must be a number from 1 to 65535" + (text.empty() ? "" : ", not '" + shown(text) + "'"), fix);
            entry.port = static_cast<std::uint16_t>(port);
            have_port = true;
        } else {
            bad(source, kv.first.Mark(), which + " has an unknown key '" + shown(key) + "' (only address and port are allowed)", fix);
        }
    }
    if (!have_address || !have_port)
        bad(source, item.Mark(), which + " has no " + (have_address ? "port" : "address"), fix);
    return entry;
}

} // namespace

Allowlist Allowlist::parse(const std::string& yaml_text, const std::string& source)
{
    YAML::Node root;
    try {
        root = YAML::Load(yaml_text);
    } catch (const YAML::Exception& e) {
        bad(source, e.mark, "not valid YAML (" + shown(e.msg) + ")", std::string("fix the syntax, ") + kExample);
    }
    if (!root.IsMap() || !root["allowlist"])
        bad(source, root.Mark(), "no top-level 'allowlist:' key", std::string("the file lists the allowed destinations, ") + kExample);
    const YAML::Node list = root["allowlist"];
    if (list.IsNull())
        return Allowlist {}; // "allowlist:" with nothing under it: everything is refused
    if (!list.IsSequence())
        bad(source, list.Mark(), std::string("'allowlist' is ") + kind_name(list) + ", not a list",
            std::string("write one '- {address: ..., port: ...}' line per destination, ") + kExample);
    Allowlist out;
    for (std::size_t i = 0; i < list.size(); i++)
        out.m_entries.push_back(parse_entry(list[i], i, source));
    return out;
}

Allowlist Allowlist::load(const std::string& path)
{
    std::string text;
    try {
        text = base::read_file(path, kMaxAllowlistBytes);
    } catch (const base::Error& e) {
        // The file's own problem and code (FILE_OPEN for a missing one, as in every command).
        throw base::Error(e.kind(), e.code(), std::string("cannot read the allowlist: ") + e.what() + "; name an allowlist file with --config FILE");
    }
    return parse(text, path);
}

bool Allowlist::allows_name(const std::string& host, std::uint16_t port) const
{
    return std::any_of(m_entries.begin(), m_entries.end(),
        [&](const AllowEntry& e) { return e.port == port && ::strcasecmp(e.address.c_str(), host.c_str()) == 0; });
}

std::vector<std::string> Allowlist::addresses_for_port(std::uint16_t port) const
{
    std::vector<std::string> out;
    for (const AllowEntry& e : m_entries)
        if (e.port == port)
            out.push_back(e.address);
    return out;
}

} // namespace proxy
