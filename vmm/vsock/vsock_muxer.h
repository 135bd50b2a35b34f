// vmm/vsock/vsock_muxer.h — the vsock connection table and the parent side: Firecracker's
// "hybrid vsock" over Unix sockets, plus the VMM's own heartbeat and status services.
//
// Parent → guest: a program connects to the listening socket `uds_path` and writes
// "CONNECT <port>\n" (keyword case-insensitive, decimal port, at most 32 bytes); we send REQUEST
// to the guest; on RESPONSE we write "OK <host-port>\n" (host ports are allocated round-robin in
// [2^30, 2^31)) and shuttle bytes both ways; on RST (nothing listens in the guest) or after
// kConnectTimeout without an answer the Unix socket is closed.
// Guest → parent: a REQUEST to CID 3 (or 2) port P connects, non-blocking, to "<uds_path>_<P>";
// if nobody listens (or its backlog is full) the guest gets RST. Ports 9000 and 9001 are served
// here (vsock_services.h) and never forwarded. Any other destination CID gets RST.
//
// Limits (hold under abuse): kMaxConnections connections (beyond: RST / close), each buffering at
// most kConnectionBuffer guest bytes (a guest that exceeds its credit is reset), so at most
// 256 MiB of buffered data per enclave, and only while parents leave their sockets full; at
// most kMaxHandshakes parent sockets that have not sent their CONNECT line yet (each gets
// kConnectTimeout); RSTs for packets with no connection are queued up to kMaxUnsolicitedRsts
// (more are dropped). Host → guest data is never buffered: it is
// read from the Unix socket straight into the guest's rx buffer, only as far as the guest's
// credit allows. Every socket is non-blocking; a parent or guest that stops reading only stalls
// its own connection. A connection both sides have shut down whose parent will not take the
// last bytes is reset after kLingerTimeout.
//
// No busy loop on the parent side: a CONNECT line is read into its handshake's buffer as it
// arrives (pieces included), so a socket wakes the loop only when new bytes come; its deadline is
// checked by sweep(), which the loop runs at least every 250 ms while one is pending. When accept
// fails for want of file descriptors (EMFILE, ENFILE) or memory, the listener is taken out of
// the epoll set for kListenerPause (sweep() puts it back) instead of waking the loop forever.
//
// Roles: the muxer routes — guest packets to their Connection (vsock_connection.h, which owns
// the per-connection state machine and packet handling), epoll events to the connection or the
// listener, rx buffers to the connections queued for them (round-robin) — and it owns what no
// connection does: the connection table and its limits, the parent's listening socket and
// CONNECT handshakes, connecting guest requests to the parent, and RSTs for packets with no
// connection. After each call into a connection it settles it: an ended connection is removed
// (with its RST when one is owed), one with something for the guest joins the rx queue.
//
// Threads: not thread-safe; VsockDevice calls it with the transport lock held. Sockets are
// registered in the epoll set `epoll_fd` with tokens ≥ kFirstToken; events come back through
// handle_event().
//
// Usage (see vsock_device.cc):
//     VsockMuxer mux({ .guest_cid = 16, .uds_path = "/run/qt-vmm/1.vsock" }, epoll_fd);
//     mux.handle_guest_packet(header, segments);        // each tx packet
//     while (mux.has_pending_rx()) used = mux.fill_rx_buffers(buffers, lengths); // rx_bytes_wanted(): how many help
#pragma once

#include "vmm/virtio/virtqueue.h"
#include "vmm/vsock/vsock_connection.h"
#include "vmm/vsock/vsock_packet.h"

#include "base/file.h"

#include <chrono>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>

namespace vmm::vsock {

inline constexpr std::size_t kMaxConnections = 1024;
inline constexpr std::size_t kMaxHandshakes = 64;
inline constexpr std::size_t kMaxUnsolicitedRsts = 256;
inline constexpr std::uint32_t kFirstLocalPort = 1u << 30;
inline constexpr std::size_t kDescribedConnections = 32;
inline constexpr std::size_t kMaxConnectLine = 32; // "CONNECT <port>\n", newline included
inline constexpr std::chrono::milliseconds kListenerPause { 200 };

struct MuxerConfig {
    std::uint64_t guest_cid { 0 };
    std::string uds_path;          // empty: no parent socket (services only)
    ServiceCallbacks services;
    // Connects to the parent's listener for port P (<uds_path>_P) when the process itself may
    // not: the enclave daemon's root monitor does it (vmm/enclave/sandbox_monitor.h). Unset: a
    // direct non-blocking connect. Returns an invalid fd for "refused".
    std::function<base::UniqueFd(std::uint32_t port)> connect_parent;
    // Called on the device's loop thread (no lock held) once the loop has been quiet for
    // VsockCore::kQuietAfter after a burst of work; the enclave daemon drops the code pages the
    // burst brought back (vmm/enclave/daemon_memory.h). Unset: nothing.
    std::function<void()> on_quiet;
};

class VsockMuxer {
public:
    static constexpr std::uint64_t kListenerToken = 64;
    static constexpr std::uint64_t kFirstToken = 1024;

