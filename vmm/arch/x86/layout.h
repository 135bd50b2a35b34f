// vmm/arch/x86/layout.h — where qt-vmm puts things in an x86-64 guest's physical address space.
//
//   0x0500            GDT (4 entries: null, null, code 0x10, data 0x18 as boot.rst asks)
//   0x7000            zero page (struct boot_params)
//   0x8ff0            initial stack pointer
//   0x9000..0xefff    identity page tables: PML4, PDPT, 4 page directories (first 4 GiB, 2 MiB pages)
//   0x20000           kernel command line (up to the kernel's cmdline_size)
//   0x9fc00..0xfffff  reserved in the e820 map: MP table at 0x9fc00
//   0x100000          bzImage protected-mode code (code32_start); 64-bit entry at +0x200
//   ... top of low RAM: the initrd (all EIF ramdisks back to back), page aligned
//   0xd0000000        virtio-mmio devices, 0x1000 each, IRQ 5, 6, ...
//   0xfec00000        IOAPIC, 0xfee00000 LAPIC (in-kernel)
//   0xfffbc000        KVM identity-map page, 0xfffbd000 KVM TSS (3 pages)
#pragma once

#include <cstdint>

namespace vmm::x86 {

inline constexpr std::uint64_t kGdtAddress = 0x500;
inline constexpr std::uint64_t kZeroPageAddress = 0x7000;
inline constexpr std::uint64_t kStackPointer = 0x8ff0;
inline constexpr std::uint64_t kPml4Address = 0x9000;
inline constexpr std::uint64_t kPdptAddress = 0xa000;
inline constexpr std::uint64_t kPageDirectoryAddress = 0xb000; // 4 consecutive pages
inline constexpr std::uint64_t kCmdlineAddress = 0x20000;
inline constexpr std::uint64_t kCmdlineMax = 0x10000;
inline constexpr std::uint64_t kEbdaStart = 0x9fc00;
inline constexpr std::uint64_t kMpTableAddress = 0x9fc00;
inline constexpr std::uint64_t kHighMemoryStart = 0x100000;
inline constexpr std::uint64_t kKernelLoadAddress = 0x100000;
inline constexpr std::uint64_t kVirtioMmioBase = 0xd000'0000;
inline constexpr std::uint64_t kVirtioMmioSize = 0x1000;
inline constexpr std::uint32_t kVirtioFirstIrq = 5;
inline constexpr std::uint64_t kIoapicAddress = 0xfec0'0000;
inline constexpr std::uint64_t kLapicAddress = 0xfee0'0000;
inline constexpr std::uint64_t kIdentityMapAddress = 0xfffb'c000;
inline constexpr std::uint64_t kTssAddress = 0xfffb'd000;

inline constexpr std::uint16_t kBootCodeSelector = 0x10;
inline constexpr std::uint16_t kBootDataSelector = 0x18;

inline constexpr std::uint32_t kSerialIrq = 4;
inline constexpr std::uint16_t kSerialPort = 0x3f8;

} // namespace vmm::x86
