// deliver_int3_as_breakpoint on a real vCPU (where this host has /dev/kvm): an emulation
// failure on 0xCC steps over the int3 and raises #BP, which the guest then takes (a real-mode
// guest whose #BP handler reports on port 0x80 the return address the CPU pushed); any other
// instruction, or an exit that is not an emulation failure with its bytes, is left alone (the
// guest then ends with vcpu-error).
#include "vmm/enclave/nested_kvm_fixups.h"

#include <doctest/doctest.h>

#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

using namespace vmm;

namespace {

kvm_run emulation_failure(std::uint8_t first_byte)
{
    kvm_run run {};
    run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
    run.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
    run.emulation_failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
    run.emulation_failure.insn_size = 1;
    run.emulation_failure.insn_bytes[0] = first_byte;
    return run;
}

} // namespace

TEST_CASE("deliver_int3_as_breakpoint: int3 becomes the guest's #BP after it, anything else is not handled")
{
    if (::access("/dev/kvm", R_OK | W_OK) != 0) {
        MESSAGE("skipped: no /dev/kvm");
        return;
    }
    KvmSystem kvm = KvmSystem::open();
    VmFd vm = kvm.create_vm();
    vm.set_identity_map_address(0xfffb'c000);
    vm.set_tss_address(0xfffb'd000);
    vm.create_irqchip();
    constexpr std::size_t kSize = 2 << 20;
    auto* ram = static_cast<std::uint8_t*>(::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(ram != MAP_FAILED);
    vm.set_memory_region(0, 0, kSize, ram);
    // Real mode. IVT entry 3 (#BP) → 0000:2000, where the handler pops the return IP into AX,
    // writes AL then AH to port 0x80 and halts. An int3 sits at 0x1000.
    const std::uint8_t ivt3[] = { 0x00, 0x20, 0x00, 0x00 };
    std::memcpy(ram + 3 * 4, ivt3, sizeof ivt3);
    const std::uint8_t handler[] = { 0x58, 0xe6, 0x80, 0x88, 0xe0, 0xe6, 0x80, 0xf4 }; // pop ax; out 80,al; mov al,ah; out 80,al; hlt
    std::memcpy(ram + 0x2000, handler, sizeof handler);
    ram[0x1000] = 0xcc;
    VcpuFd cpu = vm.create_vcpu(0, kvm.vcpu_mmap_size());
    kvm_sregs sregs = cpu.sregs();
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    cpu.set_sregs(sregs);
    kvm_regs regs {};
    regs.rflags = 2;
    regs.rip = 0x1000;
    regs.rsp = 0x8000;
    cpu.set_regs(regs);

    kvm_run other = emulation_failure(0x0f);
    CHECK_FALSE(deliver_int3_as_breakpoint(cpu, other));
    kvm_run no_bytes = emulation_failure(0xcc);
    no_bytes.emulation_failure.flags = 0;
    CHECK_FALSE(deliver_int3_as_breakpoint(cpu, no_bytes));
    kvm_run not_emulation = emulation_failure(0xcc);
    not_emulation.internal.suberror = KVM_INTERNAL_ERROR_SIMUL_EX;
    CHECK_FALSE(deliver_int3_as_breakpoint(cpu, not_emulation));
    CHECK(cpu.regs().rip == 0x1000); // nothing touched

    kvm_run int3 = emulation_failure(0xcc);
    REQUIRE(deliver_int3_as_breakpoint(cpu, int3));
    CHECK(cpu.regs().rip == 0x1001);
    // The guest takes #BP with 0x1001 (after the int3) as its return address.
    std::vector<std::uint8_t> port80;
    for (int exits = 0; exits < 16 && port80.size() < 2; ++exits) {
        if (!cpu.run())
            continue;
        kvm_run* run = cpu.run_state();
        if (run->exit_reason != KVM_EXIT_IO)
            break;
        if (run->io.port == 0x80 && run->io.direction == KVM_EXIT_IO_OUT)
            port80.push_back(reinterpret_cast<std::uint8_t*>(run)[run->io.data_offset]);
    }
    REQUIRE(port80.size() == 2);
    CHECK(port80[0] == 0x01);
    CHECK(port80[1] == 0x10);
    ::munmap(ram, kSize);
}
