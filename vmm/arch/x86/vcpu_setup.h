// vmm/arch/x86/vcpu_setup.h — puts a vCPU in the state Linux's 64-bit boot protocol expects
// (BSP) or leaves it waiting for INIT/SIPI (APs), with a CPUID derived from
// KVM_GET_SUPPORTED_CPUID and the boot MSRs.
//
// Usage:
//     vmm::CpuidTable cpuid = vmm::x86::guest_cpuid(kvm.supported_cpuid(), vcpu_index, vcpu_count, quirks);
//     cpu.set_cpuid(cpuid);
//     vmm::x86::setup_boot_cpu(cpu, layout.entry_point);   // vCPU 0 only
//     vmm::x86::setup_local_interrupts(cpu);               // every vCPU
#pragma once

#include "vmm/kvm/kvm.h"

#include <cstdint>

namespace vmm::x86 {

// Host-specific adjustments, decided by host-check's probe, never by default.
struct CpuidQuirks {
    bool hide_cx16 { false };       // the host cannot emulate lock cmpxchg16b
    bool hide_pv_ipi { false };     // the host hangs on KVM's paravirtual IPI/unhalt features
    bool hide_tsc_deadline { false }; // the host's LAPIC TSC-deadline timer never fires
};

CpuidTable guest_cpuid(CpuidTable supported, unsigned vcpu_index, unsigned vcpu_count, const CpuidQuirks& quirks);

// General, segment and control registers, FPU and MSRs for the 64-bit entry.
void setup_boot_cpu(VcpuFd& cpu, std::uint64_t entry_point);

// LAPIC LINT0 = ExtINT, LINT1 = NMI, so the legacy PIC and NMIs reach the CPU.
void setup_local_interrupts(VcpuFd& cpu);

} // namespace vmm::x86
