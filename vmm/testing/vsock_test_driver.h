// vmm/testing/vsock_test_driver.h — a synthetic virtio-vsock guest driver for tests and benchmarks
// (no VM): it lays out the three split rings and the buffers in guest memory, initialises the
// device through its MMIO registers in the Linux driver's order, posts rx buffers the way the
// 6.1 driver does (one 3776-byte writable descriptor, or header + payload in two), sends packets
// on tx (one descriptor, or header + payload in two), kicks through QueueNotify and reads
// what the device published on rx. Like Linux it kicks only when the device's avail_event asks
// (notify; kick() always does), can refill rx in batches (refill_batch) and sleep on the
// device's interrupt with used_event set (wait_interrupt) — what vsock_bench uses; await() waits
// for a packet from a device running its own loop thread. With a DriverTransport instead of a VsockDevice the same
// driver runs over another transport (the vhost-user backend's tests hand it the queue
// addresses through a fake vhost-user frontend and kick through eventfds).
//
// Usage:
//     vmm::GuestMemory ram = vmm::GuestMemory::create({ .size = 32 << 20, .page_size = 4096, .lock = false });
//     auto dev = vmm::VsockDevice::create(std::make_unique<vmm::virtio::GuestMemoryRam>(ram), config);
//     vmm::vsock::TestDriver guest(*dev, ram);
//     guest.init();                                 // reset … DRIVER_OK, rx buffers posted
//     guest.send(guest.header(kOpRequest, 1234, 9000));
//     guest.pump_until([&] { return guest.inbox.size() > 0; });
// Another transport:
//     struct MyTransport : vmm::vsock::DriverTransport { ... };
//     vmm::vsock::TestDriver guest(my_transport, flat_guest_ram);
#pragma once

#include "vmm/testing/mmio_registers.h"

#include "vmm/memory/guest_memory.h"
#include "vmm/vsock/vsock_device.h"

#include <array>
#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <poll.h>
#include <unistd.h>
#include <thread>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmm::vsock {

// How the driver reaches a device that is not a VsockDevice on virtio-mmio.
class DriverTransport {
public:
    virtual ~DriverTransport() = default;
    virtual std::uint64_t guest_cid() = 0;
    // Before DRIVER_OK: negotiate features and hand over the queues (rings zeroed by the driver).
    virtual bool configure(const std::array<virtio::QueueAddresses, 3>& queues, bool event_idx) = 0;
    // DRIVER_OK: the device may use the queues now (rx buffers are already posted).
    virtual bool go() = 0;
    virtual void kick(std::uint16_t queue) = 0;
    // Lets the device run for up to timeout_ms (one loop round, or a wait if it has its own thread).
    virtual void run_once(int timeout_ms) = 0;
};

struct ReceivedPacket {
    PacketHeader header;
    std::string payload;
};

class TestDriver {
public:
    static constexpr std::uint64_t kQueueArea = 0x10000;   // queue q at kQueueArea + q * 0x10000
    static constexpr std::uint64_t kRxArea = 0x100000;     // rx buffer i at kRxArea + i * 4096
    static constexpr std::uint64_t kTxArea = 0x200000;     // tx slot i at kTxArea + i * kTxSlot
    static constexpr std::uint64_t kTxSlot = 0x11000;
    static constexpr std::uint32_t kRxBufferSize = 3776;

    TestDriver(VsockDevice& device, GuestMemory& ram, std::uint16_t queue_size = 256)
        : m_device(&device)
        , m_memory_ram(std::in_place, ram)
        , m_ram(&*m_memory_ram)
        , m_size(queue_size)
    {
    }
    TestDriver(DriverTransport& transport, const virtio::GuestRam& ram, std::uint16_t queue_size = 256)
        : m_transport(&transport)
        , m_ram(&ram)
        , m_size(queue_size)
    {
    }

    TestDriver(const TestDriver&) = delete; // holds a pointer into itself
    TestDriver& operator=(const TestDriver&) = delete;

    std::uint64_t guest_cid() const { return m_device ? m_device->config().guest_cid : m_transport->guest_cid(); }
    std::uint64_t desc(std::uint16_t q) const { return kQueueArea + q * 0x10000ull; }
    std::uint64_t avail(std::uint16_t q) const { return desc(q) + 0x4000; }
    std::uint64_t used(std::uint16_t q) const { return desc(q) + 0x8000; }

