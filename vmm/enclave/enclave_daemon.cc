#include "vmm/enclave/enclave_daemon.h"

#include "base/error.h"
#include "base/eventfd.h"
#include "vmm/enclave/access_group.h"
#include "vmm/enclave/daemon_memory.h"
#include "vmm/enclave/enclave_lifecycle.h"
#include "vmm/enclave/enclave_status_json.h"
#include "vmm/enclave/kvm_enclave_vm.h"
#include "vmm/enclave/qemu_enclave_vm.h"
#include "vmm/host/cpu_affinity.h"
#include "vmm/enclave/sandbox_seccomp.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

std::unique_ptr<EnclaveVm> create_enclave_vm(
    const EnclaveSettings& settings, const BootImage& image, VsockConfig vsock, EnclaveVm::OnExit on_exit)
{
    nsm::RequestHandler nsm;
    if (settings.nsm)
        nsm = [module = settings.nsm](std::string_view request) { return module->handle(request); };
    if (settings.accel == Accel::Tcg)
        return QemuEnclaveVm::create(settings.machine, image, std::move(vsock), std::move(nsm), std::move(on_exit), settings.arch);
    return KvmEnclaveVm::create(settings.machine, image, std::move(vsock), std::move(nsm), std::move(on_exit));
}

namespace {

// SIGTERM, SIGINT, SIGHUP: each stops the enclave (its record says which).
const sigset_t& stop_signals()
{
    static const sigset_t set = [] {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGTERM);
        sigaddset(&s, SIGINT);
        sigaddset(&s, SIGHUP);
        return s;
    }();
    return set;
}

} // namespace

EnclaveDaemon::EnclaveDaemon(RunDir run_dir, EnclaveSettings settings, EnclaveVmFactory create_vm)
    : m_run_dir(std::move(run_dir))
    , m_settings(std::move(settings))
    , m_create_vm(std::move(create_vm))
{
}

EnclaveDaemon::~EnclaveDaemon() = default;

int EnclaveDaemon::run(int ready_fd, RunDir::Lock& lock, BootImage image)
{
    m_daemon_started_ns = monotonic_ns();
    // Before any thread exists, so that every thread inherits the mask: the signals that stop
    // the enclave are read from the signalfd in serve(); a thread that did not block them
    // would take their default action and end the whole daemon without a record.
    pthread_sigmask(SIG_BLOCK, &stop_signals(), nullptr);
    std::string socket_path = m_run_dir.socket_path(m_settings.id);
    Json failure;
    try {
        // Before any thread exists, so every thread and QEMU inherit the parent's CPUs.
        if (!m_settings.machine.vmm_cpus.empty())
            host::pin_current_thread(m_settings.machine.vmm_cpus, "the enclave daemon");
        if (m_monitor && ::geteuid() == 0)
            m_drop_to = lookup_daemon_user(); // before anything is built: a missing user is a clean start error
        if (m_settings.debug_mode) {
            m_console = std::make_unique<ConsoleBuffer>(m_settings.console_capacity);
            m_settings.machine.console = m_console.get();
        }
        // Bind first, under the run-dir lock: the socket is what reserves our EnclaveID.
        ControlServerConfig control;
        control.enclave_id = m_settings.id;
        control.owner_uid = m_settings.owner_uid;
        control.console = m_console.get();
        m_control = std::make_unique<ControlServer>(socket_path, std::move(control), static_cast<ControlHandler&>(*this));

        m_exit_event.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        int exit_event = m_exit_event.get();
        auto on_exit = [exit_event](const ExitInfo&) { base::signal_eventfd(exit_event); };
        m_vm = m_create_vm(m_settings, image, vsock_config(), on_exit);
        image = BootImage {}; // in guest memory now
        lock.release(); // memory reserved, CPUs chosen, ID taken: other starts may go on
        restrict_to_access_group(m_run_dir.vsock_path(m_settings.id));

        if (m_settings.heartbeat_timeout_s > 0)
            m_heartbeat_timer = arm_heartbeat_timer(m_settings.heartbeat_timeout_s);
        m_start_time = utc_now();
        m_vm->start();
        m_vcpus_started_ns = monotonic_ns();
        // What the launcher left mapped: opened now, while /proc is reachable (drop_privileges
        // chroots); read and dropped once the start is reported and the daemon waits (serve).
        m_own_smaps = open_own_smaps();
        if (m_drop_to) {
            // QEMU (tcg) must have become the daemon user first, or the daemon could not stop it.
            std::optional<pid_t> qemu = m_vm->report().qemu_pid;
            if (qemu && !wait_for_uid(*qemu, m_drop_to->uid, 10000))
                std::fprintf(stderr, "qt-vmm daemon: QEMU (pid %d) did not switch to %s within 10 s\n", static_cast<int>(*qemu), kDaemonUser);
            drop_privileges(*m_drop_to); // QEMU runs, vCPU threads run: nothing left that needs root
        }
        if (m_monitor) {
            install_daemon_filter(m_vm->report().qemu_pid); // every thread, also for a member's daemon
            // Then each vCPU thread narrows its own to what a vCPU does (stacked, no TSYNC).
            m_vm->run_in_vcpu_threads([] { install_thread_filter(ThreadRole::Vcpu); });
            // And the vsock device's loop thread to what it does (between two of its rounds).
            if (!m_vm->run_in_device_thread([] { install_thread_filter(ThreadRole::Vsock); }))
                std::fprintf(stderr, "qt-vmm daemon: the vsock thread is not running; its list was not applied\n");
            // The security module's thread under KVM ("nsm": poll, eventfds, signing). Under tcg
            // its vhost-user back end ("vhost-nsm") keeps the union list (README, seccomp).
            if (m_settings.nsm && m_settings.accel == Accel::Kvm && !m_vm->run_in_nsm_thread([] { install_thread_filter(ThreadRole::Nsm); }))
                std::fprintf(stderr, "qt-vmm daemon: the NSM thread is not running; its list was not applied\n");
            // Last, the main thread itself: the control loop, no KVM ioctls.
            install_thread_filter(ThreadRole::Control, m_vm->report().qemu_pid);
        }
    } catch (const base::Error& e) {
        failure = start_error(e);
    } catch (const std::exception& e) {
        failure = internal_error(e);
    }
    if (!failure.is_null()) {
        remove_sockets();
        StartReport(ready_fd).error(failure);
        return 1;
    }
    m_report = StartReport(ready_fd);
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
    if (m_monitor)
        config.connect_parent = [monitor = m_monitor](std::uint32_t port) { return monitor->connect_parent(port); };
    // Guest traffic runs the device's code (and whatever it calls) back in: dropped again once
    // the device is quiet, as the control loop does for requests.
    config.on_quiet = [code = m_file_code] { code->drop(); };
    return config;
}

