// vmm/enclave/control_server.h — the enclave daemon's control socket: listens on <run>/<id>.sock,
// accepts clients, reads one request line each (at most kMaxRequestBytes; each request is handled
// in isolation: anything wrong with it is an error reply, never the daemon's end), decides who may
// do what from the peer's uid (stop and console: the owner or root) and streams the console to its
// one viewer (ConsoleStream). It knows nothing about the VM: what a request does is the
// ControlHandler's business. Wire format: control_protocol.h.
//
// Limits, so that no local user can lock the owner out (issue 14, finding 2):
//   - at most kMaxControlClients (64) connections; kControlSlotsKeptForOwner (16) of them only
//     for root and the enclave's owner; any other uid at most kMaxControlClientsPerUid (8);
//     whoever is over a limit gets DAEMON_BUSY and is hung up on;
//   - a client must send its whole request line within request_deadline (2 s) of connecting,
//     else REQUEST_TIMEOUT; a console viewer, once accepted, and a stop waiting for the enclave
//     to end are exempt;
//   - out of file descriptors (EMFILE/ENFILE) on accept: a reserve descriptor is closed to
//     accept and at once close the pending connection (DAEMON_BUSY), then reopened; without one
//     the listener pauses for 100 ms. The listener never spins.
//
// Usage (the daemon, which owns the epoll loop):
//     vmm::ControlServer control(socket_path, { .enclave_id = id, .owner_uid = uid, .console = ring }, handler);
//     control.watch(epoll_fd);                       // the listening socket, its timer, console output, clients
//     if (control.handle(fd, events)) continue;      // for every ready fd: true if it was ours
//     ... the enclave ended:
//     control.flush_consoles();                       // the viewer gets the last output
//     if (control.stop_requested()) control.answer_stop();   // {"ok":true} to whoever asked
//     control.close_clients();
#pragma once

#include "base/error.h"
#include "vmm/devices/console_buffer.h"
#include "vmm/enclave/control_protocol.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vmm {

// What the requests do; the control server only checks who may ask.
class ControlHandler {
public:
    virtual ~ControlHandler() = default;
    // "describe": the enclave's JSON (anyone may ask).
    virtual Json describe() const = 0;
    // "stop" from the owner or root: end the enclave. The server answers the client once the
    // enclave has ended (answer_stop()).
    virtual void stop(uid_t uid) = 0;
};

inline constexpr std::size_t kMaxControlClients = 64;
inline constexpr std::size_t kControlSlotsKeptForOwner = 16;
inline constexpr std::size_t kMaxControlClientsPerUid = 8;

// The uid of a connected Unix socket's peer (SO_PEERCRED); nullopt if it cannot be read.
std::optional<uid_t> socket_peer_uid(int fd);

struct ControlServerConfig {
    int enclave_id { 0 };              // named in error messages
    uid_t owner_uid { 0 };             // with root, may stop the enclave and read its console
    ConsoleBuffer* console { nullptr }; // debug mode: the ring a viewer follows; null otherwise
    std::function<std::optional<uid_t>(int fd)> peer_uid { socket_peer_uid }; // tests fake it
    std::chrono::milliseconds request_deadline { 2000 }; // connect to a complete request line
};

class ControlServer {
public:
    // Binds and listens on `socket_path` (root:qt-vmm 0660, see access_group.h; a stale socket replaced). Throws
    // base::Error SOCKET_PATH (path too long) or CONTROL_SOCKET.
    ControlServer(const std::string& socket_path, ControlServerConfig config, ControlHandler& handler);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Adds the listening socket and the console's notify fd to `epoll_fd`; clients join as they come.
    void watch(int epoll_fd);
    // Handles one ready fd from the epoll set; false if it is not one of ours.
    bool handle(int fd, std::uint32_t events);

    // A client asked to stop the enclave and is still connected.
    bool stop_requested() const { return m_stop_requester >= 0; }
    // Tells that client the enclave has stopped.
    void answer_stop();
    // The enclave ended: every console viewer gets the rest (blocking up to 2 s).
    void flush_consoles();
    // Hangs up on everyone.
    void close_clients();
    std::size_t client_count() const { return m_clients.size(); }
    // Clients hung up on for not sending a request in time; connections closed unserved for
    // want of file descriptors.
    std::uint64_t timed_out_clients() const { return m_timed_out_clients; }
    std::uint64_t shed_connections() const { return m_shed_connections; }

private:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds kListenerPause { 100 };
    struct Client;
    void accept_clients();
    // Why a new connection from `uid` is turned away, or nullopt.
    std::optional<std::string> admission_refusal(uid_t uid) const;
    void shed_one_connection();
    void on_timer();
    void arm_timer(); // to the earliest request deadline or the listener's resumption
    void handle_input(Client& client);
    void dispatch(Client& client, const ControlRequest& request);
    void handle_console(Client& client, const ControlRequest& request, bool privileged);
    // Answers an error line and hangs up (nothing if the client is already gone).
    void refuse(int fd, const std::string& code, base::ErrorKind kind, const std::string& message);
    bool has_client(int fd) const;
    void pump_console(Client& client);
    void drop(int fd);

    ControlServerConfig m_config;
    ControlHandler& m_handler;
    base::UniqueFd m_listen;
    base::UniqueFd m_timer;      // timerfd: request deadlines, resuming a paused listener
    base::UniqueFd m_reserve_fd; // see shed_one_connection()
    bool m_listener_paused { false };
    Clock::time_point m_resume_listener_at {};
    std::uint64_t m_timed_out_clients { 0 };
    std::uint64_t m_shed_connections { 0 };
    int m_epoll { -1 };
    std::vector<std::unique_ptr<Client>> m_clients;
    int m_console_viewer { -1 };
    int m_stop_requester { -1 };
};

} // namespace vmm
