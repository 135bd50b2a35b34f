#include "vmm/vstate/mmio_device_manager.h"

#include "base/error.h"
#include "vmm/arch/machine_arch.h"

#include <cstdio>

namespace vmm {

std::string VirtioMmioSlot::cmdline_fragment() const
{
    char text[80];
    std::snprintf(text, sizeof text, "virtio_mmio.device=4K@0x%llx:%u", static_cast<unsigned long long>(base), irq);
    return text;
}

VirtioMmioSlot MmioDeviceManager::slot(unsigned index)
{
    if (index >= kMaxSlots)
        throw base::Error(base::ErrorKind::Internal, "VIRTIO_MMIO_SLOTS",
            "at most " + std::to_string(kMaxSlots) + " virtio-mmio devices fit the layout");
    const VirtioMmioWindow window = virtio_mmio_window();
    return { window.base + index * kSlotSize, window.first_irq + index };
}

std::string MmioDeviceManager::cmdline_fragments(unsigned count)
{
    std::string text;
    for (unsigned i = 0; i < count; ++i)
        text += " " + slot(i).cmdline_fragment();
    return text;
}

MmioDeviceManager::MmioDeviceManager(VmFd& vm, IoBus& bus, unsigned slots)
    : m_vm(vm)
    , m_bus(bus)
    , m_slots(slots)
{
}

VirtioMmioSlot MmioDeviceManager::attach(const VirtioMmioWiring& device)
{
    if (m_attached >= m_slots)
        throw base::Error(base::ErrorKind::Internal, "VIRTIO_MMIO_SLOTS",
            "the kernel command line announced " + std::to_string(m_slots) + " virtio-mmio device(s); no slot is left");
    VirtioMmioSlot where = slot(m_attached);
    for (std::size_t q = 0; q < device.queue_notify_fds.size(); ++q) {
        try {
            m_vm.add_mmio_ioeventfd(device.queue_notify_fds[q], where.base + kQueueNotifyOffset, 4, q);
        } catch (const base::Error&) {
            // No ioeventfd: the transport signals the same eventfd from the MMIO exit instead.
        }
    }
    m_vm.add_irqfd(device.interrupt_fd, where.irq);
    // Last, so a failure above leaves no pointer to the device on the bus.
    m_bus.add_mmio(where.base, kSlotSize, device.registers);
    ++m_attached;
    return where;
}

} // namespace vmm
