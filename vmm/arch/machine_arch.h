// vmm/arch/machine_arch.h — what the Machine (vmm/vstate/machine.cc, arch-neutral) asks of the
// architecture it runs on. One implementation per architecture, side by side:
// vmm/arch/x86/machine_arch.cc (bzImage, zero page, MP table, PIC/IOAPIC/PIT, port-I/O UART)
// and vmm/arch/arm64/machine_arch.cc (Image, device tree, GICv3, arch timer, MMIO UART); the
// build links the one ARCH names (vmm/module.mk).
//
// The Machine calls, in this order:
//     auto arch = MachineArch::create(config, kernel);    // checks the kernel, nothing reserved yet
//     ram = GuestMemory::create({ ..., .guest_base = arch->ram_base() });
//     cmdline = arch->kernel_cmdline(config.cmdline, config.virtio_mmio_devices);
//     initrd_address = arch->plan_boot(ram, initrd_size, cmdline);
//     (guest memory registered here when memory_before_interrupt_controller())
//     arch->create_interrupt_controller(vm);               // before any vCPU
//     (else here)
//     arch->attach_platform_devices(bus, devices);         // the console UART and the rest
//     (load the initrd) arch->write_boot_structures(ram, cmdline);
//     arch->create_vcpu(kvm, vm, i) for each vCPU, then arch->vcpus_created(vm);
// and, from a vCPU thread, arch->set_console_irq(vm, level) and arch->program_counter(cpu).
#pragma once

#include "vmm/devices/io_bus.h"
#include "vmm/kvm/kvm.h"
#include "vmm/memory/guest_memory.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace vmm {

struct MachineConfig;
class Serial16550;
class KeyboardResetPort;
class CmosClock;
class DebugPort;

// Where virtio-mmio slot i lives: base + i × 4 KiB, interrupt first_irq + i (the GSI an irqfd
// takes: an IOAPIC pin on x86, an SPI number on arm64).
struct VirtioMmioWindow {
    std::uint64_t base;
    std::uint32_t first_irq;
};
VirtioMmioWindow virtio_mmio_window();

// The devices every machine owns; the architecture decides which it wires and where.
struct PlatformDevices {
    Serial16550& serial;
    KeyboardResetPort& keyboard;
    CmosClock& cmos;
    DebugPort& debug;
};

class MachineArch {
public:
    // Parses and checks the kernel image; throws base::Error naming the problem. `kernel` must
    // outlive the MachineArch.
    static std::unique_ptr<MachineArch> create(const MachineConfig& config, std::span<const std::uint8_t> kernel);
    virtual ~MachineArch() = default;

    // Where guest RAM starts (GuestMemory::Options::guest_base).
    virtual std::uint64_t ram_base() const = 0;
    // The command line the guest gets: x86 appends virtio_mmio.device= fragments, arm64 has
    // the device tree announce the devices.
    virtual std::string kernel_cmdline(const std::string& cmdline, unsigned virtio_devices) const = 0;
    // Chooses where kernel, initrd and boot structures go; returns the initrd's address.
    // Throws base::Error (MEM_TOO_SMALL) when they do not fit.
    virtual std::uint64_t plan_boot(const GuestMemory& ram, std::uint64_t initrd_size, const std::string& cmdline) = 0;
    virtual void create_interrupt_controller(VmFd& vm) = 0;
    // Whether guest memory is registered before create_interrupt_controller() (x86: on nested
    // hosts the first memory slot made after KVM_CREATE_IRQCHIP costs 5-7 ms, before it 0.1 ms)
    // or after it (arm64: its daemon crashed with the GICv3 made after the memory slots; not
    // yet understood, so arm64 keeps the order it was tested with).
    virtual bool memory_before_interrupt_controller() const = 0;
    virtual void attach_platform_devices(IoBus& bus, const PlatformDevices& devices) = 0;
    virtual void set_console_irq(VmFd& vm, bool level) = 0;
    // The kernel and its boot structures, after the initrd is in place.
    virtual void write_boot_structures(GuestMemory& ram, const std::string& cmdline) = 0;
    // Creates vCPU `index` and puts it in its boot state.
    virtual VcpuFd create_vcpu(const KvmSystem& kvm, VmFd& vm, unsigned index) = 0;
    // After every vCPU exists (arm64: the GIC is initialised then).
    virtual void vcpus_created(VmFd& vm) = 0;
    // " at rip 0x..." / " at pc 0x...", for error reports; throws if it cannot be read.
    virtual std::string program_counter(VcpuFd& cpu) const = 0;
};

} // namespace vmm
