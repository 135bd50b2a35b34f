// vmm/enclave/nested_kvm_fixups.h — the one vCPU-exit workaround qt-vmm applies on a nested,
// software-assisted KVM (host_quirks.h decides; README: nested-KVM workarounds). Such a host's
// instruction emulator cannot execute int3 and reports an emulation failure; the fixup delivers
// the #BP the instruction would have raised, so a guest's breakpoint (e.g. a kprobe, or an app's
// own int3) works as on real hardware. It is a Machine's EmulationFailureHandler, so the VMM core
// knows nothing about host quirks.
//
// Usage (the launcher, only when detect_host_quirks().nested_kvm):
//     machine_config.on_emulation_failure = vmm::deliver_int3_as_breakpoint;
#pragma once

#include "vmm/kvm/kvm.h"

namespace vmm {

// If the failed instruction is int3 (0xCC): steps over it, injects #BP and returns true (the
// vCPU resumes in the guest's #BP handler). Anything else: false (the guest ends).
bool deliver_int3_as_breakpoint(VcpuFd& cpu, const kvm_run& run);

} // namespace vmm
