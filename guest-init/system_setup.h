// guest-init/system_setup.h — the system calls that prepare the enclave for the app: carrying
// out mount steps, the Nitro-style switch into /rootfs, loopback, hostname, small file reads.
// Every function returns 0 or an errno value; the caller decides what is fatal.
//
//   for (const MountStep& step : new_root_mount_plan()) apply_mount_step(step);
//   if (int e = switch_root("/rootfs")) fail(...);
//   bool assigned; bring_up_loopback(&assigned);
#pragma once

#include <string>
#include <sys/types.h>

#include "guest-init/mount_plan.h"

namespace guest_init {

// mkdir -p path (each missing component with mode).
int make_directories(const std::string& path, mode_t mode);

// Creates the target directory if needed, then mounts or symlinks. EBUSY counts as success
// when step.busy_ok, EEXIST for a symlink that is already there.
int apply_mount_step(const MountStep& step);

// bind-mount new_root on itself, chdir, move it onto /, chroot ., chdir / (so user namespaces
// keep working inside, unlike pivot-less chroot).
int switch_root(const char* new_root);

// Brings lo up. The kernel gives lo 127.0.0.1/8 by itself when it goes up (checked in the boot
// tests); if it ever did not, this assigns it and sets *assigned_address.
int bring_up_loopback(bool* assigned_address);

int set_hostname(const char* name);

// Reads a whole file of at most max_size bytes into out. ENOENT if missing, EFBIG if larger.
int read_small_file(const char* path, std::string& out, size_t max_size);

} // namespace guest_init
