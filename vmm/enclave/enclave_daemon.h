// vmm/enclave/enclave_daemon.h — the process that owns one enclave for its whole life.
//
// `qt-vmm enclave start` forks this daemon (a new session, stdio on /dev/null, errors in
// <run>/<id>.log). It first pins itself to the parent's CPUs (settings.machine.vmm_cpus, see
// placement/daemon_cpus.h), before any thread exists, so every thread inherits them. It builds
// the enclave's back end (EnclaveVm: memory reserved, kernel and initrd loaded, vCPUs pinned,
// the virtio-vsock device on <run>/<id>.vsock with the heartbeat on port 9000 and guest-init's
// exit status on port 9001 served by the VMM itself), binds <run>/<id>.sock and starts the vCPUs.
// Then it serves from one epoll loop until the guest ends.
//
// This file is the composition; each job lives in its own piece:
//   control_server.h     the control socket: clients, access checks (owner or root), requests
//                        describe / stop / console (control_protocol.h), the console viewer
//                        (console_stream.h). The daemon is its ControlHandler: describe() and stop().
//   start_report.h       the ready pipe to the starting command: "ok <json>" once the guest's
//                        init sent its boot heartbeat (or at once with heartbeat_timeout_s = 0),
//                        "error <json>" for a failed start, NO_HEARTBEAT (stopped: none in time)
//                        or ENDED_BEFORE_HEARTBEAT.
//   enclave_lifecycle.h  the heartbeat timer, the watchdog that stops an enclave whose control
//                        socket disappeared (an enclave nobody can reach is an orphan), and the
//                        TERMINATED record.
// When the guest ends the daemon gives a console viewer the last output, keeps the console
// (debug mode), releases the VM, removes its sockets, then answers the `stop` that ended it or
// writes <run>/<id>.json (why it ended, when, the app's exit status once known), reports a start
// that never got its heartbeat, and exits; the kernel releases hugepages and CPUs with it.
//
// Usage (from the launcher, in the forked child, holding the run-dir lock):
//     vmm::EnclaveDaemon daemon(run_dir, std::move(settings));
//     int status = daemon.run(ready_pipe_fd, lock, boot_image);   // then _exit(status)
// Tests pass a factory for a fake back end (vmm/testing/fake_enclave_vm.h) as a third argument.
#pragma once

#include "eif-format/eif_arch.h"
#include "guest-init/status_protocol.h"
#include "vmm/enclave/accel.h"
#include "vmm/enclave/control_server.h"
#include "vmm/enclave/daemon_memory.h"
#include "vmm/enclave/enclave_vm.h"
#include "vmm/enclave/run_dir.h"
#include "vmm/enclave/sandbox_monitor.h"
#include "vmm/enclave/sandbox_privileges.h"
#include "vmm/enclave/start_report.h"
#include "vmm/nsm/nsm_module.h"
#include "vmm/vsock/vsock_device.h"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace vmm {

struct EnclaveSettings {
    int id { 0 };
    std::uint64_t cid { 0 };
    std::string eif_path;
    Json measurements;             // {"PCR0":..., ...} computed by the launcher
    bool debug_mode { false };
    std::string cpu_isolation { "isolated" }; // placement::isolation_name(): what the opt-out allowed
    std::string daemon_cpu_isolation;  // placement::daemon_cpus(): where machine.vmm_cpus came from
    Accel accel { Accel::Kvm };    // qt-vmm's VMM, or QEMU under software emulation
    eif::Arch arch { eif::host_arch() }; // the EIF's; under kvm always the host's (the launcher checks)
    MachineConfig machine;         // under tcg: vcpus, memory_bytes, cmdline and console only
    uid_t owner_uid { 0 };
    std::size_t console_capacity { 256 * 1024 };
    // How long the guest has to send its heartbeat before the enclave is stopped; 0 = do not
    // wait (guests without our init, e.g. probe guests).
    double heartbeat_timeout_s { 0 };
    // The enclave's security module (attestation_setup.h); null = no NSM device.
    std::shared_ptr<nsm::NsmModule> nsm;
    Json attestation;              // {"ModuleID", "ParentID", "ParentRole", "Signing", "Device"} for query
    // Where guest RAM comes from, for query: "prezeroed-pool" (machine.memory_chunks, named in
    // pool_chunks), "fresh" (hugepages the kernel zeroes on first touch) or "not-applicable (tcg)".
    std::string memory_source { "fresh" };
    std::vector<std::string> pool_chunks;
};