    std::uint32_t read32(std::uint64_t offset) { return vmm::testing::read32(m_device->transport(), offset); }
    void write32(std::uint64_t offset, std::uint32_t value) { vmm::testing::write32(m_device->transport(), offset, value); }
    std::uint64_t read_config64()
    {
        return read32(virtio::mmio::kConfig) | (std::uint64_t(read32(virtio::mmio::kConfig + 4)) << 32);
    }

    // The Linux order: reset, ACK, DRIVER, features, FEATURES_OK (checked), queues, DRIVER_OK.
    bool init(bool event_idx = true, bool split_rx = false, std::uint16_t rx_buffers = 128)
    {
        using namespace virtio;
        m_split_rx = split_rx;
        if (m_transport)
            return init_transport(event_idx, rx_buffers);
        write32(mmio::kStatus, 0);
        if (read32(mmio::kMagicValue) != mmio::kMagic || read32(mmio::kVersion) != 2 || read32(mmio::kDeviceId) != kDeviceId)
            return false;
        write32(mmio::kStatus, status::kAcknowledge);
        write32(mmio::kStatus, status::kAcknowledge | status::kDriver);
        write32(mmio::kDeviceFeaturesSel, 0);
        std::uint64_t features = read32(mmio::kDeviceFeatures);
        write32(mmio::kDeviceFeaturesSel, 1);
        features |= std::uint64_t(read32(mmio::kDeviceFeatures)) << 32;
        std::uint64_t accept = features & (kFeatureVersion1 | (event_idx ? kFeatureEventIdx : 0));
        m_event_idx = accept & kFeatureEventIdx;
        write32(mmio::kDriverFeaturesSel, 0);
        write32(mmio::kDriverFeatures, static_cast<std::uint32_t>(accept));
        write32(mmio::kDriverFeaturesSel, 1);
        write32(mmio::kDriverFeatures, static_cast<std::uint32_t>(accept >> 32));
        write32(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk);
        if (!(read32(mmio::kStatus) & status::kFeaturesOk))
            return false;
        for (std::uint16_t q = 0; q < 3; ++q) {
            std::memset(m_ram->translate(desc(q), 0x10000), 0, 0x10000);
            write32(mmio::kQueueSel, q);
            if (read32(mmio::kQueueReady) != 0 || read32(mmio::kQueueNumMax) < m_size)
                return false;
            write32(mmio::kQueueNum, m_size);
            write32(mmio::kQueueDescLow, static_cast<std::uint32_t>(desc(q)));
            write32(mmio::kQueueDescHigh, 0);
            write32(mmio::kQueueDriverLow, static_cast<std::uint32_t>(avail(q)));
            write32(mmio::kQueueDriverHigh, 0);
            write32(mmio::kQueueDeviceLow, static_cast<std::uint32_t>(used(q)));
            write32(mmio::kQueueDeviceHigh, 0);
            write32(mmio::kQueueReady, 1);
            if (read32(mmio::kQueueReady) != 1)
                return false;
        }
        reset_driver_state();
        post_rx(rx_buffers);
        write32(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk | status::kDriverOk);
        return read32(mmio::kStatus) & status::kDriverOk;
    }

