// vmm/enclave/sandbox_seccomp.h — the enclave daemon's seccomp filters (libseccomp), as
// Firecracker has them: an allow-list per kind of thread, built from what the code calls after
// the daemon dropped root (traced with strace -f on a KVM probe enclave and a --accel tcg
// enclave through query, console, vsock traffic both ways and stop). Anything else kills the
// whole process (SCMP_ACT_KILL_PROCESS); the kernel logs it (audit / dmesg) and the monitor
// records "killed by seccomp (SIGSYS)" (sandbox_monitor.h).
//
//   Daemon   the union: the main thread (control socket, epoll, timers, QEMU's supervision),
//            the vsock/vhost-user thread and the vCPU threads. Installed by the main thread
//            for every thread at once (TSYNC, which also gives every thread no_new_privs).
//   Vsock    sockets, epoll, eventfds, memory, the device model's ioctls; no process control.
//   Vcpu     KVM ioctls, eventfds, memory, futexes; no sockets, no epoll.
//   Nsm      the NSM device's thread under KVM ("nsm"): poll and its eventfds, memory, futexes,
//            getrandom (signing); no sockets, no ioctl. Under tcg the NSM's vhost-user back end
//            ("vhost-nsm") keeps the union list, like "qemu-supervisor".
//   Control  the main thread: the control socket and the monitor's socketpair, epoll, timers,
//            signalfd, waiting for and signalling QEMU; no ioctl (ENOTTY: glibc's isatty),
//            no pread/pwrite, no dup.
// The narrower lists stack on the daemon's: a thread applies its own (install_thread_filter,
// no TSYNC) and then can do only what both allow. The daemon has every vCPU thread apply the
// Vcpu list (EnclaveVm::run_in_vcpu_threads), the vsock device's loop thread ("vsock" under
// KVM, "vhost-vsock" under tcg) the Vsock list (EnclaveVm::run_in_device_thread), and then the
// main thread the Control list. tcg's "qemu-supervisor" thread keeps the union. Every list
// refuses the same calls with an errno instead of killing (open, unlink, the /proc look-ups
// below): of stacked filters the strictest action wins, so a list without them would kill.
// kill is allowed only towards the daemon itself and its child (QEMU), tgkill only inside the
// daemon's own thread group. No socket, no connect, no exec, no fork; open and unlink fail with
// EACCES (glibc opens files on its own; the root is empty). What needs the file
// system goes through the monitor. Sanitizer builds (SAN=1) allow the few calls ASan needs.
//
// Usage:
//     vmm::install_daemon_filter(qemu_pid);          // after drop_privileges(), from the main thread
//     vmm::install_thread_filter(vmm::ThreadRole::Vcpu);   // from a vCPU thread, afterwards
//     vmm::install_thread_filter(vmm::ThreadRole::Vsock);  // from the vsock loop thread, afterwards
//     vmm::install_thread_filter(vmm::ThreadRole::Nsm);    // from the NSM device's thread (KVM)
//     vmm::install_thread_filter(vmm::ThreadRole::Control, qemu_pid);  // the main thread, last
//     vmm::install_monitor_filter();                  // the monitor, before it serves
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vmm {

enum class ThreadRole { Daemon, Vsock, Vcpu, Nsm, Control };

// The system call names a role may make (for tests and documentation).
std::vector<std::string> allowed_syscalls(ThreadRole role);

// Every thread of the process: the Daemon list, killing the process on anything else. `child`
// is the one other process the daemon may signal (QEMU under --accel tcg). Throws
// base::Error (SECCOMP) if the filter cannot be built or loaded.
void install_daemon_filter(std::optional<pid_t> child);

// The calling thread only: the role's list on top of whatever filter it already has. Needs
// no_new_privs already set (install_daemon_filter does) or CAP_SYS_ADMIN. `child`: the one
// other process it may signal (QEMU, for the Control role).
void install_thread_filter(ThreadRole role, std::optional<pid_t> child = std::nullopt);

// The root monitor (sandbox_monitor.h), single-threaded: what its five requests and the
// daemon-killed record need (its socketpair, files in the run directory, connecting AF_UNIX
// sockets, reading the user and group databases, waiting for the daemon, SIGKILL to its own
// process group). No exec, no fork, no other signals, no mount, no ptrace, no other socket families.
void install_monitor_filter();

} // namespace vmm
