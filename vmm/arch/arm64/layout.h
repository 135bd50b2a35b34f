// vmm/arch/arm64/layout.h — where qt-vmm puts things in an arm64 guest's physical address space.
// Plain constants (no KVM headers): the device tree, the boot plan and their tests use them on
// any host.
//
//   0x0100_0000   16550 UART (4 KiB, byte registers, reg-shift 0), SPI 1
//   0x0200_0000   virtio-mmio devices, 4 KiB each (16 slots), SPI 16, 17, ...
//   0x0800_0000   GICv3 distributor (64 KiB)
//   0x0810_0000   GICv3 redistributors, 128 KiB per vCPU (254 vCPUs end at 0x0A0C_0000)
//   0x8000_0000   RAM, one contiguous region (2 MiB aligned): the Image at RAM + text_offset;
//                 at the top, the device tree (last 2 MiB) and below it the initrd
//
// Why: every device sits below RAM in 32-bit space, so RAM has no hole and any size fits above
// 2 GiB (the same base as most arm64 boards and QEMU's -M virt RAM at 1 GiB+ does not clash).
#pragma once

#include <cstdint>

namespace vmm::arm64 {

inline constexpr std::uint64_t kUartAddress = 0x0100'0000;
inline constexpr std::uint64_t kUartSize = 0x1000;
inline constexpr std::uint32_t kUartSpi = 1;
inline constexpr std::uint32_t kUartClockHz = 1'843'200;

inline constexpr std::uint64_t kVirtioMmioBase = 0x0200'0000;
inline constexpr std::uint64_t kVirtioMmioSize = 0x1000;
inline constexpr std::uint32_t kVirtioFirstSpi = 16;

inline constexpr std::uint64_t kGicDistributorAddress = 0x0800'0000;
inline constexpr std::uint64_t kGicDistributorSize = 0x1'0000;
inline constexpr std::uint64_t kGicRedistributorAddress = 0x0810'0000;
inline constexpr std::uint64_t kGicRedistributorSizePerCpu = 0x2'0000;
// Interrupt IDs the GIC has: 32 private (SGIs and PPIs), then SPIs 0..31.
inline constexpr std::uint32_t kGicInterruptCount = 64;
inline constexpr std::uint32_t kGicSpiBase = 32;

// The architected timer's PPIs (the GIC's interrupt IDs minus 16): secure and non-secure
// physical, virtual, hypervisor — the order the arm,armv8-timer binding lists them.
inline constexpr std::uint32_t kTimerPpis[4] = { 13, 14, 11, 10 };

inline constexpr std::uint64_t kRamBase = 0x8000'0000;
inline constexpr std::uint64_t kKernelAlignment = 2ull << 20; // the Image's 2 MiB aligned base
inline constexpr std::uint64_t kDeviceTreeMax = 2ull << 20;   // booting.rst: at most 2 MiB

// The MPIDR KVM gives vCPU `index` (arch/arm64/kvm/sys_regs.c, reset_mpidr): 16 per cluster.
constexpr std::uint64_t mpidr_for_vcpu(unsigned index)
{
    return ((static_cast<std::uint64_t>(index) >> 4) & 0xff) << 8 | (index & 0xf);
}

} // namespace vmm::arm64
