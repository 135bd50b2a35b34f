// vmm/kvm/kvm.h — thin, typed wrappers over the /dev/kvm ioctls qt-vmm uses.
//
// Three owners of file descriptors, mirroring KVM's own split:
//   KvmSystem  /dev/kvm: API version, capabilities, supported CPUID (x86), creating VMs
//   VmFd       one VM: memory slots, in-kernel irqchip and PIT (x86) or devices such as the
//              GICv3 (arm64), ioeventfd, irqfd, IRQ lines
//   VcpuFd     one vCPU: its mmap'ed kvm_run, registers, CPUID and MSRs (x86) or ONE_REG
//              registers and KVM_ARM_VCPU_INIT (arm64), running
// What only one architecture has is declared for it alone (#if __x86_64__ / __aarch64__).
// Every failing ioctl throws base::Error(ErrorKind::Vm, "KVM_...", "<ioctl>: <strerror>").
//
// Usage:
//     vmm::KvmSystem kvm = vmm::KvmSystem::open();
//     vmm::VmFd vm = kvm.create_vm();
//     vm.set_memory_region(0, 0, size, host_ptr);
//     vmm::VcpuFd cpu = vm.create_vcpu(0, kvm.vcpu_mmap_size());
//     cpu.run();  // then inspect cpu.run_state()->exit_reason
#pragma once

#include "base/file.h"

#include <cstdint>
#include <linux/kvm.h>
#include <memory>
#include <string>
#include <vector>

namespace vmm {

class VmFd;

#if defined(__x86_64__)
// Debian 12's uapi headers declare flexible arrays with __DECLARE_FLEX_ARRAY, which g++ lays
// out 4 bytes too far (sizeof(kvm_cpuid2) is 12 in C++, 8 in C), and the ioctl numbers encode
// that size. So the structures with a flexible array that we pass are declared here with the
// kernel's real layout, and so are the ioctl numbers that carry them.
struct KvmArrayHeader {
    std::uint32_t count;
    std::uint32_t padding;
};
inline constexpr unsigned long kKvmGetSupportedCpuid = _IOWR(KVMIO, 0x05, KvmArrayHeader);
inline constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, KvmArrayHeader);
inline constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, KvmArrayHeader);

// A kvm_cpuid2 (header + entries) with room for `capacity` entries.
class CpuidTable {
public:
    explicit CpuidTable(std::uint32_t capacity = 256);
    void* raw() { return m_storage.data(); }
    const void* raw() const { return m_storage.data(); }
    std::uint32_t size() const { return reinterpret_cast<const KvmArrayHeader*>(m_storage.data())->count; }
    kvm_cpuid_entry2& entry(std::uint32_t i)
    {
        return reinterpret_cast<kvm_cpuid_entry2*>(m_storage.data() + sizeof(KvmArrayHeader))[i];
    }
    // The entry for (function, index), or nullptr.
    kvm_cpuid_entry2* find(std::uint32_t function, std::uint32_t index = 0);

private:
    std::vector<std::uint8_t> m_storage;
};

#endif

class KvmSystem {
public:
    // Opens /dev/kvm (or $QT_VMM_KVM_DEVICE) and checks the API version and every capability
    // qt-vmm relies on; the error names the first one missing.
    static KvmSystem open();

    int fd() const { return m_fd.get(); }
    int check_extension(long capability) const;
    int vcpu_mmap_size() const { return m_vcpu_mmap_size; }
#if defined(__x86_64__)
    CpuidTable supported_cpuid() const;
#endif
    VmFd create_vm() const;

    // The capabilities open() insists on, with their names (for host-check).
    struct Capability {
        long id;
        const char* name;
    };
    static const std::vector<Capability>& required_capabilities();

private:
    explicit KvmSystem(base::UniqueFd fd)
        : m_fd(std::move(fd))
    {
    }
    base::UniqueFd m_fd;
    int m_vcpu_mmap_size { 0 };
};

