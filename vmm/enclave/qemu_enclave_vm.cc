#include "vmm/enclave/qemu_enclave_vm.h"

#include "base/error.h"
#include "base/eventfd.h"
#include "vmm/enclave/qemu_command.h"
#include "vmm/enclave/qemu_probe.h"
#include "vmm/host/cpu_affinity.h"
#include "vmm/enclave/sandbox_privileges.h"
#include "vmm/vhost_user/nsm_backend.h"
#include "vmm/vhost_user/vsock_backend.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmm {

namespace {

// The QEMU supervisor: poll, a 4 KiB drain buffer, waitpid.
constexpr std::size_t kSupervisorThreadStack = 64 << 10;

constexpr std::size_t kStderrTail = 2048;
constexpr int kKillAfterMs = 5000;

base::UniqueFd make_memfd(const char* name, std::size_t size)
{
    base::UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd.valid() || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
        base::throw_errno("MEMFD", "cannot create", std::string("a memfd for the ") + name);
    return fd;
}

std::string fd_path(const base::UniqueFd& fd) { return "/proc/self/fd/" + std::to_string(fd.get()); }

std::string last_line(const std::string& text)
{
    std::size_t end = text.find_last_not_of("\n ");
    if (end == std::string::npos)
        return "";
    std::size_t start = text.rfind('\n', end);
    return text.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start == std::string::npos ? 0 : start + 1));
}

} // namespace

std::unique_ptr<QemuEnclaveVm> QemuEnclaveVm::create(const MachineConfig& machine, const BootImage& image, VsockConfig vsock,
    nsm::RequestHandler nsm, OnExit on_exit, eif::Arch arch)
{
    std::unique_ptr<QemuEnclaveVm> vm(new QemuEnclaveVm);
    vm->m_machine = machine;
    vm->m_arch = arch;
    vm->m_on_exit = std::move(on_exit);

    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        base::throw_errno("SOCKETPAIR", "cannot create", "the vhost-user socket pair");
    vm->m_qemu_vhost_end.reset(pair[1]);
    vm->m_backend = vhost_user::VhostUserVsockBackend::create(base::UniqueFd(pair[0]), vsock);
    if (nsm) {
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
            base::throw_errno("SOCKETPAIR", "cannot create", "the NSM device's vhost-user socket pair");
        vm->m_qemu_nsm_end.reset(pair[1]);
        vm->m_nsm = vhost_user::VhostUserNsmBackend::create(base::UniqueFd(pair[0]), std::move(nsm));
    }

    if (machine.console) {
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
            base::throw_errno("SOCKETPAIR", "cannot create", "the console socket pair");
        vm->m_console_ours.reset(pair[0]);
        vm->m_console_qemu.reset(pair[1]);
        // Read-only: nothing is ever written to our end. (Not shut down either: QEMU takes
        // an end-of-file on the socket for a hang-up and would drop the UART's output.)
    }

    vm->m_kernel = make_memfd("kernel", image.kernel.size());
    base::write_all(vm->m_kernel.get(), image.kernel.data(), image.kernel.size(), "the kernel memfd");
    ::lseek(vm->m_kernel.get(), 0, SEEK_SET);
    if (image.initrd_size) {
        vm->m_initrd = make_memfd("initrd", image.initrd_size);
        void* map = ::mmap(nullptr, image.initrd_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->m_initrd.get(), 0);
        if (map == MAP_FAILED)
            base::throw_errno("MEMFD", "cannot map", "the initrd memfd");
        try {
            image.load_initrd(static_cast<std::uint8_t*>(map));
        } catch (...) {
            ::munmap(map, image.initrd_size);
            throw;
        }
        ::munmap(map, image.initrd_size);
    }
    vm->m_stop_event.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!vm->m_stop_event.valid())
        base::throw_errno("EVENTFD", "cannot create", "the stop eventfd");
    return vm;
}

QemuEnclaveVm::~QemuEnclaveVm()
{
    if (m_supervisor.joinable()) {
        request_stop(ExitKind::Stopped, "the VMM shut down");
        m_supervisor.join();
    }
    if (m_backend)
        m_backend->stop();
    if (m_nsm)
        m_nsm->stop();
}

