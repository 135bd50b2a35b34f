// guest-init/user_spec.cc — USER resolution against /etc/passwd and /etc/group (see the header).
#include "guest-init/user_spec.h"

#include <algorithm>

#include "guest-init/launch_files.h"

namespace guest_init {

namespace {

std::vector<std::string_view> split(std::string_view text, char sep)
{
    std::vector<std::string_view> parts;
    size_t start = 0;
    while (true) {
        size_t end = text.find(sep, start);
        parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
        if (end == std::string_view::npos)
            return parts;
        start = end + 1;
    }
}

struct PasswdEntry {
    std::string name;
    uint32_t uid;
    uint32_t gid;
    std::string home;
};

struct GroupEntry {
    std::string name;
    uint32_t gid;
    std::vector<std::string> members;
};

std::vector<PasswdEntry> parse_passwd(std::string_view text)
{
    std::vector<PasswdEntry> entries;
    for (const auto& line : split_lines(text)) {
        if (line.empty() || line[0] == '#')
            continue;
        auto f = split(line, ':');
        if (f.size() < 7)
            continue;
        int64_t uid = parse_id(f[2]), gid = parse_id(f[3]);
        if (f[0].empty() || uid < 0 || gid < 0)
            continue;
        entries.push_back({ std::string(f[0]), uint32_t(uid), uint32_t(gid), std::string(f[5]) });
    }
    return entries;
}

std::vector<GroupEntry> parse_group(std::string_view text)
{
    std::vector<GroupEntry> entries;
    for (const auto& line : split_lines(text)) {
        if (line.empty() || line[0] == '#')
            continue;
        auto f = split(line, ':');
        if (f.size() < 4)
            continue;
        int64_t gid = parse_id(f[2]);
        if (f[0].empty() || gid < 0)
            continue;
        GroupEntry entry { std::string(f[0]), uint32_t(gid), {} };
        if (!f[3].empty()) {
            for (auto member : split(f[3], ','))
                entry.members.emplace_back(member);
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

} // namespace

int64_t parse_id(std::string_view text)
{
    if (text.empty() || text.size() > 10)
        return -1;
    int64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return -1;
        value = value * 10 + (c - '0');
    }
    return value <= 0x7fffffff ? value : -1;
}

UserResolution resolve_user(std::string_view spec, std::string_view passwd_text, std::string_view group_text)
{
    UserResolution result;
    size_t colon = spec.find(':');
    std::string_view user_part = spec.substr(0, colon);
    std::string_view group_part = colon == std::string_view::npos ? std::string_view {} : spec.substr(colon + 1);
    if (colon != std::string_view::npos && group_part.empty()) {
        result.error = "user '" + std::string(spec) + "' has an empty group";
        return result;
    }
    if (user_part.empty())
        user_part = "0";

    auto passwd = parse_passwd(passwd_text);
    const PasswdEntry* entry = nullptr;
    int64_t uid = parse_id(user_part);
    for (const auto& e : passwd) {
        if (uid >= 0 ? e.uid == uint32_t(uid) : e.name == user_part) {
            entry = &e;
            break;
        }
    }
    if (!entry && uid < 0) {
        result.error = "user '" + std::string(user_part) + "' not found in the image's /etc/passwd";
        return result;
    }
    result.uid = entry ? entry->uid : uint32_t(uid);
    result.gid = entry ? entry->gid : 0;
    if (entry && !entry->home.empty())
        result.home = entry->home;

    auto groups = parse_group(group_text);
    if (!group_part.empty()) {
        int64_t gid = parse_id(group_part);
        if (gid < 0) {
            auto it = std::find_if(groups.begin(), groups.end(), [&](const GroupEntry& g) { return g.name == group_part; });
            if (it == groups.end()) {
                result.error = "group '" + std::string(group_part) + "' not found in the image's /etc/group";
                return result;
            }
            gid = it->gid;
        }
        result.gid = uint32_t(gid);
        result.groups = { result.gid };
        return result;
    }
    result.groups = { result.gid };
    if (entry) {
        for (const auto& g : groups) {
            bool member = std::find(g.members.begin(), g.members.end(), entry->name) != g.members.end();
            if (member && std::find(result.groups.begin(), result.groups.end(), g.gid) == result.groups.end())
                result.groups.push_back(g.gid);
        }
    }
    return result;
}

} // namespace guest_init