// Builds the enclave's back end from the daemon's settings (machine, accel) and the vsock
// device's configuration; `on_exit` must fire once when the guest ends.
using EnclaveVmFactory = std::function<std::unique_ptr<EnclaveVm>(
    const EnclaveSettings& settings, const BootImage& image, VsockConfig vsock, EnclaveVm::OnExit on_exit)>;
// The production factory: KvmEnclaveVm, or QemuEnclaveVm under --accel tcg.
std::unique_ptr<EnclaveVm> create_enclave_vm(
    const EnclaveSettings& settings, const BootImage& image, VsockConfig vsock, EnclaveVm::OnExit on_exit);

class EnclaveDaemon final : private ControlHandler {
public:
    // `create_vm` is for tests (a fake back end); the default builds the real one.
    EnclaveDaemon(RunDir run_dir, EnclaveSettings settings, EnclaveVmFactory create_vm = create_enclave_vm);
    ~EnclaveDaemon() override;

    // Privilege separation (sandbox_monitor.h): requests that need root go to `monitor`, and
    // once the VM runs the daemon drops root (sandbox_privileges.h) if it is root. Without a
    // monitor (tests, fake back ends) the daemon does everything itself and keeps its IDs.
    void use_monitor(std::shared_ptr<MonitorClient> monitor) { m_monitor = std::move(monitor); }

    // Builds and starts the VM, reports to `ready_fd` ("ok <json>\n" or "error <json>\n"), then
    // serves until the enclave ends. Returns the process exit status.
    // `image` is let go (kernel bytes, the sealed EIF behind load_initrd) as soon as the VM is
    // built: the guest has its copy, and a daemon lives as long as its enclave.
    int run(int ready_fd, RunDir::Lock& lock, BootImage image);

private:
    Json describe() const override;
    void stop(uid_t uid) override;
    VsockConfig vsock_config();
    void report_ready();
    void serve();
    void finish(const ExitInfo& exit);
    void remove_sockets();

    RunDir m_run_dir;
    EnclaveSettings m_settings;
    EnclaveVmFactory m_create_vm;
    std::shared_ptr<MonitorClient> m_monitor;
    std::optional<DaemonUser> m_drop_to;   // root with a monitor: who the daemon becomes
    std::unique_ptr<ConsoleBuffer> m_console;
    std::unique_ptr<EnclaveVm> m_vm;          // after m_console: the guest writes the ring
    std::unique_ptr<ControlServer> m_control; // after both: gone first, like its viewers
    base::UniqueFd m_heartbeat_event;     // written by the vsock thread on 0xB7
    base::UniqueFd m_heartbeat_timer;     // timerfd while waiting for the heartbeat
    StartReport m_report;                 // the starting command's pipe until reported
    base::UniqueFd m_own_smaps;           // /proc/self/smaps until first idle (daemon_memory.h)
    // The binary's and libraries' read-only mappings; shared with the vsock thread (on_quiet),
    // which may outlive this member while m_vm goes.
    std::shared_ptr<FileCodePages> m_file_code { std::make_shared<FileCodePages>() };
    std::atomic<std::uint64_t> m_heartbeat_ns { 0 };
    std::uint64_t m_daemon_started_ns { 0 };
    std::uint64_t m_vcpus_started_ns { 0 };
    mutable std::mutex m_app_status_lock;
    std::optional<guest_init::StatusRecord> m_app_status;
    base::UniqueFd m_epoll;
    base::UniqueFd m_exit_event;
    base::UniqueFd m_signals;
    std::string m_start_time;
    bool m_stopped_for_no_heartbeat { false }; // our stop was the reason the guest ended
};

} // namespace vmm
