#include "vmm/enclave/sandbox_seccomp.h"

#include "base/error.h"

#include <cerrno>
#include <cstring>
#include <seccomp.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace vmm {

namespace {

// Every thread: memory, futexes, time, signals back from handlers, its own end.
const char* const kCommon[] = {
    "read", "write", "readv", "writev", "close", "futex", "mmap", "munmap", "mprotect", "madvise", "mremap", "brk",
    "rt_sigreturn", "rt_sigprocmask", "restart_syscall", "clock_gettime", "clock_getres", "gettimeofday",
    "nanosleep", "clock_nanosleep", "sched_yield", "sched_getaffinity", "getpid", "gettid", "getrandom",
    "set_robust_list", "rseq", "sigaltstack", "fstat", "newfstatat", "exit", "exit_group",
};
// A vCPU: KVM_RUN and the register/event ioctls of exits, eventfds (irqfd, ioeventfd) by
// read/write; a driver's register writes run the device model here (virtio-mmio: activating the
// vsock device after a reset watches its queues: epoll_ctl, seen in vmm_vsock_probe's selftest).
const char* const kVcpu[] = { "ioctl", "epoll_ctl", "eventfd2", "timerfd_settime" };
// The vsock/vhost-user thread and the main thread: connections they already have (accepted,
// or passed by the monitor), epoll, eventfds, timers.
const char* const kSockets[] = {
    "epoll_wait", "epoll_pwait", "epoll_ctl", "accept4", "recvfrom", "recvmsg", "sendto", "sendmsg", "shutdown",
    "getsockopt", "setsockopt", "fcntl", "poll", "ppoll", "eventfd2", "timerfd_settime", "timerfd_gettime",
};
// The vsock/vhost-user thread on top: ioctl for interrupt lines of the KVM device model.
const char* const kVsock[] = { "pread64", "pwrite64", "dup", "ioctl" };
// The NSM device's thread under KVM ("nsm", vmm/virtio/nsm_device.h): it waits in poll on its
// kick and wake eventfds, reads and writes them, and the module signs (getrandom, memory: common).
const char* const kNsm[] = { "poll", "ppoll" };
// The main thread on top (Control): the control socket, the start report, signals, QEMU's supervision.
const char* const kMain[] = {
    "epoll_create1", "timerfd_create", "signalfd4", "pipe2", "wait4", "waitid", "getuid", "geteuid", "getgid",
    "getegid",
};
// The monitor (traced through connect, watchdog stats, SIGTERM stop with record and console,
// kill -9 of the daemon, stop on request; plus what glibc's user and group lookups read).
// Both spellings where glibc's differ by architecture: arm64 has no rename, unlink, stat or
// access system calls, only their *at forms (the monitor was killed by renameat and unlinkat
// there, recording the enclave's end: tests/integration/arm64_l1_enclave.sh).
const char* const kMonitor[] = {
    "read", "write", "pread64", "pwrite64", "lseek", "close", "recvmsg", "recvfrom", "sendmsg", "sendto",
    "newfstatat", "fstat", "lstat", "stat", "access", "faccessat", "faccessat2", "openat", "fsync", "fchmod",
    "rename", "renameat", "renameat2", "unlink", "unlinkat", "connect", "fcntl", "wait4", "getrandom", "getpid", "getuid", "geteuid",
    "mmap", "munmap", "mremap", "madvise", "brk", "futex", "rt_sigprocmask", "rt_sigreturn", "clock_gettime",
    "exit", "exit_group",
};
// What AddressSanitizer itself calls when it reports (SAN=1 builds only).
// (seen killing the SAN monitor: sigaltstack, pipe2, which ASan uses to probe memory).
const char* const kSanitizer[] = { "openat", "readlink", "readlinkat", "prlimit64", "getrlimit", "uname", "getppid",
    "sigaltstack", "pipe2", "pipe", "sched_yield", "sched_getaffinity", "prctl" };

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif

template <std::size_t N>
void append(std::vector<std::string>& out, const char* const (&names)[N])
{
    for (const char* n : names)
        out.emplace_back(n);
}

[[noreturn]] void seccomp_failed(const std::string& what, int rc)
{
    throw base::Error(base::ErrorKind::Internal, "SECCOMP", "cannot " + what + ": " + std::strerror(-rc));
}

class Filter {
public:
    Filter()
        : m_ctx(seccomp_init(SCMP_ACT_KILL_PROCESS))
    {
        if (!m_ctx)
            throw base::Error(base::ErrorKind::Internal, "SECCOMP", "cannot create a seccomp filter");
    }
    ~Filter() { seccomp_release(m_ctx); }
    Filter(const Filter&) = delete;
    Filter& operator=(const Filter&) = delete;

