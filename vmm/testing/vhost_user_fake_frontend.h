// vmm/testing/vhost_user_fake_frontend.h — an in-process vhost-user frontend that behaves like QEMU 7.2's
// vhost-user-vsock-device, for tests: guest RAM in a memfd (shared with the backend through
// SET_MEM_TABLE, described like QEMU's microvm: [0, 0xf0000) and [1 MiB, size), user addresses
// at kUserBase + gpa), kick and call eventfds per ring, and the message order QEMU uses. It is a
// vsock::DriverTransport, so the synthetic guest driver (vmm/testing/vsock_test_driver.h) runs
// over it unchanged.
//
// Single-threaded tests pass a `pump` that runs one backend round (backend->run_once); with the
// backend on its own thread, leave it empty and waits poll the socket instead.
//
// Usage:
//     vmm::vhost_user::FakeFrontend fe(16 << 20);
//     auto backend = VhostUserVsockBackend::create(fe.take_backend_socket(), config);
//     fe.pump = [&](int ms) { backend->run_once(ms); };
//     vmm::vsock::TestDriver guest(fe, fe.guest_ram());
//     REQUIRE(fe.handshake());
//     REQUIRE(guest.init());                 // SET_FEATURES, SET_MEM_TABLE, rings, kicks, enable
#pragma once

#include "vmm/vhost_user/message.h"
#include "vmm/vhost_user/vsock_backend.h"
#include "vmm/testing/vsock_test_driver.h"

#include <cerrno>
#include <functional>
#include <poll.h>
#include <stdexcept>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

namespace vmm::vhost_user {

struct Reply {
    Header header;
    std::vector<std::uint8_t> payload;
    std::uint64_t u64() const
    {
        std::uint64_t v = 0;
        if (payload.size() == 8)
            std::memcpy(&v, payload.data(), 8);
        return v;
    }
};

class FakeFrontend : public vsock::DriverTransport {
public:
    static constexpr std::uint64_t kUserBase = 0x7f12'0000'0000ull;
    static constexpr std::uint64_t kLowEnd = 0xf0000;     // QEMU microvm's first region
    static constexpr std::uint64_t kHighStart = 0x100000;