void QemuEnclaveVm::start()
{
    const QemuSystem qemu = qemu_system(m_arch);
    QemuLaunch launch;
    launch.binary = qemu.binary;
    launch.arch = m_arch;
    launch.version = probe_qemu_version(launch.binary, qemu.install); // QEMU_MISSING before anything is spawned
    if (m_nsm && !qemu_can_create_device(launch.binary, "vhost-user-device"))
        throw base::Error(base::ErrorKind::Vm, "QEMU_NO_VHOST_USER_DEVICE",
            launch.binary + " (QEMU " + launch.version.text() + ") cannot create the vhost-user-device that carries the NSM device under --accel tcg "
            "(upstream QEMU, Debian's 10.0.2 included, builds it not user-creatable); use a QEMU >= 8.2 built with it user-creatable "
            "(QT_VMM_QEMU=/path/to/qemu-system-x86_64), or --accel kvm");
    launch.nsm_vhost_user_fd = m_qemu_nsm_end.valid() ? m_qemu_nsm_end.get() : -1;
    launch.vcpus = m_machine.vcpus;
    launch.memory_mib = m_machine.memory_bytes >> 20;
    launch.kernel_path = fd_path(m_kernel);
    launch.initrd_path = m_initrd.valid() ? fd_path(m_initrd) : "";
    launch.cmdline = m_machine.cmdline;
    launch.vhost_user_fd = m_qemu_vhost_end.get();
    launch.console_fd = m_console_qemu.valid() ? m_console_qemu.get() : -1;
    if (::geteuid() == 0)
        launch.run_as = kDaemonUser; // the daemon drops to it too, and must be able to signal QEMU
    std::vector<std::string> args = qemu_arguments(launch);
    std::vector<char*> argv;
    for (std::string& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    const int inherited[] = { m_qemu_vhost_end.get(), m_qemu_nsm_end.get(), m_console_qemu.get(), m_kernel.get(), m_initrd.get() };

    // QEMU (all its threads, vCPUs included) on the daemon's CPUs, set in the child before exec;
    // a failure comes back through exec_pipe as -errno.
    std::optional<host::CpuMask> qemu_cpus;
    if (!m_machine.vmm_cpus.empty())
        qemu_cpus.emplace(m_machine.vmm_cpus);
    int err_pipe[2], exec_pipe[2];
    if (::pipe2(err_pipe, O_CLOEXEC) != 0 || ::pipe2(exec_pipe, O_CLOEXEC) != 0)
        base::throw_errno("PIPE", "cannot create", "the pipes to QEMU");
    m_backend->start();
    if (m_nsm)
        m_nsm->start();
    auto spawn_start = std::chrono::steady_clock::now();
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0)
        base::throw_errno("FORK", "cannot fork", "QEMU");
    if (pid == 0) {
        // Only async-signal-safe calls from here to exec.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(1);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::dup2(err_pipe[1], 2);
        for (int fd : inherited)
            if (fd >= 0)
                ::fcntl(fd, F_SETFD, 0);
        if (qemu_cpus) {
            if (int error = qemu_cpus->apply_to_current_thread()) {
                int reported = -error;
                [[maybe_unused]] ssize_t n = ::write(exec_pipe[1], &reported, sizeof reported);
                ::_exit(127);
            }
        }
        ::execvp(argv[0], argv.data());
        int error = errno;
        [[maybe_unused]] ssize_t n = ::write(exec_pipe[1], &error, sizeof error);
        ::_exit(127);
    }
    ::close(err_pipe[1]);
    ::close(exec_pipe[1]);
    m_stderr.reset(err_pipe[0]);
    int exec_error = 0;
    ssize_t n;
    do
        n = ::read(exec_pipe[0], &exec_error, sizeof exec_error);
    while (n < 0 && errno == EINTR);
    ::close(exec_pipe[0]);
    if (n == sizeof exec_error) {
        ::waitpid(pid, nullptr, 0);
        if (exec_error < 0)
            throw base::Error(base::ErrorKind::Resource, "CPU_PINNING", host::pinning_error("QEMU", m_machine.vmm_cpus, -exec_error));
        if (exec_error == ENOENT)
            throw_qemu_missing(launch.binary, qemu.install);
        throw base::Error(base::ErrorKind::Vm, "QEMU_EXEC", "cannot run " + launch.binary + ": " + std::strerror(exec_error));
    }
    m_pid = pid;
    m_spawn_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - spawn_start).count();
    m_pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!m_pidfd.valid()) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        base::throw_errno("PIDFD", "cannot watch", "QEMU");
    }
    // QEMU holds its own copies now.
    m_qemu_vhost_end.reset();
    m_qemu_nsm_end.reset();
    m_console_qemu.reset();
    m_kernel.reset();
    m_initrd.reset();
    m_supervisor = base::SizedThread(kSupervisorThreadStack, [this] { supervise(); });
}

