// vmm/arch/x86/boot_setup.h — lays out everything a Linux kernel expects at its 64-bit entry:
// the bzImage at 1 MiB, the initrd high in low RAM, the command line, the zero page with its
// e820 map, a GDT with boot.rst's selectors, identity page tables for the first 4 GiB, and the
// MP table that lets an ACPI-less kernel find its CPUs and IOAPIC.
//
// Usage:
//     vmm::x86::BootLayout layout = vmm::x86::plan_boot(image, ram, initrd_size, cmdline);
//     fill the initrd at layout.initrd_address (e.g. stream EIF ramdisks there), then
//     vmm::x86::write_boot_structures(ram, image, layout, cmdline, vcpu_count);
//     the BSP starts at layout.entry_point with RSI = kZeroPageAddress (see vcpu_setup.h).
#pragma once

#include "vmm/arch/x86/bzimage.h"
#include "vmm/memory/guest_memory.h"

#include <cstdint>
#include <string>

namespace vmm::x86 {

struct BootLayout {
    std::uint64_t kernel_address { 0 };
    std::uint64_t kernel_end { 0 };      // kernel_address + init_size
    std::uint64_t initrd_address { 0 };
    std::uint64_t initrd_size { 0 };
    std::uint64_t entry_point { 0 };     // kernel_address + 0x200
};

// Chooses addresses; throws base::Error (MEM_TOO_SMALL) if kernel, initrd and boot structures
// do not fit, naming how much memory they need.
BootLayout plan_boot(const BzImage& image, const GuestMemory& ram, std::uint64_t initrd_size, const std::string& cmdline);

// Writes the kernel code, zero page, command line, GDT, page tables and MP table.
void write_boot_structures(GuestMemory& ram, const BzImage& image, const BootLayout& layout, const std::string& cmdline,
    unsigned vcpu_count);

} // namespace vmm::x86
