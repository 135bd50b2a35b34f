// guest-init/forward_spec.cc — parsing of the forwarder declarations (see the header).
#include "guest-init/forward_spec.h"

namespace guest_init {

namespace {

// A decimal number 1..max, or 0.
std::uint64_t parse_port(std::string_view text, std::uint64_t max)
{
    if (text.empty() || text.size() > 10)
        return 0;
    std::uint64_t value = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9')
            return 0;
        value = value * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    return value <= max ? value : 0;
}

std::string shown(std::string_view entry)
{
    std::string out(entry.substr(0, 32));
    for (char& ch : out)
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
            ch = '?';
    return out;
}

} // namespace

ForwardParse parse_forwards(std::string_view text)
{
    ForwardParse out;
    constexpr std::string_view separators = "\n, \t\r";
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t start = text.find_first_not_of(separators, pos);
        if (start == std::string_view::npos)
            break;
        std::size_t end = text.find_first_of(separators, start);
        std::string_view entry = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        pos = end == std::string_view::npos ? text.size() : end;
        std::size_t colon = entry.find(':');
        std::uint64_t tcp = colon == std::string_view::npos ? 0 : parse_port(entry.substr(0, colon), 65535);
        std::uint64_t vsock = colon == std::string_view::npos ? 0 : parse_port(entry.substr(colon + 1), 4294967294u);
        if (tcp == 0 || vsock == 0) {
            out.error = "forwarder '" + shown(entry) + "' is not TCP_PORT:VSOCK_PORT (TCP port 1-65535, vsock port 1-4294967294), e.g. 443:8000";
            out.forwards.clear();
            return out;
        }
        for (const Forward& f : out.forwards) {
            if (f.tcp_port == tcp) {
                out.error = "forwarder '" + shown(entry) + "' uses TCP port " + std::to_string(tcp) + " again; each needs its own TCP port";
                out.forwards.clear();
                return out;
            }
        }
        if (out.forwards.size() == kMaxForwards) {
            out.error = "more than " + std::to_string(kMaxForwards) + " forwarders; declare at most " + std::to_string(kMaxForwards);
            out.forwards.clear();
            return out;
        }
        out.forwards.push_back(Forward { static_cast<std::uint16_t>(tcp), static_cast<std::uint32_t>(vsock) });
    }
    return out;
}

std::string forwards_to_lines(const std::vector<Forward>& forwards)
{
    std::string out;
    for (const Forward& f : forwards)
        out += std::to_string(f.tcp_port) + ":" + std::to_string(f.vsock_port) + "\n";
    return out;
}

} // namespace guest_init
