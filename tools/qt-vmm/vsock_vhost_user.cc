// qt-vmm vsock vhost-user: serves the enclave vsock device (parent at CID 3, heartbeat on 9000,
// app status on 9001, hybrid vsock through --uds-path) to one QEMU guest over vhost-user.
//
//   qt-vmm vsock vhost-user --socket /tmp/vsock.sock --cid 16 [--uds-path /tmp/enclave.vsock]
//   qemu-system-x86_64 -M microvm,... -m 256
//     -object memory-backend-memfd,id=mem,size=256M,share=on -machine memory-backend=mem
//     -chardev socket,id=vsock0,path=/tmp/vsock.sock -device vhost-user-vsock-device,chardev=vsock0
//
// Listens on --socket, accepts one QEMU, logs the guest's heartbeats and status records on
// stderr, and exits when QEMU disconnects, printing a summary (JSON by default). A protocol
// error from QEMU is reported as VHOST_USER_PROTOCOL (exit 4); SIGINT/SIGTERM end it cleanly.
#include "base/error.h"
#include "base/hex.h"
#include "tools/qt-vmm/command.h"
#include "vmm/vhost_user/unix_socket.h"
#include "vmm/vhost_user/vsock_backend.h"

#include <csignal>
#include <cstdio>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace {

struct Options {
    std::string socket;
    std::uint64_t cid { 0 };
    std::string uds_path;
};

// Lines the loop thread wants printed; the main thread prints them (callbacks stay short).
class EventLog {
public:
    EventLog()
        : m_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC))
    {
        if (!m_fd.valid())
            base::throw_errno("VHOST_USER_EVENTFD", "cannot create an eventfd for", "the event log");
    }
    void push(std::string line)
    {
        {
            std::lock_guard guard(m_lock);
            m_lines.push_back(std::move(line));
        }
        std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(m_fd.get(), &one, 8);
    }
    std::deque<std::string> take()
    {
        std::uint64_t value;
        [[maybe_unused]] ssize_t n = ::read(m_fd.get(), &value, 8);
        std::lock_guard guard(m_lock);
        return std::exchange(m_lines, {});
    }
    int fd() const { return m_fd.get(); }

private:
    base::UniqueFd m_fd;
    std::mutex m_lock;
    std::deque<std::string> m_lines;
};

// SIGINT, SIGTERM and SIGHUP as a readable fd; blocked before any thread starts so that the
// backend's loop thread inherits the mask and only this fd sees them.
base::UniqueFd block_signals()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0)
        throw base::Error(base::ErrorKind::Internal, "VHOST_USER_SIGNALS", "cannot block SIGINT/SIGTERM");
    base::UniqueFd fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd.valid())
        base::throw_errno("VHOST_USER_SIGNALS", "cannot create a signalfd for", "SIGINT/SIGTERM");
    return fd;
}

