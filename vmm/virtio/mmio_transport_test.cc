// virtio-mmio v2 registers in front of a stub device: identity, feature negotiation and its
// phase rules, queue setup and validation, odd accesses, interrupts, reset and re-initialisation.
#include "vmm/virtio/mmio_transport.h"

#include <chrono>
#include <cstring>
#include <doctest/doctest.h>
#include <future>

using namespace vmm::virtio;

namespace {

struct StubDevice final : VirtioDevice {
    std::uint32_t device_id() const override { return 19; }
    std::uint64_t device_features() const override { return 1; }
    std::uint16_t queue_count() const override { return 2; }
    std::uint16_t queue_max_size() const override { return 64; }
    void read_config(std::uint64_t offset, std::uint8_t* data, std::size_t size) const override
    {
        for (std::size_t i = 0; i < size; ++i)
            data[i] = offset + i < 8 ? static_cast<std::uint8_t>(0x10 + offset + i) : 0;
    }
    void activate(std::vector<Virtqueue>& q, std::uint64_t f) override
    {
        ++activations;
        features = f;
        ready_queues = 0;
        for (auto& x : q)
            ready_queues += x.ready();
    }
    void reset() override { ++resets; }
    int activations = 0, resets = 0, ready_queues = 0;
    std::uint64_t features = 0;
};

struct Fixture {
    vmm::GuestMemory ram = vmm::GuestMemory::create({ .size = 1 << 20, .page_size = 4096, .numa_node = -1, .lock = false });
    GuestMemoryRam view { ram };
    StubDevice device;
    std::vector<std::uint16_t> notified;
    int interrupts = 0;
    MmioTransport t { view, device, [this](std::uint16_t q) { notified.push_back(q); }, [this] { ++interrupts; } };

    std::uint32_t rd(std::uint64_t off, std::size_t size = 4)
    {
        std::uint8_t b[8] = {};
        t.mmio_read(off, b, size);
        std::uint32_t v;
        std::memcpy(&v, b, 4);
        return v;
    }
    void wr(std::uint64_t off, std::uint32_t v, std::size_t size = 4)
    {
        std::uint8_t b[8] = {};
        std::memcpy(b, &v, 4);
        t.mmio_write(off, b, size);
    }
    void features(std::uint64_t f)
    {
        wr(mmio::kDriverFeaturesSel, 0);
        wr(mmio::kDriverFeatures, static_cast<std::uint32_t>(f));
        wr(mmio::kDriverFeaturesSel, 1);
        wr(mmio::kDriverFeatures, static_cast<std::uint32_t>(f >> 32));
    }
    void setup_queue(std::uint16_t q, std::uint64_t base, std::uint16_t size = 64)
    {
        wr(mmio::kQueueSel, q);
        wr(mmio::kQueueNum, size);
        wr(mmio::kQueueDescLow, static_cast<std::uint32_t>(base));
        wr(mmio::kQueueDescHigh, static_cast<std::uint32_t>(base >> 32));
        wr(mmio::kQueueDriverLow, static_cast<std::uint32_t>(base + 0x1000));
        wr(mmio::kQueueDriverHigh, static_cast<std::uint32_t>((base + 0x1000) >> 32));
        wr(mmio::kQueueDeviceLow, static_cast<std::uint32_t>(base + 0x2000));
        wr(mmio::kQueueDeviceHigh, static_cast<std::uint32_t>((base + 0x2000) >> 32));
        wr(mmio::kQueueReady, 1);
    }
    void full_init()
    {
        wr(mmio::kStatus, 0);
        wr(mmio::kStatus, status::kAcknowledge);
        wr(mmio::kStatus, status::kAcknowledge | status::kDriver);
        features(kFeatureVersion1 | kFeatureEventIdx);
        wr(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk);
        setup_queue(0, 0x10000);
        setup_queue(1, 0x20000);
        wr(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk | status::kDriverOk);
    }
};

} // namespace

