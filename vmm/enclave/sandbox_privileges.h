// vmm/enclave/sandbox_privileges.h — how the enclave daemon stops being root once its enclave
// runs (README "Access model"). Two steps:
//   enter_daemon_namespaces()   right after the monitor fork, single-threaded, still root: new
//                               network, IPC, UTS and mount namespaces (the daemon needs no
//                               network: its sockets are Unix sockets bound by path or
//                               inherited; QEMU inherits them too)
//   drop_privileges(user)       after the VM started: chroot into an empty root-owned directory,
//                               rlimits, bounding set emptied and securebits locked, all groups
//                               dropped, real/effective/saved uid and gid of every thread set to
//                               the daemon user, no capabilities, no_new_privs, not dumpable.
// What the daemon still needs from the file system afterwards goes through the monitor
// (sandbox_monitor.h).
//
// Usage:
//     vmm::DaemonUser user = vmm::lookup_daemon_user();   // before setup: a clear error if missing
//     ... build and start the VM ...
//     vmm::drop_privileges(user);                          // throws base::Error on any failure
#pragma once

#include <string>
#include <sys/resource.h>
#include <sys/types.h>

namespace vmm {

inline constexpr const char* kDaemonUser = "qt-vmm-daemon";
// An empty, root-owned, read-only directory the daemon chroots into (created if missing).
inline constexpr const char* kEmptyRoot = "/run/qt-vmm-empty";
// RLIMIT_FSIZE: bounds the daemon's log (<run>/<id>.log); SIGXFSZ is ignored, a write past it fails.
inline constexpr rlim_t kDaemonMaxFileBytes = 16u << 20;

struct DaemonUser {
    uid_t uid { 0 };
    gid_t gid { 0 };
};

// The daemon user's IDs; throws DAEMON_USER (with how to create it) if it does not exist.
DaemonUser lookup_daemon_user();

// Best effort (logs to stderr what it could not do): new net, ipc, uts and private mount
// namespaces. Must run before any thread is created.
void enter_daemon_namespaces();

// Waits until process `pid` runs as `uid` (QEMU after its -runas, ≈ 55 ms after exec here), so
// that the daemon, once it is that user too, can still signal it. False after `timeout_ms` or if
// the process is gone.
bool wait_for_uid(pid_t pid, uid_t uid, int timeout_ms);

// Drops root for good in every thread of the process; throws base::Error (DROP_PRIVILEGES) if
// any step fails, so a daemon never runs on half-dropped.
void drop_privileges(const DaemonUser& user);

} // namespace vmm
