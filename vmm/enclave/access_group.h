// vmm/enclave/access_group.h — who may reach an enclave from the host: root and members of the
// `qt-vmm` group (as Nitro Enclaves uses the `ne` group). Everything an enclave publishes in the
// run directory goes through here, so the rule lives in one place.
//
//   run directory   root:qt-vmm 1770 (members may create their <id>.vsock_P listeners; the
//                   sticky bit keeps them from removing anyone else's files)
//   <id>.sock       root:qt-vmm 0660 (the control socket; owner-only rules for stop and
//   <id>.vsock      console are still decided per request from the peer's credentials)
// Without the group both sockets are 0600 (root only) and the run directory 0755;
// `host-check` says how to create the group.
//
// Usage:
//     vmm::restrict_to_access_group(socket_path);   // right after bind()
//     vmm::secure_new_run_dir(path);                // right after mkdir() created it
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>

namespace vmm {

inline constexpr const char* kAccessGroup = "qt-vmm";

// The group's ID, or nullopt if the group does not exist on this host.
std::optional<gid_t> access_group_id();

// A socket (or file) created by this process: root:qt-vmm 0660, or 0600 owner-only if the group
// does not exist or the file cannot be given to it (not root). Best effort: never throws.
void restrict_to_access_group(const std::string& path);

// A run directory this process just created: root:qt-vmm 1770, or 0755 without the group.
void secure_new_run_dir(const std::string& path);

// How to create the group and add a user to it, for host-check and errors.
std::string access_group_hint();

} // namespace vmm
