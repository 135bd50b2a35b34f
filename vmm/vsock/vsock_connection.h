// vmm/vsock/vsock_connection.h — one vsock stream connection between the guest and the parent
// side (a Unix socket or a local service), with both directions' credit accounting.
//
// Credit (virtio 1.2 §5.10.6.3): we advertise kConnectionBuffer bytes (buf_alloc) and count the
// bytes we consumed (fwd_cnt: written to the Unix socket or eaten by a service). Guest bytes the
// Unix socket cannot take yet wait in `to_host`, which therefore never holds more than
// kConnectionBuffer bytes: a guest that sends beyond the credit we advertised is reset instead.
// Toward the guest we send at most peer_credit() bytes (its buf_alloc minus what is in flight).
// The connection only holds state; VsockMuxer drives it.
#pragma once

#include "base/file.h"
#include "vmm/vsock/vsock_services.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vmm::vsock {

// Per-connection receive buffer we advertise to the guest (and the most we ever buffer).
inline constexpr std::uint32_t kConnectionBuffer = 64 * 1024;

// A FIFO of bytes with a fixed upper bound, stored compactly (grows only as needed).
class ByteQueue {
public:
    std::size_t size() const { return m_data.size() - m_head; }
    bool empty() const { return size() == 0; }
    const std::uint8_t* data() const { return m_data.data() + m_head; }
    void append(const std::uint8_t* bytes, std::size_t n);
    void consume(std::size_t n);
    void clear();

private:
    std::vector<std::uint8_t> m_data;
    std::size_t m_head { 0 };
};

// Packets a connection owes the guest (sent in this order of priority).
enum PendingBits : std::uint32_t {
    kPendResponse = 1,
    kPendRequest = 2,
    kPendCreditUpdate = 4,
    kPendShutdown = 8,
};

struct Connection {
    enum class State { LocalInit, Established };

    std::uint32_t guest_port { 0 };
    std::uint32_t host_port { 0 };
    std::uint64_t peer_cid { 3 };   // the parent CID the guest addressed (3, or 2)
    State state { State::Established };

    base::UniqueFd fd;              // the Unix socket (forwarded connections)
    std::unique_ptr<LocalService> service; // or a local service (heartbeat, status)
    std::uint64_t token { 0 };      // epoll token of fd
    std::uint32_t interest { 0 };   // events currently registered
    bool registered { false };

    // guest → host
    ByteQueue to_host;
    std::string handshake_out;      // "OK <port>\n" for the parent, before any data
    std::uint32_t rx_cnt { 0 };     // payload bytes received from the guest
    std::uint32_t fwd_cnt { 0 };    // of those, bytes consumed on our side
    std::uint32_t last_fwd_cnt_sent { 0 };
    bool peer_no_send { false };    // guest sent SHUTDOWN F_SEND
    bool peer_no_recv { false };    // guest sent SHUTDOWN F_RECEIVE
    bool shut_wr_done { false };

    // host → guest
    std::uint32_t peer_buf_alloc { 0 };
    std::uint32_t peer_fwd_cnt { 0 };
    std::uint32_t tx_cnt { 0 };     // payload bytes sent to the guest
    bool host_readable { false };   // the Unix socket reported data (or EOF) we did not read yet
    bool local_eof { false };
    bool hung_up { false };
    bool credit_requested { false };

    std::uint32_t pending { 0 };    // PendingBits
    bool in_rx_queue { false };
    std::chrono::steady_clock::time_point deadline {}; // zero = none

    std::uint64_t key() const { return make_key(guest_port, host_port); }
    static std::uint64_t make_key(std::uint32_t guest_port, std::uint32_t host_port)
    {
        return (std::uint64_t(guest_port) << 32) | host_port;
    }
    // Bytes the guest can still take from us.
    std::uint32_t peer_credit() const;
    // The guest's view of our free buffer (what our last sent fwd_cnt lets it send).
    std::uint32_t advertised_free() const { return kConnectionBuffer - (rx_cnt - last_fwd_cnt_sent); }
    // Whether `n` more guest bytes stay within the credit we gave.
    bool fits_credit(std::uint32_t n) const { return std::uint64_t(rx_cnt - fwd_cnt) + n <= kConnectionBuffer; }
    bool has_host_data() const;
};

} // namespace vmm::vsock