qtvmm::Json serve(const Options& opts, const qtvmm::Cli& cli)
{
    vmm::vsock::VsockCore::check_guest_cid(opts.cid); // before anything is created
    base::UniqueFd signals = block_signals();
    auto log = std::make_shared<EventLog>();

    vmm::VsockConfig config;
    config.guest_cid = opts.cid;
    config.uds_path = opts.uds_path;
    config.on_heartbeat = [log, cid = opts.cid] { log->push("vhost-user vsock: heartbeat from the guest (CID " + std::to_string(cid) + ")"); };
    config.on_app_status = [log](const guest_init::StatusRecord& r) {
        char text[256];
        guest_init::describe_status_record(&r, text, sizeof text);
        log->push(std::string("vhost-user vsock: app status from the guest: ") + text);
    };

    base::UniqueFd listener = vmm::vhost_user::listen_unix(opts.socket);
    cli.info("vhost-user vsock: waiting for QEMU on " + opts.socket + " (guest CID " + std::to_string(opts.cid) + ", parent CID 3"
        + (opts.uds_path.empty() ? "" : ", parent sockets " + opts.uds_path + "[_PORT]") + ")");
    cli.detail("vhost-user vsock: QEMU needs -chardev socket,id=vsock0,path=" + opts.socket
        + " -device vhost-user-vsock-device,chardev=vsock0 and shared guest RAM (-object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem)");
    qtvmm::Json result { { "Socket", opts.socket }, { "EnclaveCID", opts.cid } };
    std::unique_ptr<vmm::vhost_user::VhostUserVsockBackend> backend;
    std::string reason;
    // Serve the first connection that says something; one that closes without a message (like
    // listen_unix()'s liveness probe from a second instance) is not QEMU: wait for the next.
    while (reason.empty()) {
        base::UniqueFd conn = vmm::vhost_user::accept_unix(listener.get(), -1, signals.get());
        if (!conn.valid()) {
            reason = "signal";
            break;
        }
        cli.info("vhost-user vsock: QEMU connected");
        backend = vmm::vhost_user::VhostUserVsockBackend::create(std::move(conn), config);
        backend->start();
        for (;;) {
            pollfd p[3] = { { backend->done_fd(), POLLIN, 0 }, { signals.get(), POLLIN, 0 }, { log->fd(), POLLIN, 0 } };
            if (::poll(p, 3, -1) < 0)
                continue; // EINTR
            for (const std::string& line : log->take())
                cli.info(line);
            if (p[0].revents) {
                if (backend->messages() > 0 || !backend->error().empty())
                    reason = "frontend-closed";
                break;
            }
            if (p[1].revents) {
                reason = "signal";
                break;
            }
        }
        if (reason.empty()) {
            cli.info("vhost-user vsock: that client left without a message (not QEMU); waiting again");
            backend.reset();
        }
    }
    listener.reset();
    ::unlink(opts.socket.c_str());
    if (!backend) {
        cli.info("vhost-user vsock: stopped by a signal before QEMU connected");
        result["Reason"] = reason;
        return result;
    }
    backend->stop();
    for (const std::string& line : log->take())
        cli.info(line);
    std::string error = backend->error();
    if (!error.empty())
        throw base::Error(base::ErrorKind::Io, "VHOST_USER_PROTOCOL",
            "QEMU's vhost-user connection was dropped: " + error
                + "; run QEMU with -device vhost-user-vsock-device,chardev=... and guest RAM shared (memory-backend-memfd,share=on)");
    vmm::vsock::VsockStats s = backend->stats();
    cli.info(reason == "signal" ? "vhost-user vsock: stopped by a signal" : "vhost-user vsock: QEMU disconnected");
    result["Reason"] = reason;
    result["Heartbeats"] = s.heartbeats;
    result["StatusRecords"] = s.status_records;
    result["Connections"] = s.connections_total;
    result["BytesToParent"] = s.bytes_to_host;
    result["BytesToEnclave"] = s.bytes_to_guest;
    result["Resets"] = s.rsts_sent;
    result["Messages"] = backend->messages();
    result["Features"] = base::hex_u64(backend->acked_features()); // what QEMU acknowledged (bit 32 VERSION_1, 29 EVENT_IDX, 30 vhost-user)
    return result;
}

qtvmm::CommandRegistration reg("vsock vhost-user",
    "Serve a QEMU guest's vhost-user-vsock-device with the enclave vsock device (parent CID 3, heartbeat, hybrid vsock); exits when QEMU disconnects",
    [](CLI::App& cmd, qtvmm::Cli& cli) {
        auto opts = std::make_shared<Options>();
        cmd.add_option("--socket", opts->socket, "Unix socket to listen on; QEMU connects with -chardev socket,path=PATH")->required();
        cmd.add_option("--cid", opts->cid, "The guest's CID, 4..4294967294 (QEMU reads it from this device)")->required()
            ->check(qtvmm::whole_number(0, std::numeric_limits<std::uint64_t>::max()));
        cmd.add_option("--uds-path", opts->uds_path,
            "Parent socket for hybrid vsock (Firecracker's protocol): the parent connects here with 'CONNECT <port>', the guest reaches <uds-path>_<port>");
        qtvmm::set_examples(cmd, {
            "qt-vmm vsock vhost-user --socket /run/vsock.sock --cid 16 --uds-path /run/enclave.vsock",
            "# then QEMU: -chardev socket,id=v,path=/run/vsock.sock -device vhost-user-vsock-device,chardev=v",
        });
        cmd.callback([&cli, opts] { cli.print(serve(*opts, cli)); });
    });

} // namespace
