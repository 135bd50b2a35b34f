#include "vmm/enclave/nested_kvm_fixups.h"

namespace vmm {

bool deliver_int3_as_breakpoint(VcpuFd& cpu, const kvm_run& run)
{
    if (run.exit_reason != KVM_EXIT_INTERNAL_ERROR || run.internal.suberror != KVM_INTERNAL_ERROR_EMULATION
        || !(run.emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)
        || run.emulation_failure.insn_size == 0 || run.emulation_failure.insn_bytes[0] != 0xcc)
        return false;
    // int3 is one byte; the #BP it raises is a trap, so it is delivered with rip after it.
    kvm_regs regs = cpu.regs();
    regs.rip += 1;
    cpu.set_regs(regs);
    kvm_vcpu_events events = cpu.events();
    events.exception.injected = 1;
    events.exception.nr = 3;
    events.exception.has_error_code = 0;
    events.exception.error_code = 0;
    cpu.set_events(events);
    return true;
}

} // namespace vmm