void EnclaveDaemon::report_ready()
{
    if (!m_report.pending())
        return;
    m_report.ok(describe());
    m_heartbeat_timer.reset();
    release_free_heap(); // what the start built and no longer needs
}

Json EnclaveDaemon::describe() const
{
    const MachineConfig& m = m_settings.machine;
    Json cpus = Json::array();
    for (int c : m.host_cpus)
        cpus.push_back(c);
    Json daemon_cpus = Json::array();
    for (int c : m.vmm_cpus)
        daemon_cpus.push_back(c);
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
        { "MemorySource", m_settings.memory_source },
        { "CPUIsolation", m_settings.cpu_isolation },
        { "DaemonCPUs", daemon_cpus },
        { "DaemonCPUIsolation", m_settings.daemon_cpu_isolation },
        { "EifPath", m_settings.eif_path },
        { "Measurements", m_settings.measurements },
        { "StartTime", m_start_time },
        { "VsockSocket", m_run_dir.vsock_path(m_settings.id) },
        { "Heartbeat", m_heartbeat_ns.load() != 0 },
    };
    if (!m_settings.pool_chunks.empty())
        info["PoolChunks"] = m_settings.pool_chunks;
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
    if (m_settings.nsm)
        info["Attestation"] = attestation_json(m_settings.attestation, *m_settings.nsm);
    else if (!m_settings.attestation.is_null())
        info["Attestation"] = m_settings.attestation; // no device: why (the description says)
    return info;
}

void EnclaveDaemon::stop(uid_t uid)
{
    m_vm->request_stop(ExitKind::Stopped, "stopped on request (uid " + std::to_string(uid) + ")");
}

