// guest-init/mount_plan.cc — the mount tables (see the header).
#include "guest-init/mount_plan.h"

#include <sys/mount.h>

namespace guest_init {

namespace {

using A = MountStep::Action;
constexpr unsigned long kNoDevSuid = MS_NOSUID | MS_NODEV;

constexpr MountStep kEarly[] = {
    { A::Mount, "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0755, true, true },
};

constexpr MountStep kNewRoot[] = {
    { A::Mount, "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0755, true, true },
    { A::Mount, "proc", "/proc", "proc", kNoDevSuid | MS_NOEXEC, nullptr, 0555, false, true },
    { A::Symlink, "/proc/self/fd", "/dev/fd", nullptr, 0, nullptr, 0, false, false },
    { A::Symlink, "/proc/self/fd/0", "/dev/stdin", nullptr, 0, nullptr, 0, false, false },
    { A::Symlink, "/proc/self/fd/1", "/dev/stdout", nullptr, 0, nullptr, 0, false, false },
    { A::Symlink, "/proc/self/fd/2", "/dev/stderr", nullptr, 0, nullptr, 0, false, false },
    { A::Mount, "sysfs", "/sys", "sysfs", kNoDevSuid | MS_NOEXEC, nullptr, 0555, false, true },
    { A::Mount, "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5", 0755, false, false },
    { A::Mount, "shm", "/dev/shm", "tmpfs", kNoDevSuid, "mode=1777", 01777, false, false },
    { A::Mount, "tmpfs", "/tmp", "tmpfs", kNoDevSuid, "mode=1777", 01777, false, true },
    { A::Mount, "tmpfs", "/run", "tmpfs", kNoDevSuid, "mode=0755", 0755, false, true },
};

} // namespace

std::span<const MountStep> early_mount_plan()
{
    return kEarly;
}

std::span<const MountStep> new_root_mount_plan()
{
    return kNewRoot;
}

} // namespace guest_init
