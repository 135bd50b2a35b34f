// guest-init/user_spec.h — resolves the image's USER ("name", "uid", "name:group", "uid:gid",
// empty = root) against the image's /etc/passwd and /etc/group contents, with Docker/runc rules.
//
//   UserResolution user = resolve_user("app:staff", read("/etc/passwd"), read("/etc/group"));
//   if (!user.error.empty()) fail(user.error);
//   setgroups(user.groups.size(), user.groups.data()); setgid(user.gid); setuid(user.uid);
//
// Rules: a purely numeric part is an id and need not exist in the files; a name must exist.
// The primary group is the explicit group if given, else the user's passwd gid (0 for a numeric
// uid that passwd does not know). Supplementary groups: with an explicit group only that group;
// else the primary gid plus every /etc/group entry that lists the user's name. HOME is the
// passwd home, "/" for a user passwd does not know.
#pragma once

#include <stdint.h>
#include <string>
#include <string_view>
#include <vector>

namespace guest_init {

struct UserResolution {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> groups;
    std::string home = "/";
    std::string error; // empty on success
};

UserResolution resolve_user(std::string_view spec, std::string_view passwd, std::string_view group);

// A decimal id in 0..2^31-1, or -1.
int64_t parse_id(std::string_view text);

} // namespace guest_init