    void set_desc(std::uint16_t q, std::uint16_t index, std::uint64_t addr, std::uint32_t len, std::uint16_t flags, std::uint16_t next)
    {
        std::uint8_t* d = m_ram->translate(desc(q) + 16ull * index, 16);
        std::memcpy(d, &addr, 8);
        std::memcpy(d + 8, &len, 4);
        std::memcpy(d + 12, &flags, 2);
        std::memcpy(d + 14, &next, 2);
    }
    // Makes chain `head` available on queue q (and publishes avail.idx), without kicking.
    void make_available(std::uint16_t q, std::uint16_t head)
    {
        std::uint8_t* a = m_ram->translate(avail(q), 6 + 2ull * m_size);
        std::memcpy(a + 4 + 2 * (m_avail_idx[q] % m_size), &head, 2);
        ++m_avail_idx[q];
        __atomic_store_n(reinterpret_cast<std::uint16_t*>(a + 2), m_avail_idx[q], __ATOMIC_RELEASE);
    }
    void set_avail_idx(std::uint16_t q, std::uint16_t idx)
    {
        m_avail_idx[q] = idx;
        std::memcpy(m_ram->translate(avail(q) + 2, 2), &idx, 2);
    }
    // EVENT_IDX: "interrupt me once the used index passes `value`" (Linux writes the last used
    // index it took when it re-enables callbacks).
    void set_used_event(std::uint16_t q, std::uint16_t value)
    {
        __atomic_store_n(reinterpret_cast<std::uint16_t*>(m_ram->translate(avail(q) + 4 + 2ull * m_size, 2)), value, __ATOMIC_RELEASE);
    }
    void kick(std::uint16_t q)
    {
        m_kicked_idx[q] = m_avail_idx[q];
        if (m_transport)
            m_transport->kick(q);
        else
            write32(virtio::mmio::kQueueNotify, q);
    }
    // Kicks the way Linux's virtqueue_kick_prepare decides: with EVENT_IDX only when the
    // buffers made available since the last decision pass the device's avail_event (a device
    // still working through the queue asked for no kick); without it, always.
    void notify(std::uint16_t q)
    {
        std::uint16_t old_idx = m_kicked_idx[q], new_idx = m_avail_idx[q];
        m_kicked_idx[q] = new_idx;
        if (m_event_idx) {
            __atomic_thread_fence(__ATOMIC_SEQ_CST); // avail.idx visible before avail_event is read
            std::uint16_t event = __atomic_load_n(
                reinterpret_cast<std::uint16_t*>(m_ram->translate(used(q) + 4 + 8ull * m_size, 2)), __ATOMIC_ACQUIRE);
            if (static_cast<std::uint16_t>(new_idx - event - 1) >= static_cast<std::uint16_t>(new_idx - old_idx))
                return void(++m_kicks_saved[q]);
        }
        kick(q);
    }
    std::uint64_t kicks_saved(std::uint16_t q) const { return m_kicks_saved[q]; }

    // Rx buffer i uses descriptor i (one descriptor) or 2i, 2i+1 when split.
    void post_rx(std::uint16_t count)
    {
        for (std::uint16_t n = 0; n < count; ++n) {
            std::uint16_t slot = static_cast<std::uint16_t>(m_rx_next++ % (m_size / 2));
            repost_rx(slot);
        }
        notify(kQueueRx);
    }

    PacketHeader header(std::uint16_t op, std::uint32_t src_port, std::uint32_t dst_port, std::uint32_t len = 0,
        std::uint64_t dst_cid = kParentCid)
    {
        PacketHeader h = PacketHeader::stream(guest_cid(), src_port, dst_cid, dst_port, op);
        h.len = len;
        h.buf_alloc = buf_alloc;
        h.fwd_cnt = fwd_cnt;
        return h;
    }

    // Sends one packet (header + payload in one descriptor, or two when split) and kicks.
    bool send(const PacketHeader& h, const std::string& payload = {}, bool split = false)
    {
        reclaim_tx();
        if (m_tx_free.empty())
            return false;
        std::uint16_t head = m_tx_free.front();
        m_tx_free.pop_front();
        std::uint64_t base = kTxArea + kTxSlot * (head / 2);
        std::uint8_t bytes[kHeaderSize];
        h.encode(bytes);
        write_ram(base, bytes, kHeaderSize);
        if (!payload.empty())
            write_ram(base + 64, payload.data(), payload.size());
        if (split && !payload.empty()) {
            set_desc(kQueueTx, head, base, kHeaderSize, virtio::kDescFlagNext, static_cast<std::uint16_t>(head + 1));
            set_desc(kQueueTx, static_cast<std::uint16_t>(head + 1), base + 64, static_cast<std::uint32_t>(payload.size()), 0, 0);
        } else {
            if (!payload.empty())
                write_ram(base + kHeaderSize, payload.data(), payload.size());
            set_desc(kQueueTx, head, base, static_cast<std::uint32_t>(kHeaderSize + payload.size()), 0, 0);
        }
        make_available(kQueueTx, head);
        notify(kQueueTx);
        return true;
    }