class VcpuFd {
public:
    VcpuFd(base::UniqueFd fd, int mmap_size);
    VcpuFd(VcpuFd&&) noexcept;
    VcpuFd(const VcpuFd&) = delete;
    VcpuFd& operator=(const VcpuFd&) = delete;
    ~VcpuFd();

    int fd() const { return m_fd.get(); }
    kvm_run* run_state() const { return m_run; }

    // KVM_RUN; returns false if interrupted (EINTR/EAGAIN), true when an exit is ready.
    bool run();
    // KVM_RUN with immediate_exit set: no guest code runs, but KVM does its per-VM first-run work
    // in the calling thread — on Linux >= 6.13 it starts the VM's "kvm-nx-lpage-re(covery)" worker
    // thread, which inherits the caller's CPU affinity (Machine calls this from the daemon's
    // thread, so the worker never lands on an enclave's CPU). Throws if KVM refuses.
    void run_without_entering();

#if defined(__x86_64__)
    kvm_regs regs() const;
    void set_regs(const kvm_regs&);
    kvm_sregs sregs() const;
    void set_sregs(const kvm_sregs&);
    void set_fpu(const kvm_fpu&);
    void set_cpuid(const CpuidTable&);
    void set_msrs(const std::vector<kvm_msr_entry>&);
    kvm_lapic_state lapic() const;
    void set_lapic(const kvm_lapic_state&);
    kvm_vcpu_events events() const;
    void set_events(const kvm_vcpu_events&);
#endif
#if defined(__aarch64__)
    // KVM_ARM_VCPU_INIT: the target and features (PSCI 0.2, powered off) before anything else.
    void arm_init(const kvm_vcpu_init& init);
    // KVM_{GET,SET}_ONE_REG with a 64-bit register id (e.g. arm64/boot_setup.h's core registers).
    std::uint64_t one_reg(std::uint64_t id) const;
    void set_one_reg(std::uint64_t id, std::uint64_t value);
#endif

private:
    base::UniqueFd m_fd;
    kvm_run* m_run { nullptr };
    int m_mmap_size { 0 };
};

class VmFd {
public:
    explicit VmFd(base::UniqueFd fd)
        : m_fd(std::move(fd))
    {
    }
    int fd() const { return m_fd.get(); }

#if defined(__x86_64__)
    void set_tss_address(std::uint64_t address);
    void set_identity_map_address(std::uint64_t address);
    void create_irqchip();
    void create_pit();
#endif
#if defined(__aarch64__)
    // KVM_ARM_PREFERRED_TARGET: the vCPU target this host's KVM emulates best.
    kvm_vcpu_init arm_preferred_target() const;
    // KVM_CREATE_DEVICE (e.g. KVM_DEV_TYPE_ARM_VGIC_V3); the device's fd.
    base::UniqueFd create_device(std::uint32_t type);
    // KVM_SET_DEVICE_ATTR on a device fd; `value` points at what the attribute takes (or null).
    static void set_device_attr(int device_fd, std::uint32_t group, std::uint64_t attribute, const void* value);
#endif
    void set_memory_region(std::uint32_t slot, std::uint64_t guest_address, std::uint64_t size, void* host_address);
    VcpuFd create_vcpu(std::uint32_t id, int mmap_size);
    // Signals `event_fd` when the guest writes `length` bytes equal to `value` at MMIO `address`.
    void add_mmio_ioeventfd(int event_fd, std::uint64_t address, std::uint32_t length, std::uint64_t value);
    // Writing to `event_fd` raises an edge on interrupt line `gsi`.
    void add_irqfd(int event_fd, std::uint32_t gsi);
    // Drives interrupt line `gsi` (level semantics through the in-kernel PIC/IOAPIC).
    void set_irq_line(std::uint32_t gsi, bool level);

private:
    base::UniqueFd m_fd;
};

} // namespace vmm
