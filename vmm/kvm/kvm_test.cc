// The KVM wrappers without a guest: how /dev/kvm problems are reported (a missing device, a
// file that is not KVM), the CPUID table, and — where this host has /dev/kvm — the VM-level
// calls the machine makes before any vCPU runs (irqchip, PIT, memory slots, vCPU creation).
#include "vmm/kvm/kvm.h"

#include "base/error.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <sys/mman.h>
#include <unistd.h>

using namespace vmm;

namespace {

// Points QT_VMM_KVM_DEVICE somewhere for one scope.
struct KvmDeviceOverride {
    explicit KvmDeviceOverride(const char* path) { ::setenv("QT_VMM_KVM_DEVICE", path, 1); }
    ~KvmDeviceOverride() { ::unsetenv("QT_VMM_KVM_DEVICE"); }
};

std::string error_code_of(void (*action)())
{
    try {
        action();
    } catch (const base::Error& e) {
        return e.code();
    }
    return "";
}

} // namespace

TEST_CASE("a missing KVM device is KVM_UNAVAILABLE, a file that is not KVM fails the version check")
{
    {
        KvmDeviceOverride missing("/nonexistent/kvm");
        CHECK(error_code_of([] { KvmSystem::open(); }) == "KVM_UNAVAILABLE");
    }
    {
        KvmDeviceOverride not_kvm("/dev/null");
        CHECK(error_code_of([] { KvmSystem::open(); }) == "KVM_API_VERSION");
    }
}

#if defined(__x86_64__) // CPUID, TSS, PIC and PIT are x86's; arm64's VM is tested through the machine in the arm64 L1
namespace {
bool kvm_available() { return ::access("/dev/kvm", R_OK | W_OK) == 0; }
} // namespace

TEST_CASE("CpuidTable: `capacity` zeroed entries (what KVM fills in); find() by function and index")
{
    CpuidTable table(4);
    CHECK(table.size() == 4);
    CHECK(table.find(0) == &table.entry(0));
    CHECK(table.find(7) == nullptr);
    table.entry(1).function = 7;
    table.entry(1).index = 1;
    table.entry(1).flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    CHECK(table.find(7, 0) == nullptr);
    CHECK(table.find(7, 1) == &table.entry(1));
    CHECK_FALSE(KvmSystem::required_capabilities().empty());
}

TEST_CASE("with /dev/kvm: capabilities, supported CPUID, and a VM with irqchip, PIT, memory and a vCPU")
{
    if (!kvm_available()) {
        MESSAGE("skipped: no /dev/kvm");
        return;
    }
    KvmSystem kvm = KvmSystem::open();
    for (const KvmSystem::Capability& cap : KvmSystem::required_capabilities())
        CHECK_MESSAGE(kvm.check_extension(cap.id) > 0, cap.name);
    CHECK(kvm.vcpu_mmap_size() > 0);
    CpuidTable cpuid = kvm.supported_cpuid();
    CHECK(cpuid.size() > 0);
    REQUIRE(cpuid.find(0) != nullptr);
    CHECK(cpuid.find(0)->function == 0);

    VmFd vm = kvm.create_vm();
    vm.set_identity_map_address(0xfffb'c000);
    vm.set_tss_address(0xfffb'd000);
    vm.create_irqchip();
    vm.create_pit();
    constexpr std::size_t kSize = 2 << 20;
    void* ram = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(ram != MAP_FAILED);
    vm.set_memory_region(0, 0, kSize, ram);
    VcpuFd cpu = vm.create_vcpu(0, kvm.vcpu_mmap_size());
    REQUIRE(cpu.run_state() != nullptr);
    kvm_regs regs = cpu.regs();
    regs.rip = 0x1000;
    cpu.set_regs(regs);
    CHECK(cpu.regs().rip == 0x1000);
    vm.set_irq_line(4, true);
    vm.set_irq_line(4, false);
    ::munmap(ram, kSize);
}
#endif
