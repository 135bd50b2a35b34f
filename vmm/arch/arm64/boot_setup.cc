#include "vmm/arch/arm64/boot_setup.h"

#include "base/error.h"
#include "vmm/arch/arm64/layout.h"

#include <string>

namespace vmm::arm64 {

namespace {

constexpr std::uint64_t kInitrdAlignment = 4096;

std::uint64_t align_down(std::uint64_t value, std::uint64_t alignment) { return value & ~(alignment - 1); }
std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment) { return align_down(value + alignment - 1, alignment); }

std::string mib(std::uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

} // namespace

BootLayout plan_boot(const Image& image, const GuestMemory& ram, std::uint64_t initrd_size)
{
    const std::uint64_t ram_end = kRamBase + ram.size();
    BootLayout layout;
    layout.kernel_address = kRamBase + image.text_offset();
    layout.kernel_end = layout.kernel_address + image.memory_size();
    layout.initrd_size = initrd_size;
    // Top down: the device tree in the last whole 2 MiB of RAM, the initrd below it; both must
    // stay clear of the kernel (image_size covers its .bss).
    const std::uint64_t tree_top = align_down(ram_end, kDeviceTreeMax);
    const std::uint64_t needed = align_up(image.text_offset() + image.memory_size(), kInitrdAlignment)
        + align_up(initrd_size, kInitrdAlignment) + kDeviceTreeMax;
    const bool one_region = ram.regions().size() == 1 && ram.regions().front().guest_address == kRamBase;
    if (!one_region || tree_top < kRamBase + needed)
        throw base::Error(base::ErrorKind::InvalidInput, "MEM_TOO_SMALL",
            "the kernel (" + mib(image.memory_size()) + "), initrd (" + mib(initrd_size) + ") and device tree need "
                + mib(needed + kDeviceTreeMax) + " of enclave memory; give it more (--memory)");
    layout.device_tree_address = tree_top - kDeviceTreeMax;
    layout.initrd_address = align_down(layout.device_tree_address - initrd_size, kInitrdAlignment);
    return layout;
}

void write_boot_structures(GuestMemory& ram, const Image& image, const BootLayout& layout, DeviceTreeSpec spec)
{
    ram.write(layout.kernel_address, image.data(), image.file_size());
    spec.ram_size = ram.size();
    spec.initrd_address = layout.initrd_address;
    spec.initrd_size = layout.initrd_size;
    std::vector<std::uint8_t> tree = build_device_tree(spec);
    ram.write(layout.device_tree_address, tree.data(), tree.size());
}

std::vector<CoreRegister> boot_cpu_registers(const BootLayout& layout)
{
    return {
        { kRegisterPstate, kBootPstate },
        { core_register_id(0), layout.device_tree_address },
        { core_register_id(2), 0 },
        { core_register_id(4), 0 },
        { core_register_id(6), 0 },
        { kRegisterPc, layout.kernel_address },
    };
}

} // namespace vmm::arm64
