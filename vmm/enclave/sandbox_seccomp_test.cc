#include "vmm/enclave/sandbox_seccomp.h"

#include <algorithm>
#include <csignal>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <functional>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

// fork(2) as a raw system call; arm64 has no fork syscall (glibc's fork is clone with SIGCHLD).
long raw_fork()
{
#if defined(SYS_fork)
    return ::syscall(SYS_fork);
#else
    return ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
}

// Runs `body` in a forked child after installing a filter; returns the child's wait status.
int in_child(const std::function<void()>& install, const std::function<int()>& body)
{
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        try {
            install();
        } catch (...) {
            ::_exit(99);
        }
        ::_exit(body());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

// SAN=1 builds add AddressSanitizer's own calls (openat, readlink, ...) to every list
// (sandbox_seccomp.cc, kSanitizer): there those calls are allowed, so "refused quietly" becomes
// "allowed"; either way the process is never killed for them.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsanAllowsFileCalls = true;
#else
constexpr bool kAsanAllowsFileCalls = false;
#endif

// 7 when a call that the filter refuses with `refused_errno` did that (or, in SAN builds where
// ASan's list allows it, simply returned).
int refused_with(long result, int refused_errno)
{
    if (kAsanAllowsFileCalls)
        return 7;
    return result < 0 && errno == refused_errno ? 7 : 1;
}

bool killed_by_sigsys(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS; }
bool exited_with(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

} // namespace

TEST_CASE("seccomp: a vCPU thread's filter kills the process on a forbidden call (socket)")
{
    auto vcpu = [] { vmm::install_thread_filter(vmm::ThreadRole::Vcpu); };
    CHECK(exited_with(in_child(vcpu, [] { return ::getpid() > 0 ? 7 : 0; }), 7)); // allowed calls work
    CHECK(killed_by_sigsys(in_child(vcpu, [] { return ::socket(AF_UNIX, SOCK_STREAM, 0) >= 0 ? 0 : 1; })));
    CHECK(killed_by_sigsys(in_child(vcpu, [] { return static_cast<int>(::syscall(SYS_epoll_create1, 0)); })));
}

TEST_CASE("seccomp: the daemon's filter forbids fork, exec, sockets, signals to others, refuses open; allows its own work")
{
    auto daemon = [] { vmm::install_daemon_filter(std::nullopt); };
    // open fails (EACCES) instead of killing: glibc opens files on its own (the root is empty anyway).
    CHECK(exited_with(in_child(daemon, [] { return refused_with(::open("/etc/passwd", O_RDONLY), EACCES); }), 7));
    CHECK(killed_by_sigsys(in_child(daemon, [] { return static_cast<int>(raw_fork()); })));
    CHECK(killed_by_sigsys(in_child(daemon, [] { return ::execl("/bin/true", "true", nullptr); })));
    CHECK(killed_by_sigsys(in_child(daemon, [] { return ::kill(1, 0); })));
    CHECK(killed_by_sigsys(in_child(daemon, [] { return ::socket(AF_UNIX, SOCK_STREAM, 0); })));
    // Signals to itself are fine, and so is the work of the control loop.
    CHECK(exited_with(in_child(daemon, [] { return ::kill(::getpid(), 0) == 0 ? 7 : 1; }), 7));
    CHECK(exited_with(in_child(daemon, [] {
        int fds[2];
        return ::pipe2(fds, O_CLOEXEC) == 0 && ::syscall(SYS_epoll_create1, 0) >= 0 ? 7 : 1;
    }), 7));
    // The muxer's unlink of its socket path: refused quietly.
    CHECK(exited_with(in_child(daemon, [] { return ::unlink("/nonexistent") != 0 && errno == EACCES ? 7 : 1; }), 7));
}

TEST_CASE("seccomp: the vsock thread's list on the daemon's: its own work goes on, glibc's opens and the kick-fd check fail quietly, the rest kills")
{
    // As in the daemon: the union first (no_new_privs, TSYNC), then the vsock thread's own.
    auto vsock = [] {
        vmm::install_daemon_filter(std::nullopt);
        vmm::install_thread_filter(vmm::ThreadRole::Vsock);
    };
    // What the loop does: epoll, eventfds, its sockets (here a socketpair made before).
    CHECK(exited_with(in_child([] {}, [] {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            return 1;
        int ep = static_cast<int>(::syscall(SYS_epoll_create1, 0));
        try {
            vmm::install_daemon_filter(std::nullopt);
            vmm::install_thread_filter(vmm::ThreadRole::Vsock);
        } catch (...) {
            return 2;
        }
        char byte = 'x';
        if (::send(sv[0], &byte, 1, 0) != 1 || ::recv(sv[1], &byte, 1, 0) != 1)
            return 3;
        int efd = static_cast<int>(::syscall(SYS_eventfd2, 0, 0));
        epoll_event ev {};
        ev.events = EPOLLIN;
        if (efd < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0 || ::epoll_wait(ep, &ev, 1, 0) != 0)
            return 4;
        return 7;
    }), 7));
    // Refused, not killed (the stacked list must not turn the union's errno into a kill):
    // glibc's own opens, and the vhost-user kick-fd check's readlink/access of /proc.
    CHECK(exited_with(in_child(vsock, [] { return refused_with(::open("/etc/passwd", O_RDONLY), EACCES); }), 7));
    CHECK(exited_with(in_child(vsock, [] {
        char target[64];
        return refused_with(::readlink("/proc/self/fd/0", target, sizeof target), ENOENT);
    }), 7));
    CHECK(exited_with(in_child(vsock, [] { return ::access("/proc/self/fd/0", F_OK) < 0 && errno == ENOENT ? 7 : 1; }), 7));
    // Outside the list: process control, new epoll sets or timers (the main thread's), signals to others.
    CHECK(killed_by_sigsys(in_child(vsock, [] { return static_cast<int>(raw_fork()); })));
    CHECK(killed_by_sigsys(in_child(vsock, [] { return static_cast<int>(::syscall(SYS_epoll_create1, 0)); })));
    CHECK(killed_by_sigsys(in_child(vsock, [] { return static_cast<int>(::syscall(SYS_wait4, -1, nullptr, WNOHANG, nullptr)); })));
    CHECK(killed_by_sigsys(in_child(vsock, [] { return ::kill(1, 0); })));
}

TEST_CASE("seccomp: the main thread's Control list on the daemon's: no ioctl (ENOTTY), no pread or dup; its control loop's work goes on")
{
    auto control = [] {
        vmm::install_daemon_filter(std::nullopt);
        vmm::install_thread_filter(vmm::ThreadRole::Control);
    };
    // ioctl fails instead of killing (glibc's isatty on the first stdio write), KVM's included.
    CHECK(exited_with(in_child(control, [] { return ::isatty(0) == 0 && errno == ENOTTY ? 7 : 1; }), 7));
    CHECK(exited_with(in_child(control, [] { return ::ioctl(0, 0xae80 /* KVM_RUN */, 0) < 0 && errno == ENOTTY ? 7 : 1; }), 7));
    CHECK(killed_by_sigsys(in_child(control, [] { char b; return static_cast<int>(::pread(0, &b, 1, 0)); })));
    CHECK(killed_by_sigsys(in_child(control, [] { return ::dup(0); })));
    CHECK(killed_by_sigsys(in_child(control, [] { return static_cast<int>(raw_fork()); })));
    CHECK(killed_by_sigsys(in_child(control, [] { return ::kill(1, 0); })));
    // What the control loop does: epoll sets, pipes, waiting for a child, signals to itself.
    CHECK(exited_with(in_child(control, [] {
        int fds[2];
        bool ok = ::pipe2(fds, O_CLOEXEC) == 0 && ::syscall(SYS_epoll_create1, 0) >= 0 && ::kill(::getpid(), 0) == 0;
        return ok && ::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD ? 7 : 1;
    }), 7));
}

TEST_CASE("seccomp: every role's list has the basics and nothing to reach the file system")
{
    for (auto role : { vmm::ThreadRole::Daemon, vmm::ThreadRole::Vsock, vmm::ThreadRole::Vcpu, vmm::ThreadRole::Control }) {
        std::vector<std::string> names = vmm::allowed_syscalls(role);
        CHECK(std::count(names.begin(), names.end(), "futex") == 1);
        for (const char* forbidden : { "open", "execve", "fork", "clone", "socket", "connect", "ptrace", "mount" })
            CHECK(std::count(names.begin(), names.end(), forbidden) == 0);
    }
    std::vector<std::string> vcpu = vmm::allowed_syscalls(vmm::ThreadRole::Vcpu);
    CHECK(std::count(vcpu.begin(), vcpu.end(), "accept4") == 0);
    std::vector<std::string> control = vmm::allowed_syscalls(vmm::ThreadRole::Control);
    CHECK(std::count(control.begin(), control.end(), "ioctl") == 0);
    CHECK(std::count(control.begin(), control.end(), "accept4") == 1);
}