    explicit FakeFrontend(std::uint64_t ram_size, std::uint64_t guest_cid = 16)
        : m_ram_size(ram_size)
        , m_cid(guest_cid)
        , m_flat(nullptr, 0)
    {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            throw std::runtime_error("socketpair");
        m_socket.reset(sv[0]);
        m_backend_end.reset(sv[1]);
        // Sealed as QEMU's memory-backend-memfd seals it (seal=on).
        m_memfd.reset(::memfd_create("fake-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING));
        if (!m_memfd.valid() || ::ftruncate(m_memfd.get(), static_cast<off_t>(ram_size)) != 0
            || ::fcntl(m_memfd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
            throw std::runtime_error("memfd");
        void* p = ::mmap(nullptr, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, m_memfd.get(), 0);
        if (p == MAP_FAILED)
            throw std::runtime_error("mmap");
        m_ram = static_cast<std::uint8_t*>(p);
        m_flat = virtio::FlatGuestRam(m_ram, ram_size);
        for (int i = 0; i < 3; ++i) {
            m_kick[i].reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
            m_call[i].reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        }
    }
    ~FakeFrontend() override { ::munmap(m_ram, m_ram_size); }
    FakeFrontend(const FakeFrontend&) = delete;
    FakeFrontend& operator=(const FakeFrontend&) = delete;

    base::UniqueFd take_backend_socket() { return std::move(m_backend_end); }
    int socket() const { return m_socket.get(); }
    void close_socket() { m_socket.reset(); }
    std::uint8_t* ram() { return m_ram; }
    const virtio::GuestRam& guest_ram() const { return m_flat; }
    int memfd() const { return m_memfd.get(); }
    int kick_fd(int ring) const { return m_kick[ring].get(); }
    int call_fd(int ring) const { return m_call[ring].get(); }
    // Reads (and clears) a call eventfd: how many interrupts arrived since the last look.
    std::uint64_t calls(int ring)
    {
        std::uint64_t v = 0;
        return ::read(m_call[ring].get(), &v, 8) == 8 ? v : 0;
    }
    std::vector<MemoryRegion> regions() const
    {
        return { { 0, kLowEnd, kUserBase, 0 }, { kHighStart, m_ram_size - kHighStart, kUserBase + kHighStart, kHighStart } };
    }

    // --- messages ------------------------------------------------------------------------------

    bool send(std::uint32_t request, const std::vector<std::uint8_t>& payload = {}, const std::vector<int>& fds = {}, std::uint32_t flags = kVersion)
    {
        std::string error;
        return send_message(m_socket.get(), encode(request, flags, payload.data(), payload.size()), fds, error);
    }
    bool send_u64(std::uint32_t request, std::uint64_t value, const std::vector<int>& fds = {}, std::uint32_t flags = kVersion)
    {
        std::vector<std::uint8_t> p(8);
        std::memcpy(p.data(), &value, 8);
        return send(request, p, fds, flags);
    }
    bool send_state(std::uint32_t request, std::uint32_t index, std::uint32_t num, std::uint32_t flags = kVersion)
    {
        return send(request, encode_state({ index, num }), {}, flags);
    }
    // Waits for one reply (pumping the backend when single-threaded); nullopt on EOF/timeout.
    std::optional<Reply> read_reply(int rounds = 200)
    {
        for (int i = 0; i < rounds; ++i) {
            std::uint8_t header[kMessageHeaderSize];
            ssize_t n = ::recv(m_socket.get(), header, sizeof header, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0)
                return std::nullopt; // the backend closed the connection
            if (n == static_cast<ssize_t>(sizeof header)) {
                Reply r;
                std::memcpy(&r.header, header, sizeof header);
                r.payload.resize(r.header.size);
                std::vector<std::uint8_t> all(kMessageHeaderSize + r.header.size);
                if (::recv(m_socket.get(), all.data(), all.size(), MSG_WAITALL) != static_cast<ssize_t>(all.size()))
                    return std::nullopt;
                std::memcpy(r.payload.data(), all.data() + kMessageHeaderSize, r.header.size);
                return r;
            }
            wait(10);
        }
        return std::nullopt;
    }
    // True once the backend has closed its end (after the pump ran a few rounds).
    bool backend_closed(int rounds = 50)
    {
        for (int i = 0; i < rounds; ++i) {
            char c;
            ssize_t n = ::recv(m_socket.get(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN))
                return true;
            if (n > 0) { // a reply nobody read: drop it
                std::uint8_t drop[512];
                [[maybe_unused]] ssize_t d = ::recv(m_socket.get(), drop, sizeof drop, MSG_DONTWAIT);
                continue;
            }
            wait(10);
        }
        return false;
    }
    std::optional<std::uint64_t> get_u64(std::uint32_t request)
    {
        if (!send(request))
            return std::nullopt;
        auto r = read_reply();
        if (!r || r->header.request != request || r->header.flags != (kVersion | kFlagReply) || r->payload.size() != 8)
            return std::nullopt;
        return r->u64();
    }
    // Sends with NEED_REPLY and reads the REPLY_ACK: 0 = accepted.
    std::optional<std::uint64_t> acked(std::uint32_t request, const std::vector<std::uint8_t>& payload, const std::vector<int>& fds = {})
    {
        if (!send(request, payload, fds, kVersion | kFlagNeedReply))
            return std::nullopt;
        auto r = read_reply();
        if (!r || r->header.request != request || r->payload.size() != 8)
            return std::nullopt;
        return r->u64();
    }

    // What QEMU does when the device is created: features, protocol features, owner, the
    // call/err fds, the config (checked against the CID).
    bool handshake(std::uint64_t protocol_features = protocol::kReplyAck | protocol::kConfig)
    {
        auto features = get_u64(request::kGetFeatures);
        if (!features || !(*features & kFeatureProtocolFeatures))
            return false;
        offered_features = *features;
        auto pf = get_u64(request::kGetProtocolFeatures);
        if (!pf || (*pf & protocol_features) != protocol_features)
            return false;
        if (!send_u64(request::kSetProtocolFeatures, protocol_features) || !send(request::kSetOwner))
            return false;
        m_protocol = protocol_features;
        for (std::uint32_t ring = 0; ring < 2; ++ring) {
            if (!send_u64(request::kSetVringCall, ring, { m_call[ring].get() }))
                return false;
            base::UniqueFd err(::eventfd(0, EFD_CLOEXEC));
            if (!send_u64(request::kSetVringErr, ring, { err.get() }))
                return false;
        }
        std::vector<std::uint8_t> config(kConfigHeaderSize + 8, 0);
        std::uint32_t size = 8;
        std::memcpy(config.data() + 4, &size, 4);
        if (!send(request::kGetConfig, config))
            return false;
        auto r = read_reply();
        if (!r || r->payload.size() != kConfigHeaderSize + 8)
            return false;
        std::uint64_t cid;
        std::memcpy(&cid, r->payload.data() + kConfigHeaderSize, 8);
        return cid == m_cid;
    }

    // --- DriverTransport ------------------------------------------------------------------------

    std::uint64_t guest_cid() override { return m_cid; }
    bool configure(const std::array<virtio::QueueAddresses, 3>& queues, bool event_idx) override
    {
        m_queues = queues;
        std::uint64_t features = kFeatureProtocolFeatures | (event_idx ? virtio::kFeatureEventIdx : 0) | (legacy ? 0 : virtio::kFeatureVersion1);
        if (!send_u64(request::kSetFeatures, features))
            return false;
        std::vector<MemoryRegion> table = regions();
        std::vector<int> fds(table.size(), m_memfd.get());
        if (m_protocol & protocol::kReplyAck) {
            auto ack = acked(request::kSetMemTable, encode_regions(table), fds);
            if (!ack || *ack != 0)
                return false;
        } else if (!send(request::kSetMemTable, encode_regions(table), fds)) {
            return false;
        }
        return true;
    }
    bool go() override
    {
        for (std::uint32_t ring = 0; ring < 2; ++ring) {
            const virtio::QueueAddresses& q = m_queues[ring];
            VringAddress a { ring, 0, kUserBase + q.desc, kUserBase + q.used, kUserBase + q.avail, 0 };
            if (!send_state(request::kSetVringNum, ring, q.size) || !send_state(request::kSetVringBase, ring, 0)
                || !send(request::kSetVringAddr, encode_address(a))
                || !(poll_kicks ? send_u64(request::kSetVringKick, ring | kVringInvalidFd) : send_u64(request::kSetVringKick, ring, { m_kick[ring].get() })))
                return false;
        }
        if (enable_rings) {
            for (std::uint32_t ring = 0; ring < 2; ++ring)
                if (!send_state(request::kSetVringEnable, ring, 1))
                    return false;
        }
        // QEMU hands over fresh call fds after starting the rings.
        for (std::uint32_t ring = 0; ring < 2; ++ring) {
            m_call[ring].reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
            if (!send_u64(request::kSetVringCall, ring, { m_call[ring].get() }))
                return false;
        }
        wait(0);
        return true;
    }
    void kick(std::uint16_t queue) override
    {
        if (queue < 3) {
            std::uint64_t one = 1;
            [[maybe_unused]] ssize_t n = ::write(m_kick[queue].get(), &one, 8);
        }
    }
    void run_once(int timeout_ms) override { wait(timeout_ms); }

    // Stops a ring like QEMU at guest reset: SET_VRING_ENABLE 0, GET_VRING_BASE; the avail index.
    std::optional<std::uint32_t> stop_ring(std::uint32_t ring)
    {
        if (!send_state(request::kSetVringEnable, ring, 0) || !send_state(request::kGetVringBase, ring, 0))
            return std::nullopt;
        auto r = read_reply();
        if (!r || r->header.request != request::kGetVringBase || r->payload.size() != 8)
            return std::nullopt;
        std::uint32_t state[2];
        std::memcpy(state, r->payload.data(), 8);
        return state[0] == ring ? std::optional<std::uint32_t>(state[1]) : std::nullopt;
    }

    std::function<void(int timeout_ms)> pump; // one backend round; empty: the backend has a thread
    std::uint64_t offered_features { 0 };
    bool legacy { false };       // a legacy virtio-mmio guest never acks VERSION_1
    bool enable_rings { true };  // send SET_VRING_ENABLE 1 after starting the rings
    bool poll_kicks { false };   // SET_VRING_KICK with the invalid-fd bit

private:
    void wait(int timeout_ms)
    {
        if (pump) {
            pump(timeout_ms);
        } else if (timeout_ms > 0) {
            pollfd p { m_socket.get(), POLLIN, 0 };
            ::poll(&p, 1, timeout_ms);
        }
    }

    std::uint64_t m_ram_size;
    std::uint64_t m_cid;
    base::UniqueFd m_socket;
    base::UniqueFd m_backend_end;
    base::UniqueFd m_memfd;
    std::uint8_t* m_ram { nullptr };
    virtio::FlatGuestRam m_flat;
    std::array<base::UniqueFd, 3> m_kick;
    std::array<base::UniqueFd, 3> m_call;
    std::array<virtio::QueueAddresses, 3> m_queues {};
    std::uint64_t m_protocol { 0 };
};

} // namespace vmm::vhost_user
