#include "vmm/virtio/mmio_transport.h"

#include <cstring>

namespace vmm::virtio {

namespace {

void set_low(std::uint64_t& field, std::uint32_t value) { field = (field & 0xffff'ffff'0000'0000ull) | value; }
void set_high(std::uint64_t& field, std::uint32_t value) { field = (field & 0xffff'ffffull) | (std::uint64_t(value) << 32); }

} // namespace

MmioTransport::MmioTransport(const GuestRam& ram, VirtioDevice& device, std::function<void(std::uint16_t)> notify,
    std::function<void()> interrupt)
    : m_ram(ram)
    , m_device(device)
    , m_notify(std::move(notify))
    , m_interrupt(std::move(interrupt))
    , m_offered(device.device_features() | kFeatureVersion1 | kFeatureEventIdx)
{
    for (std::uint16_t i = 0; i < device.queue_count(); ++i)
        m_queues.emplace_back(device.queue_max_size());
    m_queue_registers.resize(device.queue_count());
}

void MmioTransport::mmio_read(std::uint64_t offset, std::uint8_t* data, std::size_t size)
{
    std::memset(data, 0, size);
    if (offset >= mmio::kConfig && offset < mmio::kSize) {
        if (size == 1 || size == 2 || size == 4 || size == 8) {
            std::lock_guard guard(m_lock);
            m_device.read_config(offset - mmio::kConfig, data, size);
        }
        return;
    }
    if (size != 4 || offset % 4 != 0)
        return;
    std::uint32_t value;
    if (offset == mmio::kInterruptStatus) {
        // No lock: the guest's interrupt handler must not wait for a device round.
        value = m_interrupt_status.load();
    } else {
        std::lock_guard guard(m_lock);
        value = read_register(offset);
    }
    std::memcpy(data, &value, 4); // x86: little-endian, as virtio-mmio registers are
}

void MmioTransport::mmio_write(std::uint64_t offset, const std::uint8_t* data, std::size_t size)
{
    if (offset >= mmio::kConfig || size != 4 || offset % 4 != 0)
        return; // config space is read-only for vsock; odd accesses are ignored
    std::uint32_t value;
    std::memcpy(&value, data, 4);
    if (offset == mmio::kQueueNotify) {
        // No lock: this is the hot path; the worker checks everything when it wakes.
        if (value < m_queues.size() && m_notify)
            m_notify(static_cast<std::uint16_t>(value));
        return;
    }
    if (offset == mmio::kInterruptAck) {
        // No lock either: the interrupt handler's other half (an atomic bit clear).
        m_interrupt_status.fetch_and(~value);
        return;
    }
    std::lock_guard guard(m_lock);
    write_register(offset, value);
}

MmioTransport::QueueRegisters* MmioTransport::selected_queue()
{
    return m_queue_sel < m_queue_registers.size() ? &m_queue_registers[m_queue_sel] : nullptr;
}

std::uint32_t MmioTransport::read_register(std::uint64_t offset)
{
    switch (offset) {
    case mmio::kMagicValue:
        return mmio::kMagic;
    case mmio::kVersion:
        return 2;
    case mmio::kDeviceId:
        return m_device.device_id();
    case mmio::kVendorId:
        return mmio::kVendor;
    case mmio::kDeviceFeatures:
        return m_device_features_sel == 0 ? static_cast<std::uint32_t>(m_offered)
            : m_device_features_sel == 1  ? static_cast<std::uint32_t>(m_offered >> 32)
                                          : 0;
    case mmio::kQueueNumMax:
        return selected_queue() ? m_queues[m_queue_sel].max_size() : 0;
    case mmio::kQueueReady:
        return selected_queue() ? selected_queue()->ready : 0;
    case mmio::kStatus:
        return m_status.load();
    case mmio::kShmLenLow:
    case mmio::kShmLenHigh:
    case mmio::kShmBaseLow:
    case mmio::kShmBaseHigh:
        return 0xffff'ffff; // no shared memory regions
    case mmio::kConfigGeneration:
        return 0; // the config (guest CID) never changes while the device exists
    default:
        return 0; // write-only or unknown registers
    }
}

bool MmioTransport::queue_setup_allowed(const QueueRegisters& q) const
{
    std::uint32_t s = m_status.load();
    return (s & status::kFeaturesOk) && !(s & status::kFailed) && !q.ready;
}

void MmioTransport::write_register(std::uint64_t offset, std::uint32_t value)
{
    std::uint32_t s = m_status.load();
    QueueRegisters* q = selected_queue();
    switch (offset) {
    case mmio::kDeviceFeaturesSel:
        m_device_features_sel = value;
        return;
    case mmio::kDriverFeaturesSel:
        m_driver_features_sel = value;
        return;
    case mmio::kDriverFeatures:
        if (!(s & status::kDriver) || (s & status::kFeaturesOk) || m_driver_features_sel > 1)
            return;
        if (m_driver_features_sel == 0)
            set_low(m_driver_features, value);
        else
            set_high(m_driver_features, value);
        m_driver_features &= m_offered; // the driver cannot accept what we did not offer
        return;
    case mmio::kQueueSel:
        m_queue_sel = value;
        return;
    case mmio::kQueueNum:
        if (q && queue_setup_allowed(*q))
            q->addresses.size = static_cast<std::uint16_t>(value > 0xffff ? 0 : value);
        return;
    case mmio::kQueueDescLow:
    case mmio::kQueueDescHigh:
    case mmio::kQueueDriverLow:
    case mmio::kQueueDriverHigh:
    case mmio::kQueueDeviceLow:
    case mmio::kQueueDeviceHigh: {
        if (!q || !queue_setup_allowed(*q))
            return;
        std::uint64_t& field = offset < mmio::kQueueDriverLow ? q->addresses.desc
            : offset < mmio::kQueueDeviceLow                  ? q->addresses.avail
                                                              : q->addresses.used;
        if (offset % 8 == 0)
            set_low(field, value);
        else
            set_high(field, value);
        return;
    }
    case mmio::kQueueReady:
        if (!q)
            return;
        if (value == 1 && queue_setup_allowed(*q)) {
            if (m_queues[m_queue_sel].activate(m_ram, q->addresses, m_driver_features & kFeatureEventIdx))
                q->ready = 1;
            else
                m_status.fetch_or(status::kNeedsReset);
        } else if (value == 0 && q->ready) {
            // Stopping one queue would leave the device without it: only a full reset is clean.
            q->ready = 0;
            m_queues[m_queue_sel].reset();
        }
        return;
    case mmio::kStatus:
        write_status(value);
        return;
    default:
        return;
    }
}

void MmioTransport::write_status(std::uint32_t value)
{
    if (value == 0) {
        reset_locked();
        return;
    }
    std::uint32_t old = m_status.load();
    if ((value & old) != old)
        return; // bits may only be added (or everything cleared with 0)
    std::uint32_t added = value & ~old;
    std::uint32_t next = old;
    if (added & status::kFailed)
        next |= status::kFailed;
    if (added & status::kAcknowledge)
        next |= status::kAcknowledge;
    if ((added & status::kDriver) && (next & status::kAcknowledge))
        next |= status::kDriver;
    if ((added & status::kFeaturesOk) && (next & status::kDriver) && (m_driver_features & kFeatureVersion1))
        next |= status::kFeaturesOk;
    bool activate = false;
    if ((added & status::kDriverOk) && (next & status::kFeaturesOk) && !(next & status::kFailed)) {
        next |= status::kDriverOk;
        activate = true;
    }
    m_status.store(next);
    if (activate)
        m_device.activate(m_queues, m_driver_features);
}

void MmioTransport::reset_locked()
{
    m_device.reset();
    for (Virtqueue& q : m_queues)
        q.reset();
    for (QueueRegisters& r : m_queue_registers)
        r = {};
    m_status.store(0);
    m_interrupt_status.store(0);
    m_device_features_sel = 0;
    m_driver_features_sel = 0;
    m_driver_features = 0;
    m_queue_sel = 0;
    ++m_resets;
}

void MmioTransport::signal_used_buffers()
{
    m_interrupt_status.fetch_or(kInterruptUsedBuffer);
    if (m_interrupt)
        m_interrupt();
}

} // namespace vmm::virtio
