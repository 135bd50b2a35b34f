// vmm/virtio/mmio_transport.h — the virtio-mmio version 2 register interface (virtio 1.2 §4.2.2)
// in front of one VirtioDevice.
//
// Registers: magic "virt", version 2, device/vendor id, feature words (the device's bits plus
// VIRTIO_F_VERSION_1 and VIRTIO_F_EVENT_IDX), queue select/size/addresses/ready, QueueNotify,
// InterruptStatus/ACK, Status, ConfigGeneration, then the device's config space at 0x100.
// Only aligned 32-bit accesses reach the registers (config space also takes 1, 2 and 8 bytes);
// anything else reads 0 and is ignored. The guest's writes are honoured only in the right phase:
// driver features between DRIVER and FEATURES_OK, queue setup after FEATURES_OK while that queue
// is not ready, status bits only in order (ACK → DRIVER → FEATURES_OK → DRIVER_OK); FEATURES_OK
// is refused if the driver dropped VERSION_1. QueueReady=1 validates the rings against guest
// RAM (else the queue stays off and DEVICE_NEEDS_RESET is set). Writing 0 to Status resets the
// device and its queues; the driver may initialise it again.
//
// Threads: vCPU threads call mmio_read/mmio_write; the device's worker takes lock() while it
// uses the queues. QueueNotify calls `notify(queue)` (the path without a KVM ioeventfd);
// signal_used_buffers() sets InterruptStatus bit 0 and calls `interrupt()` (an irqfd write).
//
// Usage:
//     vmm::virtio::MmioTransport transport(ram, device,
//         [&](std::uint16_t q) { kick(q); }, [&] { write_eventfd(irq_fd); });
//     bus.add_mmio(0xd0000000, 0x1000, &transport);
#pragma once

#include "vmm/devices/io_bus.h"
#include "vmm/virtio/virtio_device.h"

#include <atomic>
#include <functional>
#include <mutex>

namespace vmm::virtio {

namespace mmio {
inline constexpr std::uint64_t kMagicValue = 0x000;
inline constexpr std::uint64_t kVersion = 0x004;
inline constexpr std::uint64_t kDeviceId = 0x008;
inline constexpr std::uint64_t kVendorId = 0x00c;
inline constexpr std::uint64_t kDeviceFeatures = 0x010;
inline constexpr std::uint64_t kDeviceFeaturesSel = 0x014;
inline constexpr std::uint64_t kDriverFeatures = 0x020;
inline constexpr std::uint64_t kDriverFeaturesSel = 0x024;
inline constexpr std::uint64_t kQueueSel = 0x030;
inline constexpr std::uint64_t kQueueNumMax = 0x034;
inline constexpr std::uint64_t kQueueNum = 0x038;
inline constexpr std::uint64_t kQueueReady = 0x044;
inline constexpr std::uint64_t kQueueNotify = 0x050;
inline constexpr std::uint64_t kInterruptStatus = 0x060;
inline constexpr std::uint64_t kInterruptAck = 0x064;
inline constexpr std::uint64_t kStatus = 0x070;
inline constexpr std::uint64_t kQueueDescLow = 0x080;
inline constexpr std::uint64_t kQueueDescHigh = 0x084;
inline constexpr std::uint64_t kQueueDriverLow = 0x090;
inline constexpr std::uint64_t kQueueDriverHigh = 0x094;
inline constexpr std::uint64_t kQueueDeviceLow = 0x0a0;
inline constexpr std::uint64_t kQueueDeviceHigh = 0x0a4;
inline constexpr std::uint64_t kShmSel = 0x0ac;
inline constexpr std::uint64_t kShmLenLow = 0x0b0;
inline constexpr std::uint64_t kShmLenHigh = 0x0b4;
inline constexpr std::uint64_t kShmBaseLow = 0x0b8;
inline constexpr std::uint64_t kShmBaseHigh = 0x0bc;
inline constexpr std::uint64_t kConfigGeneration = 0x0fc;
inline constexpr std::uint64_t kConfig = 0x100;
inline constexpr std::uint64_t kSize = 0x1000;

inline constexpr std::uint32_t kMagic = 0x74726976; // "virt"
inline constexpr std::uint32_t kVendor = 0x4d565451; // "QTVM"
} // namespace mmio

namespace status {
inline constexpr std::uint32_t kAcknowledge = 1;
inline constexpr std::uint32_t kDriver = 2;
inline constexpr std::uint32_t kDriverOk = 4;
inline constexpr std::uint32_t kFeaturesOk = 8;
inline constexpr std::uint32_t kNeedsReset = 64;
inline constexpr std::uint32_t kFailed = 128;
} // namespace status

inline constexpr std::uint32_t kInterruptUsedBuffer = 1;
inline constexpr std::uint32_t kInterruptConfigChange = 2;

class MmioTransport final : public MmioDevice {
public:
    MmioTransport(const GuestRam& ram, VirtioDevice& device, std::function<void(std::uint16_t queue)> notify,
        std::function<void()> interrupt);

    void mmio_read(std::uint64_t offset, std::uint8_t* data, std::size_t size) override;
    void mmio_write(std::uint64_t offset, const std::uint8_t* data, std::size_t size) override;

    // Held by the device's worker while it uses the queues, and by every register access
    // except the three a running guest uses all the time: QueueNotify, InterruptStatus and
    // InterruptAck (atomics; a vCPU never waits for a device round).
    std::mutex& lock() { return m_lock; }
    std::vector<Virtqueue>& queues() { return m_queues; }
    std::uint32_t status() const { return m_status.load(); }
    bool driver_ok() const { return m_status.load() & status::kDriverOk; }
    std::uint64_t offered_features() const { return m_offered; }
    std::uint64_t negotiated_features() const { return m_driver_features; }
    std::uint32_t interrupt_status() const { return m_interrupt_status.load(); }
    // Used buffers were published: set InterruptStatus bit 0 and raise the interrupt.
    void signal_used_buffers();
    std::uint64_t resets() const { return m_resets; }

private:
    struct QueueRegisters {
        QueueAddresses addresses;
        std::uint32_t ready { 0 };
    };
    std::uint32_t read_register(std::uint64_t offset);
    void write_register(std::uint64_t offset, std::uint32_t value);
    void write_status(std::uint32_t value);
    void reset_locked();
    QueueRegisters* selected_queue();
    bool queue_setup_allowed(const QueueRegisters& q) const;

    const GuestRam& m_ram;
    VirtioDevice& m_device;
    std::function<void(std::uint16_t)> m_notify;
    std::function<void()> m_interrupt;
    std::uint64_t m_offered;

    std::mutex m_lock;
    std::vector<Virtqueue> m_queues;
    std::vector<QueueRegisters> m_queue_registers;
    std::atomic<std::uint32_t> m_status { 0 };
    std::atomic<std::uint32_t> m_interrupt_status { 0 };
    std::uint32_t m_device_features_sel { 0 };
    std::uint32_t m_driver_features_sel { 0 };
    std::uint64_t m_driver_features { 0 };
    std::uint32_t m_queue_sel { 0 };
    std::uint64_t m_resets { 0 };
};

} // namespace vmm::virtio
