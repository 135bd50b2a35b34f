// proxy/stream_relay.h — one epoll loop that accepts connections on listening sockets, dials an
// outbound stream socket for each (non-blocking connect) and copies bytes both ways. Shared by
// the parent's egress proxy (`qt-vmm vsock proxy`: enclave dial → TCP) and guest-init's
// forwarder (TCP 127.0.0.1 → vsock CID 3), so it uses no exceptions and nothing beyond libc and
// the standard library (guest-init is linked static with -fno-exceptions).
//
// Per connection: each direction buffers at most kBufferSize bytes (allocated while bytes wait,
// freed once they are out, so idle connections hold no buffer); an
// end-of-file is passed on as shutdown(SHUT_WR) once its bytes are out; the connection ends when
// both directions are finished, on any error, or after idle_timeout_ms without a byte moving.
// Above max_connections an accepted socket is closed at once. Everything that refuses, fails or
// times out a connection is reported through the log callback as one line.
//
// Usage:
//     relay::StreamRelay r({ .max_connections = 1024, .idle_timeout_ms = 300000 }, [](const std::string& line) { ... });
//     r.add_listener(listen_fd, [](unsigned attempt) { return relay::Dialed { connect_somewhere(attempt), "", "host:port" }; });
//     while (!stop) r.run_once(1000);
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace relay {

struct Limits {
    std::size_t max_connections { 1024 };
    int idle_timeout_ms { 0 }; // 0: never
};

// What a dialer returns: a non-blocking stream socket whose connect() has been started (or has
// completed), or fd -1 and why not (try_next: this address failed at once, log it and ask for
// the next attempt). target names the destination in log lines.
struct Dialed {
    int fd { -1 };
    std::string error;
    std::string target;
    bool try_next { false };
};
// Called with attempt 0 for a new connection; when that connect fails, with 1, 2, ... (e.g. the
// next address of a name) until it returns -1.
using Dialer = std::function<Dialed(unsigned attempt)>;
using Log = std::function<void(const std::string& line)>;

struct Stats {
    std::uint64_t accepted { 0 };
    std::uint64_t refused { 0 };      // over the limit, or the dialer found nowhere to go
    std::uint64_t failed { 0 };       // connect or I/O error
    std::uint64_t idle_closed { 0 };
    std::uint64_t completed { 0 };    // both directions ended with end-of-file
    std::uint64_t bytes_out { 0 };    // accepted side → dialled side
    std::uint64_t bytes_in { 0 };     // dialled side → accepted side
    std::size_t open { 0 };
    std::size_t peak { 0 };
};

class StreamRelay {
public:
    static constexpr std::size_t kBufferSize = 64 * 1024;

    StreamRelay(Limits limits, Log log);
    ~StreamRelay();
    StreamRelay(const StreamRelay&) = delete;
    StreamRelay& operator=(const StreamRelay&) = delete;

    // Takes ownership of a listening socket (made non-blocking here). The name prefixes its log
    // lines. Returns 0 or errno.
    int add_listener(int fd, std::string name, Dialer dialer);
    // Waits up to timeout_ms for events (less when an idle deadline is nearer), handles them.
    // Returns 0, or errno when epoll itself failed (EINTR is returned too, for signal checks).
    int run_once(int timeout_ms);
    const Stats& stats() const { return m_stats; }

    struct Conn;
    struct Listener;
    struct Handle;

private:
    void accept_all(Listener& l);
    void start_dial(Conn& c);
    void on_event(Handle& h, std::uint32_t events);
    void pump(Conn& c);
    enum class ConnEnd { Completed, Refused, Failed, Idle };
    void close_conn(Conn& c, ConnEnd end, const std::string& problem);
    void sweep_idle(std::int64_t now_ms);

    Limits m_limits;
    Log m_log;
    int m_epoll { -1 };
    Stats m_stats;
    std::uint64_t m_next_id { 1 };
    std::vector<std::unique_ptr<Listener>> m_listeners;
    std::vector<std::unique_ptr<Conn>> m_conns;
    std::vector<std::unique_ptr<Conn>> m_closed; // freed after the event batch that closed them
    std::int64_t m_last_sweep_ms { 0 };
};

// CLOCK_MONOTONIC in milliseconds.
std::int64_t monotonic_ms();
// "ECONNREFUSED (Connection refused)" style text for log lines.
std::string errno_text(int error);

} // namespace relay