    VsockMuxer(MuxerConfig config, int epoll_fd);
    ~VsockMuxer();
    VsockMuxer(const VsockMuxer&) = delete;
    VsockMuxer& operator=(const VsockMuxer&) = delete;

    // One packet from the guest's tx queue: `segments` hold the header then `header.len` bytes.
    void handle_guest_packet(const PacketHeader& header, const std::vector<virtio::BufferSegment>& segments);
    // True if some packet is waiting for an rx buffer.
    bool has_pending_rx() const { return !m_rsts.empty() || !m_rx_queue.empty(); }
    // Writes the next packets into rx buffers: an RST or a connection's control packet takes
    // the first buffer; parent data is read once into as many of them as it fills
    // (Connection::send_pkts). Returns how many buffers, from the first, now hold a packet,
    // with their lengths in `lengths`; 0 if nothing was left to send after all (the caller
    // gives the buffers back unused).
    std::size_t fill_rx_buffers(std::span<const RxBufferView> buffers, std::span<std::uint32_t> lengths);
    // Payload bytes the next fill_rx_buffers call would read from a parent's socket (0: it
    // would send a control packet or an RST): how much rx buffer space to gather for it.
    std::size_t rx_bytes_wanted() const;
    // After fill_rx_buffers returned 0: true if data was waiting but the buffer had no room for
    // any (the caller then returns the buffer empty rather than retrying it forever).
    bool buffer_too_small() const { return m_buffer_too_small; }
    // An epoll event on one of our sockets.
    void handle_event(std::uint64_t token, std::uint32_t events);
    // Expires handshakes and lingering connections; returns true while any deadline is pending.
    bool sweep(std::chrono::steady_clock::time_point now);
    // The guest reset the device: every connection is closed (parent sockets see EOF).
    void reset();

    void note_malformed_packet() { ++m_stats.malformed_packets; }
    const VsockStats& stats() const { return m_stats; }
    std::size_t connection_count() const { return m_connections.size(); }
    std::size_t buffered_bytes() const;
    // For debugging: one line per connection (Connection::describe), at most
    // kDescribedConnections of them (a guest with 1,024 connections must not make `query`'s
    // reply too long to read), then the rx queue and RSTs.
    std::vector<std::string> describe() const;
    int listener_fd() const { return m_listener.get(); }

private:
    struct Handshake {
        base::UniqueFd fd;
        std::chrono::steady_clock::time_point deadline;
        std::string line; // what arrived of the CONNECT line so far (no newline yet)
    };

    Connection* find(std::uint64_t key);
    void accept_parents();
    // Out of file descriptors or memory: stop watching the listener until `now + kListenerPause`.
    void pause_listener();
    void read_connect_line(std::uint64_t token);
    void connect_to_parent(const PacketHeader& request);
    void add(std::unique_ptr<Connection> c);
    // After a call into `c`: removes it if it ended (queuing its RST when one is owed), else
    // queues it for an rx buffer if it asked. Returns false if it was removed.
    bool settle(Connection& c);
    void remove(Connection& c);
    void queue_rst(std::uint64_t src_cid, std::uint32_t src_port, std::uint32_t dst_port, bool unsolicited);
    void schedule(Connection& c);
    std::uint32_t allocate_host_port(std::uint32_t guest_port);

    MuxerConfig m_config;
    int m_epoll;
    base::UniqueFd m_listener;
    std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> m_connections;
    std::unordered_map<std::uint64_t, std::uint64_t> m_token_to_key;
    std::unordered_map<std::uint64_t, Handshake> m_handshakes;
    std::deque<std::uint64_t> m_rx_queue;          // connection keys with something to send
    std::deque<PacketHeader> m_rsts;               // RSTs for connections that are gone
    std::uint64_t m_next_token { kFirstToken };
    std::uint32_t m_next_host_port { kFirstLocalPort };
    std::vector<iovec> m_iov;
    bool m_buffer_too_small { false };
    std::chrono::steady_clock::time_point m_listener_paused_until {}; // zero: not paused
    std::uint64_t m_listener_pauses { 0 };
    VsockStats m_stats;
    ConnectionContext m_context { -1, 0, m_stats, m_iov }; // after m_stats and m_iov
};

} // namespace vmm::vsock