    // Reads the rx used ring into `inbox` (reposting the buffers) and recycles tx slots.
    void collect()
    {
        reclaim_tx();
        std::uint8_t* u = m_ram->translate(used(kQueueRx), 6 + 8ull * m_size);
        std::uint16_t idx = __atomic_load_n(reinterpret_cast<std::uint16_t*>(u + 2), __ATOMIC_ACQUIRE);
        while (m_used_seen[kQueueRx] != idx) {
            std::uint8_t* e = u + 4 + 8 * (m_used_seen[kQueueRx] % m_size);
            std::uint32_t id, len;
            std::memcpy(&id, e, 4);
            std::memcpy(&len, e + 4, 4);
            ++m_used_seen[kQueueRx];
            std::uint16_t slot = static_cast<std::uint16_t>(m_split_rx ? id / 2 : id);
            if (len >= kHeaderSize) {
                std::uint64_t base = kRxArea + 4096ull * slot;
                std::vector<std::uint8_t> bytes(len);
                if (m_split_rx) {
                    read_ram(base, bytes.data(), kHeaderSize);
                    read_ram(base + 64, bytes.data() + kHeaderSize, len - kHeaderSize);
                } else {
                    read_ram(base, bytes.data(), len);
                }
                ReceivedPacket p;
                p.header = PacketHeader::decode(bytes.data());
                p.payload.assign(reinterpret_cast<char*>(bytes.data()) + kHeaderSize, len - kHeaderSize);
                inbox.push_back(std::move(p));
            } else {
                ++short_buffers;
            }
            m_rx_returned.push_back(slot);
        }
        // Linux 6.1 refills once half its buffers came back (virtio_vsock_rx_fill); by default
        // every buffer goes back at once, which tests with a handful of buffers need.
        if (m_rx_returned.size() >= refill_batch) {
            for (std::uint16_t slot : m_rx_returned)
                repost_rx(slot);
            m_rx_returned.clear();
            notify(kQueueRx);
        }
    }

    // Runs the device loop on this thread until `done` holds (or `rounds` rounds passed).
    bool pump_until(const std::function<bool()>& done, int rounds = 400)
    {
        for (int i = 0; i < rounds; ++i) {
            if (m_transport)
                m_transport->run_once(i < 4 ? 0 : 5);
            else
                m_device->run_once(i < 4 ? 0 : 5);
            collect();
            if (done())
                return true;
        }
        return false;
    }
    void pump(int rounds = 8)
    {
        pump_until([] { return false; }, rounds);
    }
    // Sleeps like a guest vCPU until the device interrupts (device mode only; up to timeout_ms):
    // re-enables callbacks the way Linux does (used_event = the last used entry taken on rx and
    // tx), looks once more, then waits on the interrupt eventfd and acknowledges the interrupt.
    // Returns at once if the device published something meanwhile.
    void wait_interrupt(int timeout_ms)
    {
        if (!m_device)
            return;
        for (std::uint16_t q : { kQueueRx, kQueueTx })
            set_used_event(q, m_used_seen[q]);
        __atomic_thread_fence(__ATOMIC_SEQ_CST); // used_event visible before the used index is read
        if (used_idx(kQueueRx) != m_used_seen[kQueueRx] || used_idx(kQueueTx) != m_used_seen[kQueueTx])
            return;
        pollfd p { m_device->interrupt_fd(), POLLIN, 0 };
        if (::poll(&p, 1, timeout_ms) > 0) {
            std::uint64_t count;
            [[maybe_unused]] ssize_t n = ::read(p.fd, &count, sizeof count);
            write32(virtio::mmio::kInterruptAck, read32(virtio::mmio::kInterruptStatus));
        }
    }

    // Takes the first packet for guest port `port` (any op), if any.
    bool take(std::uint32_t port, ReceivedPacket& out)
    {
        for (auto it = inbox.begin(); it != inbox.end(); ++it) {
            if (it->header.dst_port == port) {
                out = std::move(*it);
                inbox.erase(it);
                return true;
            }
        }
        return false;
    }
    bool wait_for(std::uint32_t port, ReceivedPacket& out, int rounds = 400)
    {
        return pump_until([&] { return take(port, out); }, rounds);
    }
    // The same for a device that runs its own loop thread (VsockDevice::start): only collects,
    // so the device sees nothing but what a guest's kicks tell it.
    bool await(std::uint32_t port, ReceivedPacket& out, std::chrono::milliseconds timeout = std::chrono::seconds(5))
    {
        auto end = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            collect();
            if (take(port, out))
                return true;
            if (std::chrono::steady_clock::now() > end)
                return false;
            std::this_thread::yield();
        }
    }

    std::uint16_t used_idx(std::uint16_t q) { return __atomic_load_n(reinterpret_cast<std::uint16_t*>(m_ram->translate(used(q) + 2, 2)), __ATOMIC_ACQUIRE); }
    std::uint16_t avail_idx(std::uint16_t q) const { return m_avail_idx[q]; }

    std::deque<ReceivedPacket> inbox;
    std::uint32_t buf_alloc { 256 * 1024 };
    std::uint32_t fwd_cnt { 0 };
    std::uint64_t short_buffers { 0 };
    std::size_t refill_batch { 1 }; // rx buffers returned before they are posted again

