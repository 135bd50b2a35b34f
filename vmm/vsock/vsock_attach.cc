// VsockDevice::attach: the KVM wiring, kept apart so tests and the fuzzer need no Machine.
#include "vmm/vsock/vsock_device.h"

#include "base/error.h"
#include "vmm/vstate/machine.h"

namespace vmm {

std::unique_ptr<VsockDevice> VsockDevice::attach(Machine& machine, const VsockConfig& config)
{
    auto device = create(std::make_unique<virtio::GuestMemoryRam>(machine.memory()), config);
    for (std::uint16_t q = 0; q < device->queue_count(); ++q) {
        try {
            machine.vm().add_mmio_ioeventfd(device->kick_fd(q), config.mmio_base + virtio::mmio::kQueueNotify, 4, q);
        } catch (const base::Error&) {
            // No ioeventfd: the transport signals the same eventfd from the MMIO exit instead.
        }
    }
    machine.vm().add_irqfd(device->interrupt_fd(), config.gsi);
    // Last, so a failure above leaves no pointer to a destroyed device on the bus.
    machine.bus().add_mmio(config.mmio_base, virtio::mmio::kSize, &device->transport());
    device->start();
    return device;
}

} // namespace vmm
