// The arm64 MachineArch (vmm/arch/machine_arch.h): Image + device tree (boot_setup.h), an
// in-kernel GICv3 and the architected timer, the 16550 on MMIO, vCPUs started by PSCI 0.2
// (secondaries powered off until the guest calls CPU_ON). Built only for ARCH=arm64.
#include "vmm/arch/machine_arch.h"

#include "base/hex.h"
#include "vmm/arch/arm64/boot_setup.h"
#include "vmm/arch/arm64/image.h"
#include "vmm/arch/arm64/layout.h"
#include "vmm/devices/serial_16550.h"
#include "vmm/vstate/machine.h"

#include <cstddef>
#include <optional>

namespace vmm {

// The KVM-free register ids (boot_setup.h) are KVM's.
static_assert(arm64::kRegisterX0 == (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.regs[0])));
static_assert(arm64::core_register_id(2) == (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.regs[1])));
static_assert(arm64::kRegisterPc == (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pc)));
static_assert(arm64::kRegisterPstate == (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pstate)));
static_assert(arm64::kBootPstate == (PSR_MODE_EL1h | PSR_D_BIT | PSR_A_BIT | PSR_I_BIT | PSR_F_BIT));

VirtioMmioWindow virtio_mmio_window() { return { arm64::kVirtioMmioBase, arm64::kVirtioFirstSpi }; }

namespace {

class Arm64MachineArch final : public MachineArch {
public:
    Arm64MachineArch(const MachineConfig& config, std::span<const std::uint8_t> kernel)
        : m_image(arm64::Image::parse(kernel))
        , m_vcpus(config.vcpus)
        , m_virtio_devices(config.virtio_mmio_devices)
    {
    }

    std::uint64_t ram_base() const override { return arm64::kRamBase; }

    // The device tree announces the virtio-mmio devices.
    std::string kernel_cmdline(const std::string& cmdline, unsigned) const override { return cmdline; }

    std::uint64_t plan_boot(const GuestMemory& ram, std::uint64_t initrd_size, const std::string&) override
    {
        m_layout = arm64::plan_boot(m_image, ram, initrd_size);
        return m_layout.initrd_address;
    }

    // GICv3 (distributor + one redistributor region for every vCPU); initialised in
    // vcpus_created(). The architected timer needs nothing: KVM emulates it, the DT names its PPIs.
    bool memory_before_interrupt_controller() const override { return false; }

    void create_interrupt_controller(VmFd& vm) override
    {
        m_gic = vm.create_device(KVM_DEV_TYPE_ARM_VGIC_V3);
        const std::uint64_t distributor = arm64::kGicDistributorAddress;
        const std::uint64_t redistributors = arm64::kGicRedistributorAddress;
        const std::uint32_t interrupts = arm64::kGicInterruptCount;
        VmFd::set_device_attr(m_gic.get(), KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &distributor);
        VmFd::set_device_attr(m_gic.get(), KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redistributors);
        VmFd::set_device_attr(m_gic.get(), KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &interrupts);
    }

    // Only the UART: no keyboard controller, CMOS or port 0x80 on arm64 (PSCI resets and powers off).
    void attach_platform_devices(IoBus& bus, const PlatformDevices& devices) override
    {
        bus.add_mmio(arm64::kUartAddress, arm64::kUartSize, &devices.serial);
    }

    void set_console_irq(VmFd& vm, bool level) override
    {
        vm.set_irq_line(KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | (arm64::kGicSpiBase + arm64::kUartSpi), level);
    }

    void write_boot_structures(GuestMemory& ram, const std::string& cmdline) override
    {
        arm64::write_boot_structures(ram, m_image, m_layout, { .vcpus = m_vcpus, .bootargs = cmdline, .virtio_devices = m_virtio_devices });
    }

    VcpuFd create_vcpu(const KvmSystem& kvm, VmFd& vm, unsigned index) override
    {
        if (!m_target)
            m_target = vm.arm_preferred_target();
        kvm_vcpu_init init = *m_target;
        init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
        if (index != 0)
            init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF; // until the guest's PSCI CPU_ON
        VcpuFd cpu = vm.create_vcpu(index, kvm.vcpu_mmap_size());
        cpu.arm_init(init);
        if (index == 0) {
            for (const arm64::CoreRegister& r : arm64::boot_cpu_registers(m_layout))
                cpu.set_one_reg(r.id, r.value);
        }
        return cpu;
    }

    void vcpus_created(VmFd&) override
    {
        VmFd::set_device_attr(m_gic.get(), KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, nullptr);
    }

    std::string program_counter(VcpuFd& cpu) const override
    {
        return " at pc " + base::hex_u64(cpu.one_reg(arm64::kRegisterPc));
    }

private:
    arm64::Image m_image;
    unsigned m_vcpus;
    unsigned m_virtio_devices;
    arm64::BootLayout m_layout;
    base::UniqueFd m_gic;
    std::optional<kvm_vcpu_init> m_target; // KVM_ARM_PREFERRED_TARGET, once per machine
};

} // namespace

std::unique_ptr<MachineArch> MachineArch::create(const MachineConfig& config, std::span<const std::uint8_t> kernel)
{
    return std::make_unique<Arm64MachineArch>(config, kernel);
}

} // namespace vmm
