#include "vmm/enclave/enclave_daemon.h"

#include "base/error.h"
#include "base/eventfd.h"
#include "base/unix_address.h"
#include "vmm/enclave/console_stream.h"
#include "vmm/enclave/control_protocol.h"
#include "vmm/enclave/enclave_status_json.h"
#include "vmm/enclave/kvm_enclave_vm.h"
#include "vmm/enclave/qemu_enclave_vm.h"

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace vmm {

struct EnclaveDaemon::Client {
    base::UniqueFd fd;
    uid_t uid { 0 };
    std::string input;
    std::unique_ptr<ConsoleStream> console; // set once it follows the console
};

namespace {

std::string utc_now()
{
    std::time_t now = std::time(nullptr);
    std::tm tm {};
    ::gmtime_r(&now, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

void report(int ready_fd, const std::string& kind, const Json& body)
{
    std::string line = kind + " " + body.dump() + "\n";
    [[maybe_unused]] ssize_t n = ::write(ready_fd, line.data(), line.size());
}

std::string seconds_text(double seconds)
{
    char text[32];
    std::snprintf(text, sizeof text, "%g s", seconds);
    return text;
}

std::uint64_t monotonic_ns()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

} // namespace

EnclaveDaemon::EnclaveDaemon(RunDir run_dir, EnclaveSettings settings)
    : m_run_dir(std::move(run_dir))
    , m_settings(std::move(settings))
{
}

EnclaveDaemon::~EnclaveDaemon() = default;

int EnclaveDaemon::run(int ready_fd, RunDir::Lock& lock, const BootImage& image)
{
    m_daemon_started_ns = monotonic_ns();
    std::string socket_path = m_run_dir.socket_path(m_settings.id);
    try {
        if (m_settings.debug_mode) {
            m_console = std::make_unique<ConsoleBuffer>(m_settings.console_capacity);
            m_settings.machine.console = m_console.get();
        }
        // Bind first, under the run-dir lock: the socket is what reserves our EnclaveID.
        sockaddr_un address;
        if (!base::unix_address(socket_path, address))
            throw base::Error(base::ErrorKind::InvalidInput, "SOCKET_PATH", "run directory path too long: " + socket_path);
        m_listen.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        ::unlink(socket_path.c_str());
        if (::bind(m_listen.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
            base::throw_errno("CONTROL_SOCKET", "cannot bind", socket_path);
        ::chmod(socket_path.c_str(), 0666);
        if (::listen(m_listen.get(), 16) != 0)
            base::throw_errno("CONTROL_SOCKET", "cannot listen on", socket_path);

        m_exit_event.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        int exit_event = m_exit_event.get();
        auto on_exit = [exit_event](const ExitInfo&) { base::signal_eventfd(exit_event); };
        if (m_settings.accel == Accel::Tcg)
            m_vm = QemuEnclaveVm::create(m_settings.machine, image, vsock_config(), on_exit);
        else
            m_vm = KvmEnclaveVm::create(m_settings.machine, image, vsock_config(), on_exit);
        lock.release(); // memory reserved, CPUs chosen, ID taken: other starts may go on
        ::chmod(m_run_dir.vsock_path(m_settings.id).c_str(), 0666);

        if (m_settings.heartbeat_timeout_s > 0) {
            m_heartbeat_timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
            auto ns = static_cast<std::uint64_t>(m_settings.heartbeat_timeout_s * 1e9);
            itimerspec when {};
            when.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
            when.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
            if (!m_heartbeat_timer.valid() || ::timerfd_settime(m_heartbeat_timer.get(), 0, &when, nullptr) != 0)
                base::throw_errno("HEARTBEAT_TIMER", "cannot arm", "the heartbeat timer");
        }
        m_start_time = utc_now();
        m_vm->start();
        m_vcpus_started_ns = monotonic_ns();
    } catch (const base::Error& e) {
        ::unlink(socket_path.c_str());
        ::unlink(m_run_dir.vsock_path(m_settings.id).c_str());
        report(ready_fd, "error", Json { { "code", e.code() }, { "kind", e.exit_status() }, { "message", e.what() } });
        ::close(ready_fd);
        return 1;
    } catch (const std::exception& e) {
        ::unlink(socket_path.c_str());
        ::unlink(m_run_dir.vsock_path(m_settings.id).c_str());
        report(ready_fd, "error", Json { { "code", "INTERNAL" }, { "kind", 70 }, { "message", e.what() } });
        ::close(ready_fd);
        return 1;
    }
    m_ready_fd = ready_fd;
    if (!m_heartbeat_timer.valid())
        report_ready();
    serve();
    return 0;
}

VsockConfig EnclaveDaemon::vsock_config()
{
    m_heartbeat_event.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!m_heartbeat_event.valid())
        base::throw_errno("HEARTBEAT_EVENT", "cannot create", "an eventfd");
    VsockConfig config;
    config.guest_cid = m_settings.cid;
    config.uds_path = m_run_dir.vsock_path(m_settings.id);
    int heartbeat_event = m_heartbeat_event.get();
    config.on_heartbeat = [this, heartbeat_event] {
        std::uint64_t zero = 0;
        if (m_heartbeat_ns.compare_exchange_strong(zero, monotonic_ns()))
            base::signal_eventfd(heartbeat_event);
    };
    config.on_app_status = [this](const guest_init::StatusRecord& record) {
        std::lock_guard guard(m_app_status_lock);
        m_app_status = record;
    };
    return config;
}

void EnclaveDaemon::report_ready()
{
    if (m_ready_fd < 0)
        return;
    report(m_ready_fd, "ok", describe());
    ::close(m_ready_fd);
    m_ready_fd = -1;
    m_heartbeat_timer.reset();
}

void EnclaveDaemon::report_start_failure(const ExitInfo& exit)
{
    if (m_ready_fd < 0)
        return;
    std::string id = std::to_string(m_settings.id);
    std::string console = m_settings.debug_mode
        ? "its console: qt-vmm enclave console --enclave-id " + id
        : "start it with --debug-mode to keep its console";
    Json body;
    if (m_stopped_for_no_heartbeat) {
        body = Json { { "code", "NO_HEARTBEAT" }, { "kind", static_cast<int>(base::ErrorKind::Vm) },
            { "message", "enclave " + id + " sent no boot heartbeat (0xB7 to CID 3 port 9000) within "
                    + seconds_text(m_settings.heartbeat_timeout_s) + " and was stopped; " + console
                    + "; for a guest without qt-vmm's init, or to wait longer, pass --heartbeat-timeout SECONDS (0 = do not wait)" } };
    } else {
        body = Json { { "code", "ENDED_BEFORE_HEARTBEAT" }, { "kind", static_cast<int>(base::ErrorKind::Vm) },
            { "message", "enclave " + id + " ended before its boot heartbeat (" + std::string(exit_kind_name(exit.kind)) + ": "
                    + exit.detail + "); " + console } };
    }
    report(m_ready_fd, "error", body);
    ::close(m_ready_fd);
    m_ready_fd = -1;
}

Json EnclaveDaemon::describe() const
{
    const MachineConfig& m = m_settings.machine;
    Json cpus = Json::array();
    for (int c : m.host_cpus)
        cpus.push_back(c);
    ExitInfo state = m_vm ? m_vm->status() : ExitInfo {};
    Json info {
        { "EnclaveID", m_settings.id },
        { "ProcessID", ::getpid() },
        { "EnclaveCID", m_settings.cid },
        { "NumberOfCPUs", m.vcpus },
        { "CPUIDs", cpus },
        { "MemoryMiB", m.memory_bytes >> 20 },
        { "LaunchMode", m_settings.debug_mode ? "debug" : "production" },
        { "State", state.kind == ExitKind::Running ? "RUNNING" : "TERMINATING" },
        { "Accel", accel_name(m_settings.accel) },
        { "HugepageSize", m.page_size >= (1ull << 30) ? "1G" : m.page_size >= (2ull << 20) ? "2M" : "4K" },
        { "NumaNode", m.numa_node },
        { "CPUIsolation", m_settings.cpu_isolation },
        { "EifPath", m_settings.eif_path },
        { "Measurements", m_settings.measurements },
        { "StartTime", m_start_time },
        { "VsockSocket", m_run_dir.vsock_path(m_settings.id) },
        { "Heartbeat", m_heartbeat_ns.load() != 0 },
    };
    {
        std::lock_guard guard(m_app_status_lock);
        if (m_app_status)
            info["AppStatus"] = app_status_json(*m_app_status);
    }
    // CLOCK_MONOTONIC, for benchmarks that time a start from the outside (0 = not yet).
    info["LaunchMonotonicNs"] = Json { { "DaemonStarted", m_daemon_started_ns }, { "VcpusStarted", m_vcpus_started_ns },
        { "FirstGuestIo", 0 }, { "Heartbeat", m_heartbeat_ns.load() } };
    if (m_vm)
        add_vm_status(info, m_vm->report());
    return info;
}

void EnclaveDaemon::serve()
{
    m_epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    m_signals.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    auto watch = [this](int fd, std::uint32_t events) {
        epoll_event e {};
        e.events = events;
        e.data.fd = fd;
        ::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &e);
    };
    watch(m_listen.get(), EPOLLIN);
    watch(m_exit_event.get(), EPOLLIN);
    watch(m_signals.get(), EPOLLIN);
    if (m_console)
        watch(m_console->notify_fd(), EPOLLIN);
    watch(m_heartbeat_event.get(), EPOLLIN);
    // Every 2 s: is our control socket still the one in the run directory? If someone removed
    // it (or the whole run directory), nobody can reach this enclave to stop it any more: end it
    // rather than leave an orphan holding hugepages and CPUs.
    struct stat bound {};
    ::stat(m_run_dir.socket_path(m_settings.id).c_str(), &bound);
    m_socket_check.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    itimerspec every {};
    every.it_value.tv_sec = every.it_interval.tv_sec = 2;
    ::timerfd_settime(m_socket_check.get(), 0, &every, nullptr);
    watch(m_socket_check.get(), EPOLLIN);
    if (m_heartbeat_timer.valid())
        watch(m_heartbeat_timer.get(), EPOLLIN);

    for (;;) {
        epoll_event events[16];
        int n = ::epoll_wait(m_epoll.get(), events, 16, -1);
        if (n < 0 && errno == EINTR)
            continue;
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == m_listen.get()) {
                accept_client();
            } else if (fd == m_exit_event.get()) {
                finish(m_vm->wait());
                return;
            } else if (fd == m_heartbeat_event.get()) {
                std::uint64_t count;
                [[maybe_unused]] ssize_t r = ::read(fd, &count, sizeof count);
                report_ready();
            } else if (m_heartbeat_timer.valid() && fd == m_heartbeat_timer.get()) {
                m_stopped_for_no_heartbeat = m_vm->request_stop(ExitKind::Stopped,
                    "no boot heartbeat within " + seconds_text(m_settings.heartbeat_timeout_s));
                m_heartbeat_timer.reset(); // closing it also removes it from the epoll set
            } else if (fd == m_socket_check.get()) {
                std::uint64_t ticks;
                [[maybe_unused]] ssize_t r = ::read(fd, &ticks, sizeof ticks);
                struct stat now {};
                std::string path = m_run_dir.socket_path(m_settings.id);
                if (::stat(path.c_str(), &now) != 0 || now.st_ino != bound.st_ino || now.st_dev != bound.st_dev) {
                    m_vm->request_stop(ExitKind::Stopped, "its control socket " + path + " was removed, so nobody could stop it any more");
                    m_socket_check.reset(); // closing it also removes it from the epoll set
                }
            } else if (fd == m_signals.get()) {
                signalfd_siginfo info;
                [[maybe_unused]] ssize_t r = ::read(fd, &info, sizeof info);
                m_vm->request_stop(ExitKind::Stopped, "the daemon received signal " + std::to_string(info.ssi_signo));
            } else if (m_console && fd == m_console->notify_fd()) {
                m_console->clear_notify();
                for (auto& c : m_clients)
                    if (c->console)
                        pump_console(*c);
            } else {
                for (auto& c : m_clients) {
                    if (c->fd.get() != fd)
                        continue;
                    if (events[i].events & (EPOLLHUP | EPOLLERR)) {
                        drop_client(fd);
                    } else if (c->console) {
                        if (events[i].events & EPOLLIN) {
                            char sink[256];
                            ssize_t r = ::read(fd, sink, sizeof sink);
                            if (r <= 0) {
                                drop_client(fd);
                                break;
                            }
                        }
                        pump_console(*c);
                    } else {
                        handle_client_input(*c);
                    }
                    break;
                }
            }
        }
    }
}

void EnclaveDaemon::accept_client()
{
    for (;;) {
        int fd = ::accept4(m_listen.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        auto client = std::make_unique<Client>();
        client->fd.reset(fd);
        ucred cred {};
        socklen_t len = sizeof cred;
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
            continue;
        client->uid = cred.uid;
        epoll_event e {};
        e.events = EPOLLIN | EPOLLRDHUP;
        e.data.fd = fd;
        ::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &e);
        if (m_clients.size() >= 64) {
            send_all_nonblocking(fd, encode_line(error_reply("DAEMON_BUSY", 6, "too many control connections")));
            continue;
        }
        m_clients.push_back(std::move(client));
    }
}

void EnclaveDaemon::handle_client_input(Client& client)
{
    char buffer[1024];
    ssize_t n = ::read(client.fd.get(), buffer, sizeof buffer);
    if (n <= 0) {
        drop_client(client.fd.get());
        return;
    }
    client.input.append(buffer, static_cast<std::size_t>(n));
    std::size_t newline = client.input.find('\n');
    if (newline == std::string::npos) {
        if (client.input.size() > 4096)
            drop_client(client.fd.get());
        return;
    }
    Json request = Json::parse(client.input.substr(0, newline), nullptr, false);
    std::string op = request.is_object() ? request.value("op", std::string()) : std::string();
    int fd = client.fd.get();
    bool privileged = client.uid == 0 || client.uid == m_settings.owner_uid;

    if (op == "describe") {
        send_all_nonblocking(fd, encode_line(Json { { "ok", true }, { "enclave", describe() } }));
        drop_client(fd);
    } else if (op == "stop") {
        if (!privileged) {
            send_all_nonblocking(fd, encode_line(error_reply("NOT_OWNER", 9, "only the enclave's owner or root may stop it")));
            drop_client(fd);
            return;
        }
        m_stop_requester = fd;
        m_vm->request_stop(ExitKind::Stopped, "stopped on request (uid " + std::to_string(client.uid) + ")");
    } else if (op == "console") {
        if (!m_console) {
            send_all_nonblocking(fd, encode_line(error_reply("CONSOLE_NOT_DEBUG", 9,
                "enclave " + std::to_string(m_settings.id) + " was not started with --debug-mode; its console cannot be read")));
            drop_client(fd);
        } else if (!privileged) {
            send_all_nonblocking(fd, encode_line(error_reply("NOT_OWNER", 9, "only the enclave's owner or root may read its console")));
            drop_client(fd);
        } else if (m_console_viewer >= 0) {
            send_all_nonblocking(fd, encode_line(error_reply("CONSOLE_BUSY", 6,
                "another console viewer is attached to enclave " + std::to_string(m_settings.id) + "; only one is allowed at a time")));
            drop_client(fd);
        } else if (!request.value("follow", true)) {
            // A snapshot: what the ring holds now, then the end of the stream.
            std::uint64_t lost = 0;
            std::string text;
            m_console->read(0, text, lost);
            send_with_deadline(fd, encode_line(Json { { "ok", true } }) + text);
            drop_client(fd);
        } else {
            m_console_viewer = fd;
            client.console = std::make_unique<ConsoleStream>(*m_console);
            send_all_nonblocking(fd, encode_line(Json { { "ok", true } }));
            pump_console(client);
        }
    } else {
        send_all_nonblocking(fd, encode_line(error_reply("BAD_REQUEST", 2, "unknown request")));
        drop_client(fd);
    }
}

void EnclaveDaemon::pump_console(Client& client)
{
    if (!client.console->pump(client.fd.get())) {
        drop_client(client.fd.get());
        return;
    }
    epoll_event e {};
    e.events = EPOLLIN | EPOLLRDHUP | (client.console->pending() ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
    e.data.fd = client.fd.get();
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, client.fd.get(), &e);
    m_console->arm_notify();
    if (!client.console->pending() && client.console->behind())
        pump_console(client); // output arrived between the read and arming
}

void EnclaveDaemon::drop_client(int fd)
{
    if (fd == m_console_viewer)
        m_console_viewer = -1;
    if (fd == m_stop_requester)
        m_stop_requester = -1;
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
    std::erase_if(m_clients, [fd](const std::unique_ptr<Client>& c) { return c->fd.get() == fd; });
}

void EnclaveDaemon::finish(const ExitInfo& exit)
{
    // Give a console viewer the last output (blocking briefly is fine: the guest is gone).
    for (auto& c : m_clients) {
        if (c->console)
            c->console->flush_final(c->fd.get());
    }
    bool stopped_by_request = exit.kind == ExitKind::Stopped && !m_stopped_for_no_heartbeat && m_stop_requester >= 0;
    if (m_console && !stopped_by_request) {
        // Debug mode: keep what the console holds, so `console` can still show why it ended.
        std::uint64_t lost = 0;
        std::string text;
        m_console->read(0, text, lost);
        try {
            base::AtomicFile saved(m_run_dir.console_path(m_settings.id), 0600);
            saved.write(text);
            saved.commit();
        } catch (const base::Error&) {
        }
    }
    Json record = describe();
    record["State"] = "TERMINATED";
    record["Reason"] = m_stopped_for_no_heartbeat ? "no-heartbeat" : exit_kind_name(exit.kind);
    record["Detail"] = exit.detail;
    record["EndTime"] = utc_now();
    // Release the guest's memory and the VM before anyone can see the enclave as ended, so a
    // `stop` that returned, or a TERMINATED record, means every hugepage is back in the pool.
    m_vm.reset();
    ::unlink(m_run_dir.vsock_path(m_settings.id).c_str());
    ::unlink(m_run_dir.socket_path(m_settings.id).c_str());
    if (stopped_by_request)
        send_all_nonblocking(m_stop_requester, encode_line(Json { { "ok", true } }));
    else {
        try {
            m_run_dir.write_record(m_settings.id, record);
        } catch (const base::Error& e) {
            std::fprintf(stderr, "qt-vmm daemon: cannot keep the enclave's record: %s\n", e.what()); // run dir gone
        }
    }
    report_start_failure(exit); // after the record: the error points at it
    m_clients.clear();
}

} // namespace vmm
