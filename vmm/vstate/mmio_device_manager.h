// vmm/vstate/mmio_device_manager.h — wires virtio-mmio devices into a VM: a slot (4 KiB of MMIO
// in the architecture's window, vmm/arch/machine_arch.h: x86 0xd0000000 + 4 KiB × index, IRQ
// 5 + index; arm64 0x02000000 + 4 KiB × index, SPI 16 + index), the device's registers on the I/O bus, one KVM
// ioeventfd per queue on QueueNotify (datamatch = queue index), an irqfd on the slot's IRQ, and
// the kernel command-line fragment through which the guest finds it. Devices never see the
// Machine or KVM: they hand over their registers and eventfds (VirtioMmioWiring) and the core
// does the rest, as Firecracker's device_manager/mmio.rs does.
//
// The command line is written with the boot structures, before any device exists, so the
// Machine is told how many slots to announce (MachineConfig::virtio_mmio_devices) and the
// devices fill them in order afterwards, before Machine::start().
//
// Usage:
//     config.virtio_mmio_devices = 1;                   // the command line gets slot 0's fragment
//     auto machine = vmm::Machine::create(config, image);
//     auto vsock = vmm::VsockDevice::create(std::make_unique<virtio::GuestMemoryRam>(machine->memory()), vc);
//     machine->mmio_devices().attach(vsock->mmio_wiring());   // slot 0: 0xd0000000, IRQ 5
#pragma once

#include "vmm/devices/io_bus.h"
#include "vmm/kvm/kvm.h"

#include <cstdint>
#include <string>
#include <vector>

namespace vmm {

// Where one virtio-mmio device lives in the guest.
struct VirtioMmioSlot {
    std::uint64_t base { 0 };
    std::uint32_t irq { 0 };
    // "virtio_mmio.device=4K@0xd0000000:5": how Linux learns of the device (no ACPI, no DT).
    std::string cmdline_fragment() const;
};

// What a virtio-mmio device hands over to be wired.
struct VirtioMmioWiring {
    MmioDevice* registers { nullptr };  // its transport: 4 KiB of registers and config space
    std::vector<int> queue_notify_fds;  // queue i's kick eventfd (signalled by KVM on QueueNotify = i)
    int interrupt_fd { -1 };            // written by the device to raise its interrupt
};

class MmioDeviceManager {
public:
    static constexpr std::uint64_t kSlotSize = 0x1000;
    static constexpr std::uint64_t kQueueNotifyOffset = 0x50; // virtio 1.2 §4.2.2, 4-byte write
    static constexpr unsigned kMaxSlots = 16;                  // x86 IRQ 5..20, below the IOAPIC's 24 pins; arm64 SPI 16..31

    // Slot `index`; throws base::Error (Internal) past kMaxSlots.
    static VirtioMmioSlot slot(unsigned index);
    // The command-line fragments of the first `count` slots, each preceded by a space.
    static std::string cmdline_fragments(unsigned count);

    // `slots` is how many devices the command line announced.
    MmioDeviceManager(VmFd& vm, IoBus& bus, unsigned slots);

    // Wires a device into the next free slot and returns that slot. A queue whose ioeventfd KVM
    // refuses still works: the transport signals the same eventfd from the MMIO exit. Throws
    // base::Error when every announced slot is taken, or when KVM refuses the irqfd (nothing is
    // left on the bus then).
    VirtioMmioSlot attach(const VirtioMmioWiring& device);
    unsigned attached() const { return m_attached; }

private:
    VmFd& m_vm;
    IoBus& m_bus;
    unsigned m_slots;
    unsigned m_attached { 0 };
};

} // namespace vmm
