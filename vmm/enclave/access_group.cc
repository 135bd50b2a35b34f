#include "vmm/enclave/access_group.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace vmm {

std::optional<gid_t> access_group_id()
{
    group entry {};
    group* found = nullptr;
    std::vector<char> buffer(16384);
    if (::getgrnam_r(kAccessGroup, &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
        return std::nullopt;
    return found->gr_gid;
}

void restrict_to_access_group(const std::string& path)
{
    std::optional<gid_t> group = access_group_id();
    if (group && ::chown(path.c_str(), ::geteuid(), *group) == 0) {
        ::chmod(path.c_str(), 0660);
        return;
    }
    ::chmod(path.c_str(), 0600);
}

void secure_new_run_dir(const std::string& path)
{
    std::optional<gid_t> group = access_group_id();
    if (group && ::chown(path.c_str(), ::geteuid(), *group) == 0) {
        ::chmod(path.c_str(), 01770);
        return;
    }
    ::chmod(path.c_str(), 0755);
}

std::string access_group_hint()
{
    return std::string("create it with: sudo scripts/install-deps.sh (or: groupadd --system ") + kAccessGroup
        + "), then allow a user with: usermod -aG " + kAccessGroup + " USER";
}

} // namespace vmm
