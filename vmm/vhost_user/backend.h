// vmm/vhost_user/backend.h — the device-independent half of a vhost-user backend: one
// connection with a frontend (QEMU), its control messages, guest memory from SET_MEM_TABLE,
// the rings (SET_VRING_NUM/ADDR/BASE/KICK/CALL/ENABLE, GET_VRING_BASE), interrupts through the
// call eventfds, and the acknowledgements: every NEED_REPLY is answered (0 when the request was
// applied, 1 just before a refused one ends the connection; a NEED_REPLY without REPLY_ACK
// negotiated ends the connection). The device half (VhostUserDevice below: vsock_backend.h,
// nsm_backend.h) says how many rings there are, which features it offers, what its config
// space holds, and owns the event loop that calls on_socket_event() and processes the rings.
//
// Bad input from the frontend (unknown request, wrong size, too many fds, a memory table or ring
// that does not hold up, ...) ends the connection: done_fd() becomes readable, error() says why,
// the device hears connection_ended(). A clean close by the frontend ends it the same way with
// error() empty. A device reset (RESET_DEVICE, RESET_OWNER) stops the rings and drops the memory
// table and the acknowledged features, but keeps the negotiated protocol features (QEMU 10 resets
// the device when the driver probes it and does not negotiate them again).
//
// Threads: lock() guards everything; on_socket_event(), raise_interrupts() and the *_locked
// calls expect it held (the device's loop thread holds it while it dispatches). The plain
// getters take it.
//
// Usage (inside a device's backend class, which implements VhostUserDevice):
//     VhostUserBackend m_transport { std::move(socket), *this, 1 };
//     loop.watch(m_transport.socket_fd());  // on EPOLLIN, with m_transport.lock() held:
//     m_transport.on_socket_event();
//     // rings_changed(): m_transport.queues_locked()[i] is usable where running[i]
//     m_transport.raise_interrupts(1u << ring);
#pragma once

#include "vmm/vhost_user/memory_table.h"
#include "vmm/vhost_user/message.h"
#include "vmm/virtio/virtio_device.h"
#include "vmm/virtio/virtqueue.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace vmm::vhost_user {

// What the device behind a VhostUserBackend provides. Every call comes with the lock held, on
// the thread that runs on_socket_event().
class VhostUserDevice {
public:
    virtual ~VhostUserDevice() = default;
    virtual std::string device_name() const = 0;        // "the vsock device", in error messages
    virtual std::uint16_t served_rings() const = 0;     // GET_QUEUE_NUM
    virtual std::uint64_t features() const = 0;         // virtio features offered (with PROTOCOL_FEATURES)
    virtual std::uint64_t protocol_features() const = 0;
    virtual std::string ring_name(std::uint16_t ring) const { return "ring " + std::to_string(ring); }
    // GET_CONFIG: `size` bytes at `offset` (offset + size ≤ 256). SET_CONFIG is always refused.
    virtual void read_config(std::uint32_t offset, std::uint8_t* data, std::uint32_t size) const = 0;
    // Watch `fd` as the ring's kick eventfd (-1: stop watching); false if it cannot be waited on.
    virtual bool watch_kick(std::uint16_t ring, int fd) = 0;
    // Rings started (SET_VRING_KICK) or stopped (GET_VRING_BASE, reset): running[i] = started
    // and enabled, so queues_locked()[i] may be processed; started[i] alone = configured (a
    // disabled ring is left alone); `polled` = a started ring has no kick fd (poll it).
    virtual void rings_changed(const std::vector<bool>& started, const std::vector<bool>& running, bool polled) = 0;
    // The connection ended (done() is true): stop the loop after this round.
    virtual void connection_ended() = 0;
};

class VhostUserBackend {
public:
    static constexpr std::uint16_t kMaxRingSize = virtio::Virtqueue::kMaxSize;
    // Messages handled per on_socket_event() before the rings get their turn.
    static constexpr int kMessagesPerRound = 64;

    // Takes a connected stream socket (made non-blocking); the frontend may configure rings
    // 0..ring_count-1. Throws base::Error if the socket is invalid or no eventfd can be made.
    // `device` must outlive the backend; it is not called before the first message.
    VhostUserBackend(base::UniqueFd connected_socket, VhostUserDevice& device, std::uint16_t ring_count);
    ~VhostUserBackend();
    VhostUserBackend(const VhostUserBackend&) = delete;
    VhostUserBackend& operator=(const VhostUserBackend&) = delete;

    std::mutex& lock() { return m_lock; }
    int socket_fd() const { return m_socket_fd; } // for the loop's epoll set (valid until the end)
    // The socket is readable (lock held): handles up to kMessagesPerRound messages.
    void on_socket_event();
    // Signals the call eventfd of every ring in `ring_mask` that has one (lock held).
    void raise_interrupts(unsigned ring_mask);
    // The rings' queues (index = ring), for the device (lock held).
    std::vector<virtio::Virtqueue>& queues_locked() { return m_queues; }
    const MemoryTable& memory_locked() const { return m_memory; }

    int done_fd() const { return m_done_fd.get(); } // readable (never reset) once the connection ended
    bool done() const { return m_done.load(); }
    std::string error();                             // "" while it lasts or after a clean close
    std::uint64_t messages();
    std::uint64_t acked_features();                  // still there after the connection ended
    std::uint64_t acked_features_locked() const { return m_acked_features; }

private:
    struct Ring {
        std::uint16_t size { 0 };          // SET_VRING_NUM
        std::uint16_t base { 0 };          // SET_VRING_BASE / where GET_VRING_BASE stopped
        std::optional<VringAddress> address;
        base::UniqueFd kick;
        base::UniqueFd call;
        bool started { false };
        bool enabled { false };            // SET_VRING_ENABLE
    };

    // Each returns false with m_problem set to end the connection.
    bool handle(Message& m);
    bool handle_ring_state(Message& m);
    bool handle_ring_fd(Message& m);
    bool reply(const Message& m, const void* payload, std::size_t size);
    bool fail(std::string problem);
    bool start_ring(std::uint16_t index);
    void stop_ring(std::uint16_t index);
    void update_rings();
    void reset_device();
    void end_connection(const std::string& problem);
    bool ring_enabled(const Ring& ring) const;
    std::string no_such_ring(const std::string& what, std::uint64_t index) const;

    VhostUserDevice& m_device;
    std::mutex m_lock;
    base::UniqueFd m_socket;
    int m_socket_fd;
    base::UniqueFd m_done_fd;
    MemoryTable m_memory;
    std::vector<virtio::Virtqueue> m_queues;
    std::vector<Ring> m_rings;
    MessageReader m_reader;
    std::uint64_t m_acked_features { 0 };
    std::uint64_t m_protocol_features { 0 };
    bool m_owned { false };
    std::uint64_t m_messages { 0 };
    std::string m_problem;
    std::string m_error;
    std::atomic<bool> m_done { false };
};

} // namespace vmm::vhost_user
