// The x86-64 MachineArch (vmm/arch/machine_arch.h): bzImage + zero page + MP table, the
// in-kernel PIC/IOAPIC and PIT, COM1 and the legacy ports on port I/O, CPUID per vCPU.
#include "vmm/arch/machine_arch.h"

#include "base/hex.h"
#include "vmm/arch/x86/boot_setup.h"
#include "vmm/arch/x86/bzimage.h"
#include "vmm/arch/x86/layout.h"
#include "vmm/arch/x86/vcpu_setup.h"
#include "vmm/devices/legacy_ports.h"
#include "vmm/devices/serial_16550.h"
#include "vmm/vstate/machine.h"
#include "vmm/vstate/mmio_device_manager.h"

#include <optional>

namespace vmm {

VirtioMmioWindow virtio_mmio_window() { return { x86::kVirtioMmioBase, x86::kVirtioFirstIrq }; }

namespace {

class X86MachineArch final : public MachineArch {
public:
    X86MachineArch(const MachineConfig& config, std::span<const std::uint8_t> kernel)
        : m_kernel(x86::BzImage::parse(kernel))
        , m_vcpus(config.vcpus)
        , m_quirks(config.cpuid_quirks)
    {
    }

    std::uint64_t ram_base() const override { return 0; }

    std::string kernel_cmdline(const std::string& cmdline, unsigned virtio_devices) const override
    {
        return cmdline + MmioDeviceManager::cmdline_fragments(virtio_devices);
    }

    std::uint64_t plan_boot(const GuestMemory& ram, std::uint64_t initrd_size, const std::string& cmdline) override
    {
        m_layout = x86::plan_boot(m_kernel, ram, initrd_size, cmdline);
        return m_layout.initrd_address;
    }

    bool memory_before_interrupt_controller() const override { return true; }

    void create_interrupt_controller(VmFd& vm) override
    {
        vm.set_identity_map_address(x86::kIdentityMapAddress);
        vm.set_tss_address(x86::kTssAddress);
        vm.create_irqchip();
        vm.create_pit();
    }

    void attach_platform_devices(IoBus& bus, const PlatformDevices& devices) override
    {
        bus.add_ports(x86::kSerialPort, 8, &devices.serial);
        bus.add_ports(0x60, 5, &devices.keyboard);
        bus.add_ports(0x70, 2, &devices.cmos);
        bus.add_ports(0x80, 1, &devices.debug);
    }

    void set_console_irq(VmFd& vm, bool level) override { vm.set_irq_line(x86::kSerialIrq, level); }

    void write_boot_structures(GuestMemory& ram, const std::string& cmdline) override
    {
        x86::write_boot_structures(ram, m_kernel, m_layout, cmdline, m_vcpus);
    }

    VcpuFd create_vcpu(const KvmSystem& kvm, VmFd& vm, unsigned index) override
    {
        if (!m_supported)
            m_supported = kvm.supported_cpuid();
        VcpuFd cpu = vm.create_vcpu(index, kvm.vcpu_mmap_size());
        cpu.set_cpuid(x86::guest_cpuid(*m_supported, index, m_vcpus, m_quirks));
        if (index == 0)
            x86::setup_boot_cpu(cpu, m_layout.entry_point);
        x86::setup_local_interrupts(cpu);
        return cpu;
    }

    void vcpus_created(VmFd&) override { }

    std::string program_counter(VcpuFd& cpu) const override
    {
        return " at rip " + base::hex_u64(cpu.regs().rip);
    }

private:
    x86::BzImage m_kernel;
    unsigned m_vcpus;
    x86::CpuidQuirks m_quirks;
    x86::BootLayout m_layout;
    std::optional<CpuidTable> m_supported; // KVM_GET_SUPPORTED_CPUID, once per machine
};

} // namespace

std::unique_ptr<MachineArch> MachineArch::create(const MachineConfig& config, std::span<const std::uint8_t> kernel)
{
    return std::make_unique<X86MachineArch>(config, kernel);
}

} // namespace vmm
