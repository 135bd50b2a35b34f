// vmm/vsock/vsock_connection.h — one vsock stream connection between the guest and the parent
// side (a Unix socket or a local service): its state machine, both directions' credit and the
// packets it exchanges with the guest. Modelled on Firecracker's csm/connection.rs: the
// connection owns recv_pkt (a guest packet for it), send_pkt (its next packet for the guest)
// and notify (an epoll event on its socket); VsockMuxer only routes packets and events to it,
// queues it for rx buffers and removes it once it has ended.
//
// States:
//   LocalInit    the parent said CONNECT: REQUEST sent to the guest, RESPONSE awaited (deadline)
//   Established  bytes flow both ways (the guest asked, or answered our REQUEST)
//   Killed       ended with a reset owed to the guest (protocol error, either side gone, or
//                the final RST of a clean close); the muxer queues the RST and removes it
//   Closed       ended by the guest's RST; the muxer removes it, nothing is owed
// Within Established, each direction has its own state: the guest's SHUTDOWN flags
// (GuestSend: Open → ShutdownPending until our buffer toward the parent drained → ShutDown once
// shutdown(SHUT_WR) told the parent), what the parent's socket has for us (HostInput: Waiting
// for epoll, Readable, Eof) and whether the socket is in the epoll set (Unregistered,
// Registered, HungUp — HUP never clears, so a hung-up socket leaves the set for good).
//
// Credit (virtio 1.2 §5.10.6.3): we advertise kConnectionBuffer bytes (buf_alloc) and count the
// bytes we consumed (fwd_cnt: written to the Unix socket or eaten by a service). Guest bytes the
// Unix socket cannot take yet wait in `to_host`, which therefore never holds more than
// kConnectionBuffer bytes: a guest that sends beyond the credit we advertised is reset instead.
// Toward the guest we send at most peer_credit() bytes (its buf_alloc minus what is in flight).
// Host → guest data is never buffered: it is read from the socket straight into the rx buffer.
//
// Threads: none of its own; the muxer calls it with the transport lock held.
//
// Usage (VsockMuxer):
//     ConnectionContext context { epoll_fd, guest_cid, stats, iov_scratch };
//     auto c = Connection::accepted_from_guest(context, request, std::move(fd), std::move(service));
//     c->recv_pkt(header, segments);                  // then: c->ended()? c->take_rx_request()?
//     std::size_t n = c->send_pkt(writable, capacity); // 0: nothing (buffer_too_small() says why)
//     std::size_t used = c->send_pkts(buffers, lengths); // several rx buffers, one socket read
//     c->notify(EPOLLIN);
#pragma once

#include "base/file.h"
#include "vmm/virtio/virtqueue.h"
#include "vmm/vsock/vsock_packet.h"
#include "vmm/vsock/vsock_services.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <sys/uio.h>
#include <vector>

namespace vmm::vsock {

// Per-connection receive buffer we advertise to the guest (and the most we ever buffer).
inline constexpr std::uint32_t kConnectionBuffer = 256 * 1024;
inline constexpr std::uint32_t kMaxPacketPayload = 64 * 1024;
inline constexpr std::chrono::milliseconds kConnectTimeout { 2000 };
inline constexpr std::chrono::milliseconds kLingerTimeout { 10000 };

struct VsockStats {
    std::uint64_t connections { 0 };          // open now
    std::uint64_t connections_total { 0 };    // ever established
    std::uint64_t bytes_to_host { 0 };        // guest → parent payload
    std::uint64_t bytes_to_guest { 0 };       // parent → guest payload
    std::uint64_t rsts_sent { 0 };
    std::uint64_t rsts_dropped { 0 };         // unsolicited RSTs beyond the queue bound
    std::uint64_t credit_violations { 0 };
    std::uint64_t malformed_packets { 0 };    // bad headers, short chains, wrong source CID
    std::uint64_t malformed_chains { 0 };     // filled in by VsockDevice from the queues
    std::uint64_t refused_connections { 0 };  // over kMaxConnections
    std::uint64_t heartbeats { 0 };
    std::uint64_t status_records { 0 };
};

// One rx buffer offered to a connection: a chain's writable segments and their total size.
struct RxBufferView {
    const std::vector<virtio::BufferSegment>* segments;
    std::size_t capacity;
};

// The most rx buffers one socket read may fill (send_pkts), and the most bytes it asks for.
inline constexpr std::size_t kMaxRxBatch = 64;
inline constexpr std::uint32_t kMaxRxBatchBytes = 128 * 1024;

// What every connection of one muxer shares; outlives them.
struct ConnectionContext {
    int epoll_fd { -1 };
    std::uint64_t guest_cid { 0 };
    VsockStats& stats;
    std::vector<iovec>& iov;  // scratch for sendmsg/recvmsg
};

// A FIFO of bytes with a fixed upper bound, stored compactly (grows only as needed). Drained, it
// keeps at most kIdleQueueCapacity bytes of storage: an idle connection holds no buffer from an
// earlier burst (a hundred such connections used to hold up to 128 KiB each).
inline constexpr std::size_t kIdleQueueCapacity = 4096;

class ByteQueue {
public:
    std::size_t size() const { return m_data.size() - m_head; }
    std::size_t capacity() const { return m_data.capacity(); } // the storage it holds
    bool empty() const { return size() == 0; }
    const std::uint8_t* data() const { return m_data.data() + m_head; }
    void append(const std::uint8_t* bytes, std::size_t n);
    void consume(std::size_t n);
    void clear();

private:
    std::vector<std::uint8_t> m_data;
    std::size_t m_head { 0 };
};

class Connection {
public:
    enum class State { LocalInit, Established, Killed, Closed };
    enum class GuestSend { Open, ShutdownPending, ShutDown };
    enum class HostInput { Waiting, Readable, Eof };
    enum class Polling { Unregistered, Registered, HungUp };

