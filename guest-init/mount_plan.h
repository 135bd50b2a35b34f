// guest-init/mount_plan.h — what init mounts, as data: the step before the switch into /rootfs
// and the filesystems set up inside the new root (Nitro's set: /dev, /proc, /dev/fd and
// /dev/std* links, /run, /tmp, /dev/shm, /dev/pts, /sys). system_setup.cc carries them out.
//
//   for (const MountStep& step : new_root_mount_plan())
//       apply_mount_step(step);   // mkdir -p target, then mount or symlink
#pragma once

#include <span>
#include <sys/types.h>

namespace guest_init {

struct MountStep {
    enum class Action { Mount, Symlink };
    Action action;
    const char* source;   // Mount: the device/source name; Symlink: the link's target
    const char* target;   // absolute path of the mount point or the link
    const char* fstype;   // Mount only
    unsigned long flags;  // MS_* flags
    const char* data;     // mount options, or nullptr
    mode_t dir_mode;      // mode for creating the mount point if missing
    bool busy_ok;         // EBUSY (already mounted) is success
    bool required;        // failure stops init; otherwise a warning
};

// Ramdisk root, before anything else: devtmpfs on /dev (so /dev/console can be opened).
std::span<const MountStep> early_mount_plan();
// Inside the new root after the switch, in order.
std::span<const MountStep> new_root_mount_plan();

} // namespace guest_init
