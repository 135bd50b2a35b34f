// vmm/testing/nsm_test_driver.h — a synthetic guest side of the NSM virtqueue for tests (no VM):
// NsmTestRing lays out one split ring and request/response buffers in guest memory, posts
// requests in the Linux driver's layout (a readable chain, then a writable one) or as one chain,
// and reads the used ring back; NsmTestDriver adds the virtio-mmio initialisation of an
// NsmDevice in the Linux order and kicks through QueueNotify.
//
// Usage:
//     vmm::GuestMemory ram = vmm::GuestMemory::create({ .size = 8 << 20, .page_size = 4096, .lock = false });
//     auto dev = vmm::virtio::NsmDevice::create(std::make_unique<vmm::virtio::GuestMemoryRam>(ram), handler);
//     vmm::virtio::testing::NsmTestDriver guest(*dev, ram);
//     REQUIRE(guest.init());
//     guest.post_request("\xa1\x64..."); guest.kick(); dev->run_once(0);
//     auto used = guest.take_used();        // [{request head, 0}, {response head, length}]
#pragma once

#include "vmm/testing/mmio_registers.h"

#include "vmm/memory/guest_memory.h"
#include "vmm/virtio/nsm_device.h"

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmm::virtio::testing {

struct UsedEntry {
    std::uint32_t head;
    std::uint32_t length;
};

class NsmTestRing {
public:
    static constexpr std::uint64_t kDesc = 0x10000;
    static constexpr std::uint64_t kAvail = 0x14000;
    static constexpr std::uint64_t kUsed = 0x18000;
    static constexpr std::uint64_t kRequestArea = 0x100000;   // request slot i at + i * kSlot
    static constexpr std::uint64_t kResponseArea = 0x400000;  // response slot i at + i * kSlot
    static constexpr std::uint64_t kSlot = 0x3000;

    NsmTestRing(const GuestRam& ram, std::uint16_t size)
        : m_ram(ram)
        , m_size(size)
    {
        clear();
    }
    // Zeroes the rings and starts the driver's indices again (after a device reset).
    void clear()
    {
        std::memset(at(kDesc, 0xc000), 0, 0xc000);
        m_avail_idx = m_used_seen = m_next_desc = 0;
    }
    QueueAddresses addresses() const { return { .size = m_size, .desc = kDesc, .avail = kAvail, .used = kUsed }; }

    void set_desc(std::uint16_t index, std::uint64_t addr, std::uint32_t len, std::uint16_t flags, std::uint16_t next = 0)
    {
        std::uint8_t* d = at(kDesc + 16ull * index, 16);
        std::memcpy(d, &addr, 8);
        std::memcpy(d + 8, &len, 4);
        std::memcpy(d + 12, &flags, 2);
        std::memcpy(d + 14, &next, 2);
    }
    void make_available(std::uint16_t head)
    {
        std::uint8_t* a = at(kAvail, 6 + 2ull * m_size);
        std::memcpy(a + 4 + 2 * (m_avail_idx % m_size), &head, 2);
        ++m_avail_idx;
        __atomic_store_n(reinterpret_cast<std::uint16_t*>(a + 2), m_avail_idx, __ATOMIC_RELEASE);
    }
    // The Linux driver's layout: request in descriptor `d` (slot d), response room
    // (`room` bytes) in descriptor d + 1. Returns d. `with_response` false leaves the
    // response buffer for post_response().
    std::uint16_t post_request(const std::string& request, std::uint32_t room = 0x3000, bool with_response = true)
    {
        std::uint16_t d = next_desc(2);
        write(kRequestArea + kSlot * d, request);
        set_desc(d, kRequestArea + kSlot * d, static_cast<std::uint32_t>(request.size()), 0);
        make_available(d);
        if (with_response)
            post_response(static_cast<std::uint16_t>(d + 1), room);
        return d;
    }
    void post_response(std::uint16_t d, std::uint32_t room = 0x3000)
    {
        set_desc(d, kResponseArea + kSlot * d, room, kDescFlagWrite);
        make_available(d);
    }
    // One chain: the request, then the response room. Returns its head.
    std::uint16_t post_one_chain(const std::string& request, std::uint32_t room = 0x3000)
    {
        std::uint16_t d = next_desc(2);
        write(kRequestArea + kSlot * d, request);
        set_desc(d, kRequestArea + kSlot * d, static_cast<std::uint32_t>(request.size()), kDescFlagNext, static_cast<std::uint16_t>(d + 1));
        set_desc(static_cast<std::uint16_t>(d + 1), kResponseArea + kSlot * d, room, kDescFlagWrite);
        make_available(d);
        return d;
    }
    // The response written for the chain whose response buffer is descriptor `d`.
    std::string response(std::uint16_t d, std::uint32_t length, bool one_chain = false)
    {
        std::uint64_t slot = one_chain ? d - 1u : d;
        return std::string(reinterpret_cast<const char*>(at(kResponseArea + kSlot * slot, length)), length);
    }
    std::vector<UsedEntry> take_used()
    {
        std::uint8_t* u = at(kUsed, 6 + 8ull * m_size);
        std::uint16_t idx = __atomic_load_n(reinterpret_cast<std::uint16_t*>(u + 2), __ATOMIC_ACQUIRE);
        std::vector<UsedEntry> out;
        while (m_used_seen != idx) {
            UsedEntry e;
            std::memcpy(&e.head, u + 4 + 8 * (m_used_seen % m_size), 4);
            std::memcpy(&e.length, u + 8 + 8 * (m_used_seen % m_size), 4);
            out.push_back(e);
            ++m_used_seen;
        }
        return out;
    }
    std::uint8_t* at(std::uint64_t gpa, std::uint64_t length) const
    {
        std::uint8_t* p = m_ram.translate(gpa, length);
        if (!p)
            throw std::runtime_error("NSM test ring: address outside guest RAM");
        return p;
    }

private:
    std::uint16_t next_desc(std::uint16_t count)
    {
        std::uint16_t d = m_next_desc;
        m_next_desc = static_cast<std::uint16_t>((m_next_desc + count) % m_size);
        return d;
    }
    void write(std::uint64_t gpa, const std::string& bytes) { std::memcpy(at(gpa, bytes.size()), bytes.data(), bytes.size()); }

    const GuestRam& m_ram;
    std::uint16_t m_size;
    std::uint16_t m_avail_idx { 0 };
    std::uint16_t m_used_seen { 0 };
    std::uint16_t m_next_desc { 0 };
};

struct NsmTestRam {
    GuestMemoryRam view;
};

class NsmTestDriver : private NsmTestRam, public NsmTestRing {
public:
    NsmTestDriver(NsmDevice& device, GuestMemory& memory, std::uint16_t size = NsmDevice::kQueueSize)
        : NsmTestRam { GuestMemoryRam(memory) }
        , NsmTestRing(view, size)
        , m_device(device)
        , m_queue_size(size)
    {
    }

    std::uint32_t read32(std::uint64_t offset) { return vmm::testing::read32(m_device.transport(), offset); }
    void write32(std::uint64_t offset, std::uint32_t value) { vmm::testing::write32(m_device.transport(), offset, value); }
    // The Linux order: reset, ACK, DRIVER, features (VERSION_1 and EVENT_IDX if offered),
    // FEATURES_OK (checked), queue 0, DRIVER_OK.
    bool init(bool event_idx = true)
    {
        write32(mmio::kStatus, 0);
        clear();
        if (read32(mmio::kMagicValue) != mmio::kMagic || read32(mmio::kDeviceId) != NsmDevice::kDeviceId)
            return false;
        write32(mmio::kStatus, status::kAcknowledge);
        write32(mmio::kStatus, status::kAcknowledge | status::kDriver);
        write32(mmio::kDeviceFeaturesSel, 0);
        std::uint64_t features = read32(mmio::kDeviceFeatures);
        write32(mmio::kDeviceFeaturesSel, 1);
        features |= std::uint64_t(read32(mmio::kDeviceFeatures)) << 32;
        std::uint64_t accept = features & (kFeatureVersion1 | (event_idx ? kFeatureEventIdx : 0));
        write32(mmio::kDriverFeaturesSel, 0);
        write32(mmio::kDriverFeatures, static_cast<std::uint32_t>(accept));
        write32(mmio::kDriverFeaturesSel, 1);
        write32(mmio::kDriverFeatures, static_cast<std::uint32_t>(accept >> 32));
        write32(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk);
        if (!(read32(mmio::kStatus) & status::kFeaturesOk))
            return false;
        write32(mmio::kQueueSel, 0);
        if (read32(mmio::kQueueReady) != 0 || read32(mmio::kQueueNumMax) < m_queue_size)
            return false;
        write32(mmio::kQueueNum, m_queue_size);
        write32(mmio::kQueueDescLow, static_cast<std::uint32_t>(kDesc));
        write32(mmio::kQueueDescHigh, 0);
        write32(mmio::kQueueDriverLow, static_cast<std::uint32_t>(kAvail));
        write32(mmio::kQueueDriverHigh, 0);
        write32(mmio::kQueueDeviceLow, static_cast<std::uint32_t>(kUsed));
        write32(mmio::kQueueDeviceHigh, 0);
        write32(mmio::kQueueReady, 1);
        if (read32(mmio::kQueueReady) != 1)
            return false;
        write32(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk | status::kDriverOk);
        return read32(mmio::kStatus) & status::kDriverOk;
    }
    void kick() { write32(mmio::kQueueNotify, 0); }

private:
    NsmDevice& m_device;
    std::uint16_t m_queue_size;
};

} // namespace vmm::virtio::testing