    // The guest's REQUEST to the parent, accepted: a RESPONSE is owed. `fd` (a connected Unix
    // socket) or `service` (a local port) is the parent side.
    static std::unique_ptr<Connection> accepted_from_guest(ConnectionContext& context, const PacketHeader& request,
        std::uint64_t token, base::UniqueFd fd, std::unique_ptr<LocalService> service);
    // The parent's CONNECT to guest port `guest_port`: a REQUEST is owed, the RESPONSE awaited.
    static std::unique_ptr<Connection> requested_by_parent(ConnectionContext& context, std::uint32_t guest_port,
        std::uint32_t host_port, std::uint64_t token, base::UniqueFd fd);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // A guest packet for this connection: `segments` hold the header then `header.len` bytes.
    void recv_pkt(const PacketHeader& header, const std::vector<virtio::BufferSegment>& segments);
    // Writes this connection's next packet for the guest into an rx buffer; returns its length,
    // or 0 when it had nothing to send after all (see buffer_too_small()).
    std::size_t send_pkt(const std::vector<virtio::BufferSegment>& writable, std::size_t capacity);
    // The same over several rx buffers: a control packet takes the first one; parent data is
    // read with one recvmsg scattered over the payload areas of as many buffers as it fills
    // (within the guest's credit and kMaxRxBatchBytes), one RW packet per buffer. Returns how
    // many buffers (a prefix of `buffers`) now hold a packet, their lengths in `lengths`
    // (at least buffers.size() entries); 0 as send_pkt.
    std::size_t send_pkts(std::span<const RxBufferView> buffers, std::span<std::uint32_t> lengths);
    // Payload bytes one send_pkts call would read from the parent now (0: it would send a
    // control packet, or nothing): how much rx buffer space is worth gathering for it — within
    // the guest's credit and kMaxRxBatchBytes, twice the last read if that one filled all it
    // was given, else what it found.
    std::size_t data_wanted() const;
    // After send_pkt returned 0: data waits but the buffer had no room past the header.
    bool buffer_too_small() const { return m_buffer_too_small; }
    // An epoll event on the parent's socket.
    void notify(std::uint32_t events);
    // The connect or linger deadline passed: reset.
    void kill();

    State state() const { return m_state; }
    bool ended() const { return m_state == State::Killed || m_state == State::Closed; }
    // After send_pkt: true while the connection has more for the guest (or may have, once
    // credit arrives), so it goes back in the rx queue (round-robin).
    bool has_more_for_guest() const;
    // After recv_pkt, notify or creation: true (once) when the connection has something for the
    // guest and must join the rx queue.
    bool take_rx_request();
    bool expired(std::chrono::steady_clock::time_point now) const { return has_deadline() && m_deadline <= now; }
    bool has_deadline() const { return m_deadline != std::chrono::steady_clock::time_point {}; }
    std::size_t buffered_bytes() const { return m_to_host.size() + m_handshake_out.size(); }
    // For debugging a stalled connection: its states and both directions' counters in one line.
    std::string describe() const;