TEST_CASE("mmio: identity registers and offered features")
{
    Fixture f;
    CHECK(f.rd(mmio::kMagicValue) == 0x74726976);
    CHECK(f.rd(mmio::kVersion) == 2);
    CHECK(f.rd(mmio::kDeviceId) == 19);
    f.wr(mmio::kDeviceFeaturesSel, 0);
    CHECK(f.rd(mmio::kDeviceFeatures) == ((1u << 29) | 1u));
    f.wr(mmio::kDeviceFeaturesSel, 1);
    CHECK(f.rd(mmio::kDeviceFeatures) == 1u); // VERSION_1 = bit 32
    f.wr(mmio::kDeviceFeaturesSel, 7);
    CHECK(f.rd(mmio::kDeviceFeatures) == 0);
    f.wr(mmio::kQueueSel, 0);
    CHECK(f.rd(mmio::kQueueNumMax) == 64);
    f.wr(mmio::kQueueSel, 2);
    CHECK(f.rd(mmio::kQueueNumMax) == 0); // no such queue
    CHECK(f.rd(mmio::kShmLenLow) == 0xffff'ffff);
}

TEST_CASE("mmio: only aligned 32-bit register accesses count; config space is byte-addressable")
{
    Fixture f;
    CHECK(f.rd(mmio::kMagicValue, 2) == 0);
    CHECK(f.rd(mmio::kMagicValue + 1, 4) == 0);
    f.wr(mmio::kStatus, status::kAcknowledge, 1);
    CHECK(f.rd(mmio::kStatus) == 0);
    CHECK(f.rd(mmio::kConfig, 1) == 0x10);
    CHECK(f.rd(mmio::kConfig + 4, 4) == 0x17161514);
    CHECK(f.rd(mmio::kConfig + 0x100, 4) == 0);
    CHECK(f.rd(mmio::kConfig, 3) == 0);
}

TEST_CASE("mmio: full Linux-order initialisation activates the device with the negotiated features")
{
    Fixture f;
    f.full_init();
    CHECK(f.rd(mmio::kStatus) == (status::kAcknowledge | status::kDriver | status::kFeaturesOk | status::kDriverOk));
    CHECK(f.device.activations == 1);
    CHECK(f.device.ready_queues == 2);
    CHECK(f.device.features == (kFeatureVersion1 | kFeatureEventIdx));
    f.wr(mmio::kQueueNotify, 1);
    f.wr(mmio::kQueueNotify, 9); // no such queue: ignored
    CHECK(f.notified == std::vector<std::uint16_t> { 1 });
}

TEST_CASE("mmio: FEATURES_OK is refused without VERSION_1, and features are fixed after it")
{
    Fixture f;
    f.wr(mmio::kStatus, status::kAcknowledge);
    f.features(kFeatureVersion1); // before DRIVER: ignored
    f.wr(mmio::kStatus, status::kAcknowledge | status::kDriver);
    f.features(kFeatureEventIdx | (1ull << 40)); // no VERSION_1; bit 40 was never offered
    f.wr(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk);
    CHECK((f.rd(mmio::kStatus) & status::kFeaturesOk) == 0);
    CHECK(f.t.negotiated_features() == kFeatureEventIdx);
    f.features(kFeatureVersion1);
    f.wr(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk);
    CHECK((f.rd(mmio::kStatus) & status::kFeaturesOk) != 0);
    f.features(kFeatureVersion1 | kFeatureEventIdx); // after FEATURES_OK: ignored
    CHECK(f.t.negotiated_features() == kFeatureVersion1);
    // DRIVER_OK cannot come before FEATURES_OK, nor bits be taken away.
    f.wr(mmio::kStatus, status::kAcknowledge);
    CHECK(f.rd(mmio::kStatus) == (status::kAcknowledge | status::kDriver | status::kFeaturesOk));
}

TEST_CASE("mmio: queue setup only between FEATURES_OK and ready; bad rings stay off")
{
    Fixture f;
    f.setup_queue(0, 0x10000); // before FEATURES_OK: ignored
    f.wr(mmio::kQueueSel, 0);
    CHECK(f.rd(mmio::kQueueReady) == 0);
    f.wr(mmio::kStatus, status::kAcknowledge);
    f.wr(mmio::kStatus, status::kAcknowledge | status::kDriver);
    f.features(kFeatureVersion1);
    f.wr(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk);
    f.setup_queue(0, 0xfff0'0000ull); // outside RAM
    CHECK(f.rd(mmio::kQueueReady) == 0);
    CHECK((f.rd(mmio::kStatus) & status::kNeedsReset) != 0);
    f.setup_queue(1, 0x20000, 48); // not a power of two
    CHECK(f.rd(mmio::kQueueReady) == 0);
    f.setup_queue(1, 0x20000);
    CHECK(f.rd(mmio::kQueueReady) == 1);
    f.wr(mmio::kQueueDescLow, 0x5000); // while ready: ignored
    CHECK(f.t.queues()[1].addresses().desc == 0x20000);
    f.wr(mmio::kQueueReady, 0);
    CHECK(f.rd(mmio::kQueueReady) == 0);
    CHECK_FALSE(f.t.queues()[1].ready());
}

TEST_CASE("mmio: interrupt status is set by the device and cleared by ACK")
{
    Fixture f;
    f.full_init();
    f.t.signal_used_buffers();
    CHECK(f.interrupts == 1);
    CHECK(f.rd(mmio::kInterruptStatus) == 1);
    f.wr(mmio::kInterruptAck, 1);
    CHECK(f.rd(mmio::kInterruptStatus) == 0);
}

TEST_CASE("mmio: the guest's interrupt handler never waits for a device round (status and ACK take no lock)")
{
    // The device's worker holds the transport lock for a whole round; a vCPU taking the
    // interrupt reads InterruptStatus and writes InterruptAck and must not stall behind it.
    Fixture f;
    f.full_init();
    f.t.signal_used_buffers();
    std::unique_lock round(f.t.lock());
    auto handler = std::async(std::launch::async, [&] {
        std::uint32_t status = f.rd(mmio::kInterruptStatus);
        f.wr(mmio::kInterruptAck, status);
        return status;
    });
    bool finished = handler.wait_for(std::chrono::seconds(2)) == std::future_status::ready;
    round.unlock(); // lets a blocked handler finish either way
    CHECK(finished);
    CHECK(handler.get() == 1);
    CHECK(f.t.interrupt_status() == 0);
}

TEST_CASE("mmio: writing 0 to Status resets device and queues; the driver can initialise again")
{
    Fixture f;
    f.full_init();
    f.t.signal_used_buffers();
    f.wr(mmio::kStatus, 0);
    CHECK(f.device.resets == 2);
    CHECK(f.rd(mmio::kStatus) == 0);
    CHECK(f.rd(mmio::kInterruptStatus) == 0);
    f.wr(mmio::kQueueSel, 0);
    CHECK(f.rd(mmio::kQueueReady) == 0);
    CHECK_FALSE(f.t.queues()[0].ready());
    CHECK(f.t.negotiated_features() == 0);
    f.full_init();
    CHECK(f.device.activations == 2);
    CHECK(f.device.ready_queues == 2);
}
