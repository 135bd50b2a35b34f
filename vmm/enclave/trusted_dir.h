// vmm/enclave/trusted_dir.h — directories and files that root may trust. While qt-vmm runs as
// root, what it reads from or creates in the run directory (and the host-quirks cache in the
// state directory) must not be under another user's control: a symlink planted there would make
// root create, truncate or read any file on the host, and a planted cache could switch guest
// protections off. These checks apply only when the effective uid is 0.
//
// A trusted directory: a real directory (lstat: no symlink), owned by root, not writable by
// others; group-writable only with the sticky bit (1770/1775, the qt-vmm group), and every
// ancestor owned by root and not writable by group or others unless sticky (like /tmp), so
// nobody can rename it away. Files inside are opened with openat(dir fd, O_NOFOLLOW).
//
// Usage:
//     base::UniqueFd dir = vmm::open_trusted_dir("/run/qt-vmm", "QT_VMM_RUN_DIR", "RUN_DIR_UNSAFE");
//     base::UniqueFd f = vmm::create_fresh(dir.get(), "0.log", 0644);  // replaces whatever was there
//     std::optional<std::string> s = vmm::read_plain_file(dir.get(), "host-quirks.json", 4096, true);
#pragma once

#include "base/file.h"

#include <fcntl.h>
#include <optional>
#include <string>
#include <sys/types.h>

namespace vmm {

// Creates `path` (mode 0755) if missing; as root, throws `code` (Permission) naming the path and
// the fix unless it is a trusted directory (above); `env` names the variable that overrides it.
// Returns an O_DIRECTORY fd of the very directory that was checked.
base::UniqueFd open_trusted_dir(const std::string& path, const char* env, const char* code);

// Unlinks `name` in `dir_fd` (whatever it is: a symlink, a FIFO, someone else's file) and creates
// a new regular file in its place (O_EXCL | O_NOFOLLOW): never follows or truncates anything.
base::UniqueFd create_fresh(int dir_fd, const std::string& name, mode_t mode, int flags = O_WRONLY);

// Opens `name` in `dir_fd` read-write, creating it if missing, never through a symlink; a name
// that is not a regular file of ours (a planted symlink, FIFO or another user's file) is
// replaced. For lock files, which must keep their inode while they are ours.
base::UniqueFd open_own_file(int dir_fd, const std::string& name, mode_t mode);

// The contents of `name` in `dir_fd` (at most max_bytes) if it is a regular file (no symlink,
// no FIFO) and, with only_root_writes when we are root, owned by root and writable by root
// alone; nullopt otherwise.
std::optional<std::string> read_plain_file(int dir_fd, const std::string& name, std::size_t max_bytes, bool only_root_writes);

} // namespace vmm