    std::uint32_t guest_port() const { return m_guest_port; }
    std::uint32_t host_port() const { return m_host_port; }
    std::uint64_t peer_cid() const { return m_peer_cid; }
    std::uint64_t token() const { return m_token; }
    std::uint64_t key() const { return make_key(m_guest_port, m_host_port); }
    static std::uint64_t make_key(std::uint32_t guest_port, std::uint32_t host_port)
    {
        return (std::uint64_t(guest_port) << 32) | host_port;
    }

    // The muxer's bookkeeping: whether the connection is in its rx queue.
    bool in_rx_queue { false };

private:
    // Packets owed to the guest, sent in this order of priority.
    enum PendingBits : std::uint32_t {
        kPendResponse = 1,
        kPendRequest = 2,
        kPendCreditUpdate = 4,
        kPendShutdown = 8,
    };

    Connection(ConnectionContext& context, std::uint32_t guest_port, std::uint32_t host_port, std::uint64_t peer_cid,
        std::uint64_t token);

    // Bytes the guest can still take from us.
    std::uint32_t peer_credit() const;
    // The guest's view of our free buffer (what our last sent fwd_cnt lets it send).
    std::uint32_t advertised_free() const { return kConnectionBuffer - (m_rx_cnt - m_last_fwd_cnt_sent); }
    // Whether `n` more guest bytes stay within the credit we gave.
    bool fits_credit(std::uint32_t n) const { return std::uint64_t(m_rx_cnt - m_fwd_cnt) + n <= kConnectionBuffer; }
    bool has_host_data() const;
    bool guest_stopped_sending() const { return m_guest_send != GuestSend::Open; }

    void deliver_to_host(const std::vector<virtio::BufferSegment>& segments, std::uint32_t length);
    void flush_to_host();
    void after_consumed();
    void check_finished();
    void update_interest();
    void apply_guest_shutdown(std::uint32_t flags);
    // Reads parent bytes straight into the buffers' payload areas, at most rooms[i] into
    // buffer i (lowered to what the segments really hold); returns the payload size (0: none).
    std::size_t read_host_data(std::span<const RxBufferView> buffers, std::span<std::size_t> rooms);
    // The packets send_pkts would send now, one header per buffer (updates the pending bits
    // it uses); returns how many.
    std::size_t next_packets(std::span<const RxBufferView> buffers, std::span<PacketHeader> headers);
    PacketHeader header_for(std::uint16_t op) const;

    ConnectionContext& m_context;
    std::uint32_t m_guest_port;
    std::uint32_t m_host_port;
    std::uint64_t m_peer_cid;       // the parent CID the guest addressed (3, or 2)
    std::uint64_t m_token;          // epoll token of the socket
    State m_state { State::Established };
    GuestSend m_guest_send { GuestSend::Open };
    bool m_guest_stopped_receiving { false }; // the guest's SHUTDOWN F_RECEIVE
    HostInput m_host_input { HostInput::Waiting };
    Polling m_polling { Polling::Unregistered };
    std::uint32_t m_interest { 0 }; // epoll events registered
    std::uint32_t m_pending { 0 };  // PendingBits
    bool m_credit_requested { false }; // CREDIT_REQUEST sent, no credit since
    bool m_rx_requested { false };  // take_rx_request()'s answer
    bool m_buffer_too_small { false };
    std::chrono::steady_clock::time_point m_deadline {}; // zero = none

    base::UniqueFd m_fd;                      // the Unix socket (forwarded connections)
    std::unique_ptr<LocalService> m_service;  // or a local service (heartbeat, status)

    // guest → host
    ByteQueue m_to_host;
    std::string m_handshake_out;    // "OK <port>\n" for the parent, before any data
    std::uint32_t m_rx_cnt { 0 };   // payload bytes received from the guest
    std::uint32_t m_fwd_cnt { 0 };  // of those, bytes consumed on our side
    std::uint32_t m_last_fwd_cnt_sent { 0 };

    // host → guest
    std::uint32_t m_peer_buf_alloc { 0 };
    std::uint32_t m_peer_fwd_cnt { 0 };
    std::uint32_t m_tx_cnt { 0 };   // payload bytes sent to the guest
    // data_wanted()'s guess of what the socket holds: a streaming parent's reads grow it to
    // kMaxRxBatchBytes, a 1-byte exchange keeps it small (no chains popped only to go back).
    std::size_t m_read_hint { 0 };
};

} // namespace vmm::vsock