void EnclaveDaemon::serve()
{
    m_epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    pthread_sigmask(SIG_BLOCK, &stop_signals(), nullptr);
    m_signals.reset(::signalfd(-1, &stop_signals(), SFD_CLOEXEC | SFD_NONBLOCK));
    auto watch = [this](int fd) {
        epoll_event e {};
        e.events = EPOLLIN;
        e.data.fd = fd;
        ::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &e);
    };
    m_control->watch(m_epoll.get());
    watch(m_exit_event.get());
    watch(m_signals.get());
    watch(m_heartbeat_event.get());
    SocketWatchdog::Identify identify;
    if (m_monitor)
        identify = [monitor = m_monitor](const std::string&) { return monitor->socket_identity(); };
    SocketWatchdog watchdog(m_run_dir.socket_path(m_settings.id), identify);
    watch(watchdog.fd());
    if (m_heartbeat_timer.valid())
        watch(m_heartbeat_timer.get());

    // The code that answered requests (describe, JSON) or ran the socket watchdog's check (every
    // 2 s) is dropped again once this loop has been quiet this long: an idle daemon keeps only
    // what it runs while idle resident. (The vsock thread does the same after guest traffic.)
    constexpr int kCodeDropAfterMs = 100;
    bool code_in_use = false;
    for (;;) {
        if (m_own_smaps.valid() && !m_report.pending()) {
            // Started, reported, about to wait for the first time since: the launcher's code and
            // libraries go; what the daemon runs from now on comes back from the page cache.
            m_file_code->set(read_only_file_mappings(m_own_smaps.get()));
            m_own_smaps.reset();
            m_file_code->drop();
        }
        epoll_event events[16];
        int n = ::epoll_wait(m_epoll.get(), events, 16, code_in_use ? kCodeDropAfterMs : -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && code_in_use) {
            m_file_code->drop();
            code_in_use = false;
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == m_exit_event.get()) {
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
            } else if (fd == watchdog.fd()) {
                if (std::optional<std::string> why = watchdog.check())
                    m_vm->request_stop(ExitKind::Stopped, *why);
                code_in_use = !m_file_code->empty(); // its check (the monitor's IPC) ran code back in
            } else if (fd == m_signals.get()) {
                signalfd_siginfo info;
                [[maybe_unused]] ssize_t r = ::read(fd, &info, sizeof info);
                m_vm->request_stop(ExitKind::Stopped, "the daemon received signal " + std::to_string(info.ssi_signo));
            } else {
                m_control->handle(fd, events[i].events);
                code_in_use = !m_file_code->empty();
            }
        }
    }
}

void EnclaveDaemon::finish(const ExitInfo& exit)
{
    // Give a console viewer the last output (blocking briefly is fine: the guest is gone).
    m_control->flush_consoles();
    bool stopped_by_request = exit.kind == ExitKind::Stopped && !m_stopped_for_no_heartbeat && m_control->stop_requested();
    if (m_console && !stopped_by_request) {
        // Debug mode: keep what the console holds, so `console` can still show why it ended.
        std::uint64_t lost = 0;
        std::string text;
        m_console->read(0, text, lost);
        if (m_monitor) {
            m_monitor->save_console(text);
        } else {
            try {
                base::AtomicFile saved(m_run_dir.console_path(m_settings.id), 0600);
                saved.write(text);
                saved.commit();
            } catch (const base::Error&) {
            }
        }
    }
    Json record = exit_record(describe(), exit, m_stopped_for_no_heartbeat, utc_now());
    // Release the guest's memory and the VM before anyone can see the enclave as ended, so a
    // `stop` that returned, or a TERMINATED record, means every hugepage is back in the pool.
    m_vm.reset();
    if (stopped_by_request) {
        remove_sockets();
        m_control->answer_stop();
    } else {
        // The record before the sockets go: the ID stays taken throughout, so a `stop` racing the
        // enclave's own end finds one or the other (else it could find neither, report no such
        // enclave, and the record written just after would hold the ID until the next stop).
        try {
            if (m_monitor) {
                if (!m_monitor->write_record(record.dump(2, ' ', false, Json::error_handler_t::replace) + "\n"))
                    throw base::Error(base::ErrorKind::Io, "RECORD", "the monitor could not write it");
            } else {
                m_run_dir.write_record(m_settings.id, record);
            }
        } catch (const base::Error& e) {
            std::fprintf(stderr, "qt-vmm daemon: cannot keep the enclave's record: %s\n", e.what()); // run dir gone
        }
        remove_sockets();
    }
    // After the record: the error points at it.
    if (m_report.pending())
        m_report.error(m_stopped_for_no_heartbeat
                ? no_heartbeat_error(m_settings.id, m_settings.heartbeat_timeout_s, m_settings.debug_mode)
                : ended_before_heartbeat_error(m_settings.id, exit, m_settings.debug_mode));
    m_control->close_clients();
}

void EnclaveDaemon::remove_sockets()
{
    if (m_monitor) {
        m_monitor->remove_sockets();
        return;
    }
    m_run_dir.remove_reservation(m_settings.id); // before the ID is free again (the socket)
    ::unlink(m_run_dir.vsock_path(m_settings.id).c_str());
    ::unlink(m_run_dir.socket_path(m_settings.id).c_str());
}

} // namespace vmm
