// vmm/arch/arm64/boot_setup.h — lays out what an arm64 Linux kernel expects at entry
// (booting.rst): the Image at a 2 MiB aligned RAM base + text_offset, the device tree in the
// last 2 MiB of RAM and the initrd just below it, and the boot vCPU's registers (PC = the
// Image's first byte, X0 = the device tree, X1-X3 = 0, EL1h with D, A, I, F masked).
// No KVM headers: the register values are computed here (ids as KVM_{GET,SET}_ONE_REG want
// them) and applied by the arm64 back end.
//
// Usage:
//     vmm::arm64::BootLayout layout = vmm::arm64::plan_boot(image, ram, initrd_size);
//     fill the initrd at layout.initrd_address, then
//     vmm::arm64::write_boot_structures(ram, image, layout, tree_spec);   // Image + device tree
//     for (auto [id, value] : vmm::arm64::boot_cpu_registers(layout)) cpu.set_one_reg(id, value);
#pragma once

#include "vmm/arch/arm64/device_tree.h"
#include "vmm/arch/arm64/image.h"
#include "vmm/memory/guest_memory.h"

#include <cstdint>
#include <vector>

namespace vmm::arm64 {

struct BootLayout {
    std::uint64_t kernel_address { 0 };  // RAM base + text_offset: also the entry point
    std::uint64_t kernel_end { 0 };      // kernel_address + image_size
    std::uint64_t initrd_address { 0 };
    std::uint64_t initrd_size { 0 };
    std::uint64_t device_tree_address { 0 };
};

// Chooses addresses in `ram` (which starts at kRamBase); throws base::Error (MEM_TOO_SMALL)
// naming how much memory kernel, initrd and device tree need if they do not fit.
BootLayout plan_boot(const Image& image, const GuestMemory& ram, std::uint64_t initrd_size);

// Copies the Image to its place and writes the device tree (spec.ram_size, initrd_address and
// initrd_size are taken from `ram` and `layout`).
void write_boot_structures(GuestMemory& ram, const Image& image, const BootLayout& layout, DeviceTreeSpec spec);

// KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset in struct kvm_regs / 4).
inline constexpr std::uint64_t kCoreRegisterBase = 0x6030'0000'0010'0000ull;
constexpr std::uint64_t core_register_id(unsigned u32_index) { return kCoreRegisterBase | u32_index; }
inline constexpr std::uint64_t kRegisterX0 = core_register_id(0); // X(n) = core_register_id(2 n)
inline constexpr std::uint64_t kRegisterPc = core_register_id(64);
inline constexpr std::uint64_t kRegisterPstate = core_register_id(66);
// PSR_MODE_EL1h with PSR_{D,A,I,F}_BIT.
inline constexpr std::uint64_t kBootPstate = 0x5 | 0x200 | 0x100 | 0x80 | 0x40;

struct CoreRegister {
    std::uint64_t id;
    std::uint64_t value;
};

// The boot vCPU's registers, in the order to set them.
std::vector<CoreRegister> boot_cpu_registers(const BootLayout& layout);

} // namespace vmm::arm64