private:
    bool init_transport(bool event_idx, std::uint16_t rx_buffers)
    {
        std::array<virtio::QueueAddresses, 3> queues;
        for (std::uint16_t q = 0; q < 3; ++q) {
            std::memset(m_ram->translate(desc(q), 0x10000), 0, 0x10000);
            queues[q] = { .size = m_size, .desc = desc(q), .avail = avail(q), .used = used(q) };
        }
        m_event_idx = event_idx;
        if (!m_transport->configure(queues, event_idx))
            return false;
        reset_driver_state();
        post_rx(rx_buffers);
        return m_transport->go();
    }
    void reset_driver_state()
    {
        m_avail_idx = { 0, 0, 0 };
        m_used_seen = { 0, 0, 0 };
        m_kicked_idx = { 0, 0, 0 };
        m_rx_returned.clear();
        m_tx_free.clear();
        for (std::uint16_t i = 0; i < m_size / 2; ++i)
            m_tx_free.push_back(static_cast<std::uint16_t>(i * 2));
        inbox.clear();
    }
    void write_ram(std::uint64_t gpa, const void* data, std::size_t length)
    {
        std::uint8_t* p = m_ram->translate(gpa, length);
        if (!p)
            throw std::runtime_error("test driver: write outside guest RAM");
        std::memcpy(p, data, length);
    }
    void read_ram(std::uint64_t gpa, void* data, std::size_t length)
    {
        const std::uint8_t* p = m_ram->translate(gpa, length);
        if (!p)
            throw std::runtime_error("test driver: read outside guest RAM");
        std::memcpy(data, p, length);
    }
    void repost_rx(std::uint16_t slot)
    {
        std::uint64_t base = kRxArea + 4096ull * slot;
        if (m_split_rx) {
            std::uint16_t d = static_cast<std::uint16_t>(slot * 2);
            set_desc(kQueueRx, d, base, kHeaderSize, virtio::kDescFlagWrite | virtio::kDescFlagNext, static_cast<std::uint16_t>(d + 1));
            set_desc(kQueueRx, static_cast<std::uint16_t>(d + 1), base + 64, kRxBufferSize - 64, virtio::kDescFlagWrite, 0);
            make_available(kQueueRx, d);
        } else {
            set_desc(kQueueRx, slot, base, kRxBufferSize, virtio::kDescFlagWrite, 0);
            make_available(kQueueRx, slot);
        }
    }
    void reclaim_tx()
    {
        std::uint8_t* u = m_ram->translate(used(kQueueTx), 6 + 8ull * m_size);
        std::uint16_t idx = __atomic_load_n(reinterpret_cast<std::uint16_t*>(u + 2), __ATOMIC_ACQUIRE);
        while (m_used_seen[kQueueTx] != idx) {
            std::uint32_t id;
            std::memcpy(&id, u + 4 + 8 * (m_used_seen[kQueueTx] % m_size), 4);
            ++m_used_seen[kQueueTx];
            if (id % 2 == 0 && id < m_size)
                m_tx_free.push_back(static_cast<std::uint16_t>(id));
        }
    }

    VsockDevice* m_device { nullptr };
    DriverTransport* m_transport { nullptr };
    std::optional<virtio::GuestMemoryRam> m_memory_ram;
    const virtio::GuestRam* m_ram;
    std::uint16_t m_size;
    bool m_event_idx { true };
    bool m_split_rx { false };
    std::uint32_t m_rx_next { 0 };
    std::array<std::uint16_t, 3> m_avail_idx {};
    std::array<std::uint16_t, 3> m_used_seen {};
    std::array<std::uint16_t, 3> m_kicked_idx {};
    std::array<std::uint64_t, 3> m_kicks_saved {};
    std::deque<std::uint16_t> m_tx_free;
    std::vector<std::uint16_t> m_rx_returned;
};

} // namespace vmm::vsock
