// tools/qt-vmm/byte_relay.h — copies bytes both ways between pairs of file descriptors, for the
// parent-side vsock commands (`vsock connect`: stdin/stdout <-> an enclave port; `vsock forward`:
// TCP clients <-> an enclave port). One thread, one poll() loop, any number of links.
//
// A link joins side A (e.g. stdin + stdout, or a TCP socket) and side B (a connection to the
// enclave's hybrid-vsock socket). If B was opened with vsock::hybrid_connect() the link first waits
// for the "OK <port>\n" answer to its "CONNECT <port>\n" line (Firecracker's protocol) and only
// then reads from A; bytes that follow the OK line belong to the stream. An end-of-file on one
// side is passed on as a half-close (shutdown(SHUT_WR) on a socket, close on anything else);
// a socket that hangs up (closed both ways) ends the direction toward it; the link ends when
// both directions are finished or either side fails. Each direction buffers
// at most kBufferSize bytes, so a reader that stops only stalls its own link.
//
// Usage:
//     qtvmm::ByteRelay relay;
//     relay.add_link(ByteRelay::Side::stdio(), ByteRelay::Side::socket(vmm::vsock::hybrid_connect(path, 5000, NonBlocking)),
//                    /*awaits_ok=*/true, [](const std::string& problem) { ... "" = clean end ... });
//     while (relay.link_count() > 0) relay.poll_once(-1);
#pragma once

#include "base/file.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace qtvmm {

class ByteRelay {
public:
    static constexpr std::size_t kBufferSize = 64 * 1024;

    struct Side {
        base::UniqueFd read_fd;
        base::UniqueFd write_fd; // may be the same descriptor as read_fd (-1 here then)
        bool is_socket { false };
        static Side socket(base::UniqueFd fd);
        static Side stdio(); // descriptors 0 and 1 themselves (closed with the link)
    };
    // Called once when a link ends: "" for a clean end, else what went wrong.
    using OnEnd = std::function<void(const std::string& problem)>;
    // Called when a watched descriptor is readable (e.g. a listening socket).
    using OnReadable = std::function<void()>;

    ByteRelay();
    ~ByteRelay();
    ByteRelay(const ByteRelay&) = delete;
    ByteRelay& operator=(const ByteRelay&) = delete;

    void add_link(Side a, Side b, bool b_awaits_ok, OnEnd on_end);
    void watch(int fd, OnReadable on_readable);
    std::size_t link_count() const { return m_links.size(); }
    // Waits up to timeout_ms (-1: no limit) for any descriptor, then moves what can move.
    void poll_once(int timeout_ms);

private:
    struct Link;
    struct Direction;
    void pump(Link& link, Direction& d, short read_events, short write_events);
    bool read_ok_line(Link& link);
    void end_link(Link& link, const std::string& problem);

    std::vector<std::unique_ptr<Link>> m_links;
    std::vector<std::pair<int, OnReadable>> m_watched;
};

} // namespace qtvmm
