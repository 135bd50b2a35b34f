// vmm/vsock/vsock_test_driver.h — a synthetic virtio-vsock guest driver for tests and benchmarks
// (no VM): it lays out the three split rings and the buffers in a GuestMemory, initialises the
// device through its MMIO registers in the Linux driver's order, posts rx buffers the way the
// 6.1 driver does (one 3776-byte writable descriptor, or header + payload in two), sends packets
// on tx (one descriptor, or header + payload in two), kicks through QueueNotify and reads
// what the device published on rx.
//
// Usage:
//     vmm::GuestMemory ram = vmm::GuestMemory::create({ .size = 32 << 20, .page_size = 4096, .lock = false });
//     auto dev = vmm::VsockDevice::create(std::make_unique<vmm::virtio::GuestMemoryRam>(ram), config);
//     vmm::vsock::TestDriver guest(*dev, ram);
//     guest.init();                                 // reset … DRIVER_OK, rx buffers posted
//     guest.send(guest.header(kOpRequest, 1234, 9000));
//     guest.pump_until([&] { return guest.inbox.size() > 0; });
#pragma once

#include "vmm/memory/guest_memory.h"
#include "vmm/vsock/vsock_device.h"

#include <cstring>
#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace vmm::vsock {

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
        : m_device(device)
        , m_ram(ram)
        , m_size(queue_size)
    {
    }

    std::uint64_t guest_cid() const { return m_device.config().guest_cid; }
    std::uint64_t desc(std::uint16_t q) const { return kQueueArea + q * 0x10000ull; }
    std::uint64_t avail(std::uint16_t q) const { return desc(q) + 0x4000; }
    std::uint64_t used(std::uint16_t q) const { return desc(q) + 0x8000; }

    std::uint32_t read32(std::uint64_t offset)
    {
        std::uint8_t b[4];
        m_device.transport().mmio_read(offset, b, 4);
        std::uint32_t v;
        std::memcpy(&v, b, 4);
        return v;
    }
    void write32(std::uint64_t offset, std::uint32_t value)
    {
        std::uint8_t b[4];
        std::memcpy(b, &value, 4);
        m_device.transport().mmio_write(offset, b, 4);
    }
    std::uint64_t read_config64()
    {
        return read32(virtio::mmio::kConfig) | (std::uint64_t(read32(virtio::mmio::kConfig + 4)) << 32);
    }

    // The Linux order: reset, ACK, DRIVER, features, FEATURES_OK (checked), queues, DRIVER_OK.
    bool init(bool event_idx = true, bool split_rx = false, std::uint16_t rx_buffers = 128)
    {
        using namespace virtio;
        m_split_rx = split_rx;
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
            std::memset(m_ram.translate(desc(q), 0x10000), 0, 0x10000);
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
        m_avail_idx = { 0, 0, 0 };
        m_used_seen = { 0, 0, 0 };
        m_tx_free.clear();
        for (std::uint16_t i = 0; i < m_size / 2; ++i)
            m_tx_free.push_back(static_cast<std::uint16_t>(i * 2));
        inbox.clear();
        post_rx(rx_buffers);
        write32(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk | status::kDriverOk);
        return read32(mmio::kStatus) & status::kDriverOk;
    }

    void set_desc(std::uint16_t q, std::uint16_t index, std::uint64_t addr, std::uint32_t len, std::uint16_t flags, std::uint16_t next)
    {
        std::uint8_t* d = m_ram.translate(desc(q) + 16ull * index, 16);
        std::memcpy(d, &addr, 8);
        std::memcpy(d + 8, &len, 4);
        std::memcpy(d + 12, &flags, 2);
        std::memcpy(d + 14, &next, 2);
    }
    // Makes chain `head` available on queue q (and publishes avail.idx), without kicking.
    void make_available(std::uint16_t q, std::uint16_t head)
    {
        std::uint8_t* a = m_ram.translate(avail(q), 6 + 2ull * m_size);
        std::memcpy(a + 4 + 2 * (m_avail_idx[q] % m_size), &head, 2);
        ++m_avail_idx[q];
        __atomic_store_n(reinterpret_cast<std::uint16_t*>(a + 2), m_avail_idx[q], __ATOMIC_RELEASE);
    }
    void set_avail_idx(std::uint16_t q, std::uint16_t idx)
    {
        m_avail_idx[q] = idx;
        std::memcpy(m_ram.translate(avail(q) + 2, 2), &idx, 2);
    }
    void kick(std::uint16_t q) { write32(virtio::mmio::kQueueNotify, q); }

    // Rx buffer i uses descriptor i (one descriptor) or 2i, 2i+1 when split.
    void post_rx(std::uint16_t count)
    {
        for (std::uint16_t n = 0; n < count; ++n) {
            std::uint16_t slot = static_cast<std::uint16_t>(m_rx_next++ % (m_size / 2));
            repost_rx(slot);
        }
        kick(kQueueRx);
    }

    PacketHeader header(std::uint16_t op, std::uint32_t src_port, std::uint32_t dst_port, std::uint32_t len = 0,
        std::uint64_t dst_cid = kParentCid)
    {
        PacketHeader h;
        h.src_cid = guest_cid();
        h.dst_cid = dst_cid;
        h.src_port = src_port;
        h.dst_port = dst_port;
        h.len = len;
        h.type = kTypeStream;
        h.op = op;
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
        m_ram.write(base, bytes, kHeaderSize);
        if (!payload.empty())
            m_ram.write(base + 64, payload.data(), payload.size());
        if (split && !payload.empty()) {
            set_desc(kQueueTx, head, base, kHeaderSize, virtio::kDescFlagNext, static_cast<std::uint16_t>(head + 1));
            set_desc(kQueueTx, static_cast<std::uint16_t>(head + 1), base + 64, static_cast<std::uint32_t>(payload.size()), 0, 0);
        } else {
            if (!payload.empty())
                m_ram.write(base + kHeaderSize, payload.data(), payload.size());
            set_desc(kQueueTx, head, base, static_cast<std::uint32_t>(kHeaderSize + payload.size()), 0, 0);
        }
        make_available(kQueueTx, head);
        kick(kQueueTx);
        return true;
    }

    // Reads the rx used ring into `inbox` (reposting the buffers) and recycles tx slots.
    void collect()
    {
        reclaim_tx();
        std::uint8_t* u = m_ram.translate(used(kQueueRx), 6 + 8ull * m_size);
        std::uint16_t idx = __atomic_load_n(reinterpret_cast<std::uint16_t*>(u + 2), __ATOMIC_ACQUIRE);
        bool reposted = false;
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
                    m_ram.read(base, bytes.data(), kHeaderSize);
                    m_ram.read(base + 64, bytes.data() + kHeaderSize, len - kHeaderSize);
                } else {
                    m_ram.read(base, bytes.data(), len);
                }
                ReceivedPacket p;
                p.header = PacketHeader::decode(bytes.data());
                p.payload.assign(reinterpret_cast<char*>(bytes.data()) + kHeaderSize, len - kHeaderSize);
                inbox.push_back(std::move(p));
            } else {
                ++short_buffers;
            }
            repost_rx(slot);
            reposted = true;
        }
        if (reposted)
            kick(kQueueRx);
    }

    // Runs the device loop on this thread until `done` holds (or `rounds` rounds passed).
    bool pump_until(const std::function<bool()>& done, int rounds = 400)
    {
        for (int i = 0; i < rounds; ++i) {
            m_device.run_once(i < 4 ? 0 : 5);
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

    std::uint16_t used_idx(std::uint16_t q) { return __atomic_load_n(reinterpret_cast<std::uint16_t*>(m_ram.translate(used(q) + 2, 2)), __ATOMIC_ACQUIRE); }
    std::uint16_t avail_idx(std::uint16_t q) const { return m_avail_idx[q]; }

    std::deque<ReceivedPacket> inbox;
    std::uint32_t buf_alloc { 256 * 1024 };
    std::uint32_t fwd_cnt { 0 };
    std::uint64_t short_buffers { 0 };

private:
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
        std::uint8_t* u = m_ram.translate(used(kQueueTx), 6 + 8ull * m_size);
        std::uint16_t idx = __atomic_load_n(reinterpret_cast<std::uint16_t*>(u + 2), __ATOMIC_ACQUIRE);
        while (m_used_seen[kQueueTx] != idx) {
            std::uint32_t id;
            std::memcpy(&id, u + 4 + 8 * (m_used_seen[kQueueTx] % m_size), 4);
            ++m_used_seen[kQueueTx];
            if (id % 2 == 0 && id < m_size)
                m_tx_free.push_back(static_cast<std::uint16_t>(id));
        }
    }

    VsockDevice& m_device;
    GuestMemory& m_ram;
    std::uint16_t m_size;
    bool m_event_idx { true };
    bool m_split_rx { false };
    std::uint32_t m_rx_next { 0 };
    std::array<std::uint16_t, 3> m_avail_idx {};
    std::array<std::uint16_t, 3> m_used_seen {};
    std::deque<std::uint16_t> m_tx_free;
};

} // namespace vmm::vsock
