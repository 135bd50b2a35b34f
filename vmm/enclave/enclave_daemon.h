// vmm/enclave/enclave_daemon.h — the process that owns one enclave for its whole life.
//
// `qt-vmm enclave start` forks this daemon (a new session, stdio on /dev/null, errors in
// <run>/<id>.log). It builds the Machine (memory reserved, kernel and initrd loaded, vCPUs
// pinned), attaches the virtio-vsock device (parent side: the hybrid-vsock socket
// <run>/<id>.vsock; the heartbeat on port 9000 and guest-init's exit status on port 9001 are
// served by the VMM itself), binds <run>/<id>.sock and starts the vCPUs. It tells the starting
// command through a pipe once the guest's init has sent its boot heartbeat (or at once with
// heartbeat_timeout_s = 0); no heartbeat in time, or a guest that ends first, stops the enclave
// and reports an error instead. Then it serves control requests from an epoll loop until the
// guest ends or is stopped:
//   describe  -> the enclave's JSON (anyone may ask)
//   stop      -> ends the guest, answers, exits (owner or root)
//   console   -> replay of the console ring then live output (owner or root, debug mode only,
//                one viewer at a time; a slow viewer loses old bytes, never stalls the guest)
// If its control socket disappears from the run directory, the daemon stops the enclave (an
// enclave nobody can reach is an orphan). When the guest ends on its own the daemon writes <run>/<id>.json (why it ended, when, the
// app's exit status once known) and exits; the kernel releases hugepages and CPUs with it.
//
// Usage (from the launcher, in the forked child, holding the run-dir lock):
//     vmm::EnclaveDaemon daemon(run_dir, std::move(settings));
//     int status = daemon.run(ready_pipe_fd, lock, boot_image);   // then _exit(status)
#pragma once

#include "guest-init/status_protocol.h"
#include "vmm/enclave/accel.h"
#include "vmm/enclave/enclave_vm.h"
#include "vmm/enclave/run_dir.h"
#include "vmm/vsock/vsock_device.h"

#include <atomic>
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
    Accel accel { Accel::Kvm };    // qt-vmm's VMM, or QEMU under software emulation
    MachineConfig machine;         // under tcg: vcpus, memory_bytes, cmdline and console only
    uid_t owner_uid { 0 };
    std::size_t console_capacity { 256 * 1024 };
    // How long the guest has to send its heartbeat before the enclave is stopped; 0 = do not
    // wait (guests without our init, e.g. probe guests).
    double heartbeat_timeout_s { 0 };
};

class EnclaveDaemon {
public:
    EnclaveDaemon(RunDir run_dir, EnclaveSettings settings);
    ~EnclaveDaemon();

    // Builds and starts the VM, reports to `ready_fd` ("ok <json>\n" or "error <json>\n"), then
    // serves until the enclave ends. Returns the process exit status.
    int run(int ready_fd, RunDir::Lock& lock, const BootImage& image);

private:
    struct Client;
    Json describe() const;
    VsockConfig vsock_config();
    void report_ready();
    void report_start_failure(const ExitInfo& exit);
    void serve();
    void accept_client();
    void handle_client_input(Client& client);
    void pump_console(Client& client);
    void drop_client(int fd);
    void finish(const ExitInfo& exit);

    RunDir m_run_dir;
    EnclaveSettings m_settings;
    std::unique_ptr<ConsoleBuffer> m_console;
    std::unique_ptr<EnclaveVm> m_vm;
    base::UniqueFd m_heartbeat_event;     // written by the vsock thread on 0xB7
    base::UniqueFd m_heartbeat_timer;     // timerfd while waiting for the heartbeat
    base::UniqueFd m_socket_check;        // timerfd: is our control socket still there?
    int m_ready_fd { -1 };                // the starting command's pipe until reported
    std::atomic<std::uint64_t> m_heartbeat_ns { 0 };
    std::uint64_t m_daemon_started_ns { 0 };
    std::uint64_t m_vcpus_started_ns { 0 };
    mutable std::mutex m_app_status_lock;
    std::optional<guest_init::StatusRecord> m_app_status;
    base::UniqueFd m_listen;
    base::UniqueFd m_epoll;
    base::UniqueFd m_exit_event;
    base::UniqueFd m_signals;
    std::vector<std::unique_ptr<Client>> m_clients;
    int m_console_viewer { -1 };
    std::string m_start_time;
    int m_stop_requester { -1 };
    bool m_stopped_for_no_heartbeat { false }; // our stop was the reason the guest ended
};

} // namespace vmm
