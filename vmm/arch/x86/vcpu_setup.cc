#include "vmm/arch/x86/vcpu_setup.h"

#include "vmm/arch/x86/layout.h"

#include <cstring>

namespace vmm::x86 {

namespace {

constexpr std::uint32_t kMsrIa32SysenterCs = 0x174;
constexpr std::uint32_t kMsrIa32SysenterEsp = 0x175;
constexpr std::uint32_t kMsrIa32SysenterEip = 0x176;
constexpr std::uint32_t kMsrStar = 0xc0000081;
constexpr std::uint32_t kMsrLstar = 0xc0000082;
constexpr std::uint32_t kMsrCstar = 0xc0000083;
constexpr std::uint32_t kMsrSyscallMask = 0xc0000084;
constexpr std::uint32_t kMsrKernelGsBase = 0xc0000102;
constexpr std::uint32_t kMsrIa32Tsc = 0x10;
constexpr std::uint32_t kMsrIa32MiscEnable = 0x1a0;
constexpr std::uint32_t kMsrMtrrDefType = 0x2ff;

constexpr std::uint64_t kCr0Pe = 1ull << 0;
constexpr std::uint64_t kCr0Et = 1ull << 4;
constexpr std::uint64_t kCr0Pg = 1ull << 31;
constexpr std::uint64_t kCr4Pae = 1ull << 5;
constexpr std::uint64_t kEferLme = 1ull << 8;
constexpr std::uint64_t kEferLma = 1ull << 10;

kvm_segment flat_segment(std::uint16_t selector, std::uint8_t type, bool code)
{
    kvm_segment s {};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.dpl = 0;
    s.db = code ? 0 : 1;
    s.s = 1;
    s.l = code ? 1 : 0;
    s.g = 1;
    return s;
}

} // namespace

CpuidTable guest_cpuid(CpuidTable table, unsigned vcpu_index, unsigned vcpu_count, const CpuidQuirks& quirks)
{
    for (std::uint32_t i = 0; i < table.size(); ++i) {
        kvm_cpuid_entry2& e = table.entry(i);
        switch (e.function) {
        case 1:
            // APIC id, logical processor count, hypervisor bit.
            e.ebx = (e.ebx & 0x0000ffff) | (vcpu_index << 24) | ((vcpu_count & 0xff) << 16);
            e.ecx |= 1u << 31;
            if (quirks.hide_cx16)
                e.ecx &= ~(1u << 13);
            if (quirks.hide_tsc_deadline)
                e.ecx &= ~(1u << 24);
            break;
        case 0xb:
        case 0x1f:
            // x2APIC topology: one thread per core, all cores in one package.
            e.edx = vcpu_index;
            if (e.index == 0) {
                e.eax = 0;
                e.ebx = 1;
                e.ecx = (e.ecx & ~0xffffu) | (1u << 8);
            } else if (e.index == 1) {
                unsigned shift = 0;
                while ((1u << shift) < vcpu_count)
                    ++shift;
                e.eax = shift;
                e.ebx = vcpu_count;
                e.ecx = (e.ecx & ~0xffffu) | (2u << 8) | 1u;
            } else {
                e.eax = e.ebx = 0;
                e.ecx = (e.ecx & ~0xffffu) | e.index;
            }
            break;
        case 0x40000001:
            if (quirks.hide_pv_ipi)
                e.eax &= ~((1u << 7) | (1u << 9) | (1u << 11) | (1u << 13));
            break;
        default:
            break;
        }
    }
    return table;
}

void setup_boot_cpu(VcpuFd& cpu, std::uint64_t entry_point)
{
    std::vector<kvm_msr_entry> msrs;
    for (std::uint32_t index : { kMsrIa32SysenterCs, kMsrIa32SysenterEsp, kMsrIa32SysenterEip, kMsrStar, kMsrCstar,
             kMsrKernelGsBase, kMsrSyscallMask, kMsrLstar, kMsrIa32Tsc }) {
        kvm_msr_entry e {};
        e.index = index;
        msrs.push_back(e);
    }
    kvm_msr_entry misc {};
    misc.index = kMsrIa32MiscEnable;
    misc.data = 1; // fast strings
    msrs.push_back(misc);
    kvm_msr_entry mtrr {};
    mtrr.index = kMsrMtrrDefType;
    mtrr.data = (1u << 11) | 6; // MTRRs on, default write-back
    msrs.push_back(mtrr);
    cpu.set_msrs(msrs);

    kvm_sregs sregs = cpu.sregs();
    sregs.gdt.base = kGdtAddress;
    sregs.gdt.limit = 4 * 8 - 1;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cs = flat_segment(kBootCodeSelector, 0xb, true);
    kvm_segment data = flat_segment(kBootDataSelector, 0x3, false);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.cr3 = kPml4Address;
    sregs.cr4 |= kCr4Pae;
    sregs.cr0 |= kCr0Pe | kCr0Pg | kCr0Et;
    sregs.efer |= kEferLme | kEferLma;
    cpu.set_sregs(sregs);

    kvm_regs regs {};
    regs.rflags = 0x2;
    regs.rip = entry_point;
    regs.rsp = kStackPointer;
    regs.rbp = kStackPointer;
    regs.rsi = kZeroPageAddress;
    cpu.set_regs(regs);

    kvm_fpu fpu {};
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    cpu.set_fpu(fpu);
}

void setup_local_interrupts(VcpuFd& cpu)
{
    constexpr std::size_t kLvt0 = 0x350;
    constexpr std::size_t kLvt1 = 0x360;
    constexpr std::uint32_t kDeliveryModeMask = 0x700;
    constexpr std::uint32_t kExtInt = 0x700;
    constexpr std::uint32_t kNmi = 0x400;
    kvm_lapic_state lapic = cpu.lapic();
    auto update = [&](std::size_t offset, std::uint32_t mode) {
        std::uint32_t v;
        std::memcpy(&v, lapic.regs + offset, 4);
        v = (v & ~kDeliveryModeMask & ~(1u << 16)) | mode;
        std::memcpy(lapic.regs + offset, &v, 4);
    };
    update(kLvt0, kExtInt);
    update(kLvt1, kNmi);
    cpu.set_lapic(lapic);
}

} // namespace vmm::x86