    void allow(const std::string& name)
    {
        int nr = seccomp_syscall_resolve_name(name.c_str());
        if (nr == __NR_SCMP_ERROR)
            return; // not on this architecture
        if (int rc = seccomp_rule_add(m_ctx, SCMP_ACT_ALLOW, nr, 0); rc < 0)
            seccomp_failed("allow " + name, rc);
    }
    template <typename... Cmp>
    void allow_if(int nr, Cmp... cmp)
    {
        if (int rc = seccomp_rule_add(m_ctx, SCMP_ACT_ALLOW, nr, sizeof...(cmp), cmp...); rc < 0)
            seccomp_failed("add a conditional rule", rc);
    }
    void fail_with(int nr, int error)
    {
        if (int rc = seccomp_rule_add(m_ctx, SCMP_ACT_ERRNO(static_cast<std::uint32_t>(error)), nr, 0); rc < 0)
            seccomp_failed("add an errno rule", rc);
    }
    // Signals only inside the own thread group (vCPU kicks are tgkill(getpid(), tid, sig)).
    void allow_own_signals(std::optional<pid_t> child)
    {
        scmp_datum_t self = static_cast<scmp_datum_t>(::getpid());
        allow_if(SCMP_SYS(tgkill), SCMP_A0(SCMP_CMP_EQ, self));
        allow_if(SCMP_SYS(kill), SCMP_A0(SCMP_CMP_EQ, self));
        if (child && *child > 0)
            allow_if(SCMP_SYS(kill), SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(*child)));
    }
    // `set_no_new_privs` false for a filter stacked under one that already set it (and that
    // forbids the prctl).
    void load(bool all_threads, bool set_no_new_privs = true)
    {
        if (int rc = seccomp_attr_set(m_ctx, SCMP_FLTATR_CTL_NNP, set_no_new_privs ? 1 : 0); rc < 0)
            seccomp_failed("set no_new_privs", rc);
        if (int rc = seccomp_attr_set(m_ctx, SCMP_FLTATR_CTL_TSYNC, all_threads ? 1 : 0); rc < 0)
            seccomp_failed("set thread synchronisation", rc);
        if (int rc = seccomp_load(m_ctx); rc < 0)
            seccomp_failed("load the seccomp filter", rc);
    }

private:
    scmp_filter_ctx m_ctx;
};

void add_role(Filter& filter, ThreadRole role)
{
    for (const std::string& name : allowed_syscalls(role))
        filter.allow(name);
}

// Calls that fail with an error instead of killing, in every daemon list: a stacked list must
// refuse them too, or its kill would win over the daemon list's errno (the strictest action of
// all filters applies).
void add_refusals(Filter& filter)
{
    // The vsock muxer removes its socket path when it ends: pointless in the empty root, refused
    // without a path walk instead of killing the daemon on its way out.
    filter.fail_with(SCMP_SYS(unlink), EACCES);
    filter.fail_with(SCMP_SYS(unlinkat), EACCES);
    // glibc opens files behind the caller's back (time zone, /dev/tty for fatal messages, ...):
    // in the empty root there is nothing to open, so refuse without a path walk rather than kill
    // (a vsock-selftest enclave's vsock thread was killed by an openat here).
    filter.fail_with(SCMP_SYS(open), EACCES);
    filter.fail_with(SCMP_SYS(openat), EACCES);
    // The vhost-user back end asks /proc whether a kick fd is an eventfd (fd_kind.h, on the
    // vhost-vsock thread); the empty root has no /proc, which it takes as "cannot tell" (the
    // anonymous-inode check stands).
    for (int call : { SCMP_SYS(access), SCMP_SYS(faccessat), SCMP_SYS(faccessat2) })
        filter.fail_with(call, ENOENT);
    if (!kSanitizerBuild) // there ASan's own list allows them
        for (int call : { SCMP_SYS(readlink), SCMP_SYS(readlinkat) })
            filter.fail_with(call, ENOENT);
}

} // namespace

std::vector<std::string> allowed_syscalls(ThreadRole role)
{
    std::vector<std::string> names;
    append(names, kCommon);
    if (role == ThreadRole::Vcpu || role == ThreadRole::Daemon)
        append(names, kVcpu);
    if (role != ThreadRole::Vcpu && role != ThreadRole::Nsm)
        append(names, kSockets);
    if (role == ThreadRole::Nsm)
        append(names, kNsm);
    if (role == ThreadRole::Vsock || role == ThreadRole::Daemon)
        append(names, kVsock);
    if (role == ThreadRole::Control || role == ThreadRole::Daemon)
        append(names, kMain);
    if (kSanitizerBuild)
        append(names, kSanitizer);
    return names;
}

void install_daemon_filter(std::optional<pid_t> child)
{
    Filter filter;
    add_role(filter, ThreadRole::Daemon);
    filter.allow_own_signals(child);
    // PR_SET_NAME only (thread names).
    filter.allow_if(SCMP_SYS(prctl), SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(PR_SET_NAME)));
    add_refusals(filter);
    // A thread may narrow its own filter further (install_thread_filter), never widen it or
    // apply one to other threads: SECCOMP_SET_MODE_FILTER without flags (no TSYNC), and
    // libseccomp's feature probe.
    filter.allow_if(SCMP_SYS(seccomp), SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(SECCOMP_SET_MODE_FILTER)),
        SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(0)));
    filter.allow_if(SCMP_SYS(seccomp), SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(SECCOMP_GET_ACTION_AVAIL)));
    filter.load(true);
}

void install_monitor_filter()
{
    Filter filter;
    std::vector<std::string> names;
    append(names, kMonitor);
    if (kSanitizerBuild)
        append(names, kSanitizer);
    for (const std::string& name : names)
        filter.allow(name);
    filter.allow_if(SCMP_SYS(socket), SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(AF_UNIX)));
    // kill only of its own process group (-pid: what a killed daemon left running, see the monitor).
    filter.allow_if(SCMP_SYS(kill), SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, static_cast<scmp_datum_t>(static_cast<std::uint32_t>(-::getpid()))));
    filter.allow(std::string("getpgrp"));                                    // x86
    filter.allow_if(SCMP_SYS(getpgid), SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(0))); // arm64's getpgrp()
    filter.load(false);
}

void install_thread_filter(ThreadRole role, std::optional<pid_t> child)
{
    Filter filter;
    add_role(filter, role);
    filter.allow_own_signals(child);
    add_refusals(filter);
    // No KVM ioctl from the control thread; glibc's isatty() (stdio buffering) gets "not a terminal".
    if (role == ThreadRole::Control)
        filter.fail_with(SCMP_SYS(ioctl), ENOTTY);
    filter.load(false, false); // no_new_privs: set by the daemon's filter before (its prctl rule forbids it)
}

} // namespace vmm