void QemuEnclaveVm::supervise()
{
    ::pthread_setname_np(::pthread_self(), "qemu-supervisor");
    auto kill_deadline = std::chrono::steady_clock::time_point::max();
    auto drain = [this](base::UniqueFd& fd, bool console) {
        char buffer[4096];
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR))
                fd.reset();
            return false;
        }
        if (console) {
            m_machine.console->append(reinterpret_cast<std::uint8_t*>(buffer), static_cast<std::size_t>(n));
        } else {
            [[maybe_unused]] ssize_t w = ::write(2, buffer, static_cast<std::size_t>(n)); // the daemon's log
            m_stderr_tail.append(buffer, static_cast<std::size_t>(n));
            if (m_stderr_tail.size() > kStderrTail)
                m_stderr_tail.erase(0, m_stderr_tail.size() - kStderrTail);
        }
        return true;
    };
    bool backend_checked = false;
    bool nsm_checked = !m_nsm;
    for (;;) {
        pollfd fds[6] = {
            { m_pidfd.get(), POLLIN, 0 },
            { m_stop_event.get(), POLLIN, 0 },
            { m_stderr.valid() ? m_stderr.get() : -1, POLLIN, 0 },
            { m_console_ours.valid() ? m_console_ours.get() : -1, POLLIN, 0 },
            { backend_checked ? -1 : m_backend->done_fd(), POLLIN, 0 },
            { nsm_checked ? -1 : m_nsm->done_fd(), POLLIN, 0 },
        };
        int timeout = -1;
        if (kill_deadline != std::chrono::steady_clock::time_point::max()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kill_deadline - std::chrono::steady_clock::now()).count();
            timeout = static_cast<int>(std::max<long long>(0, left));
        }
        int n = ::poll(fds, 6, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (n == 0 && std::chrono::steady_clock::now() >= kill_deadline) {
            ::kill(m_pid, SIGKILL);
            kill_deadline = std::chrono::steady_clock::time_point::max();
        }
        if (fds[2].revents)
            drain(m_stderr, false);
        if (fds[3].revents)
            drain(m_console_ours, true);
        if (fds[4].revents) {
            backend_checked = true;
            std::string error = m_backend->error();
            if (!error.empty()) {
                m_exit.record(ExitKind::DeviceError, "the vhost-user vsock connection with QEMU failed: " + error);
                base::signal_eventfd(m_stop_event.get());
            }
        }
        if (fds[5].revents) {
            nsm_checked = true;
            std::string error = m_nsm->error();
            if (!error.empty()) {
                m_exit.record(ExitKind::DeviceError, "the vhost-user NSM connection with QEMU failed: " + error);
                base::signal_eventfd(m_stop_event.get());
            }
        }
        if (fds[1].revents) {
            std::uint64_t count;
            [[maybe_unused]] ssize_t r = ::read(m_stop_event.get(), &count, sizeof count);
            ::kill(m_pid, SIGTERM);
            if (kill_deadline == std::chrono::steady_clock::time_point::max())
                kill_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kKillAfterMs);
        }
        if (fds[0].revents)
            break;
    }
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    // What QEMU wrote last (its console and its complaints) is still in the sockets.
    while (m_stderr.valid() && drain(m_stderr, false)) {
    }
    if (m_console_ours.valid()) {
        ::fcntl(m_console_ours.get(), F_SETFL, O_NONBLOCK);
        while (m_console_ours.valid() && drain(m_console_ours, true)) {
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        m_exit.record(ExitKind::GuestReset, "the guest reset the machine (QEMU exited)");
    else if (WIFEXITED(status))
        m_exit.record(ExitKind::EmulatorError, "QEMU exited with status " + std::to_string(WEXITSTATUS(status)) + ": " + last_line(m_stderr_tail));
    else
        m_exit.record(ExitKind::EmulatorError, "QEMU was killed by signal " + std::to_string(WTERMSIG(status)));
    m_backend->stop();
    if (m_nsm)
        m_nsm->stop();
    ExitInfo exit = m_exit.current();
    {
        std::lock_guard guard(m_lock);
        m_finished = true;
    }
    m_ended.notify_all();
    if (m_on_exit)
        m_on_exit(exit);
}

ExitInfo QemuEnclaveVm::wait()
{
    std::unique_lock guard(m_lock);
    m_ended.wait(guard, [this] { return m_finished; });
    return m_exit.current();
}

ExitInfo QemuEnclaveVm::status() const
{
    return m_exit.current();
}

bool QemuEnclaveVm::run_in_device_thread(const std::function<void()>& task)
{
    return m_backend && m_backend->run_in_loop_thread(task);
}

bool QemuEnclaveVm::request_stop(ExitKind kind, std::string detail)
{
    bool first = m_exit.record(kind, std::move(detail));
    base::signal_eventfd(m_stop_event.get());
    return first;
}

EnclaveVmStatus QemuEnclaveVm::report() const
{
    EnclaveVmStatus s;
    s.accel = Accel::Tcg;
    s.launch_timings_ms = { { "QemuSpawn", m_spawn_ms } };
    s.qemu_pid = m_pid;
    std::uint64_t acked = m_backend->acked_features();
    s.vsock = { "vhost-user", m_backend->device_started(), std::nullopt, acked, m_backend->stats().connections, m_backend->describe() };
    return s;
}

} // namespace vmm
