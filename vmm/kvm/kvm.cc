#include "vmm/kvm/kvm.h"

#include "base/error.h"
#include "base/hex.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace vmm {

namespace {

[[noreturn]] void throw_ioctl(const char* code, const char* what)
{
    int saved = errno;
    throw base::Error(base::ErrorKind::Vm, code, std::string(what) + " failed: " + std::strerror(saved));
}

template<typename T>
int checked_ioctl(int fd, unsigned long request, T argument, const char* code, const char* what)
{
    int result;
    do {
        result = ::ioctl(fd, request, argument);
    } while (result < 0 && errno == EINTR);
    if (result < 0)
        throw_ioctl(code, what);
    return result;
}

} // namespace

#if defined(__x86_64__)
CpuidTable::CpuidTable(std::uint32_t capacity)
    : m_storage(sizeof(KvmArrayHeader) + capacity * sizeof(kvm_cpuid_entry2), 0)
{
    reinterpret_cast<KvmArrayHeader*>(m_storage.data())->count = capacity;
}

kvm_cpuid_entry2* CpuidTable::find(std::uint32_t function, std::uint32_t index)
{
    for (std::uint32_t i = 0; i < size(); ++i) {
        kvm_cpuid_entry2& e = entry(i);
        bool indexed = e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        if (e.function == function && (!indexed || e.index == index))
            return &e;
    }
    return nullptr;
}

#endif

const std::vector<KvmSystem::Capability>& KvmSystem::required_capabilities()
{
#if defined(__x86_64__)
    static const std::vector<Capability> caps = {
        { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
        { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
        { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
        { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
        { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
        { KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
        { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
        { KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
    };
#elif defined(__aarch64__)
    static const std::vector<Capability> caps = {
        { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
        { KVM_CAP_DEVICE_CTRL, "KVM_CAP_DEVICE_CTRL" },
        { KVM_CAP_ARM_PSCI_0_2, "KVM_CAP_ARM_PSCI_0_2" },
        { KVM_CAP_ONE_REG, "KVM_CAP_ONE_REG" },
        { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
        { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
    };
#endif
    return caps;
}

KvmSystem KvmSystem::open()
{
    const char* env = std::getenv("QT_VMM_KVM_DEVICE");
    std::string path = env && *env ? env : "/dev/kvm";
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        std::string fix = saved == ENOENT ? "load the kvm module (modprobe kvm_intel or kvm_amd) or enable virtualization in firmware"
                                          : "run as root or add your user to the kvm group";
        throw base::Error(saved == ENOENT ? base::ErrorKind::NotFound : base::ErrorKind::Permission, "KVM_UNAVAILABLE",
            "cannot open " + path + ": " + std::strerror(saved) + "; " + fix);
    }
    KvmSystem kvm { base::UniqueFd(fd) };
    int version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION)
        throw base::Error(base::ErrorKind::Vm, "KVM_API_VERSION",
            "unsupported KVM API version " + std::to_string(version) + " (need " + std::to_string(KVM_API_VERSION) + ")");
    for (const Capability& cap : required_capabilities()) {
        if (kvm.check_extension(cap.id) <= 0)
            throw base::Error(base::ErrorKind::Vm, "KVM_MISSING_CAPABILITY",
                std::string("this KVM lacks ") + cap.name + "; qt-vmm needs a Linux host kernel 5.x or newer");
    }
    kvm.m_vcpu_mmap_size = checked_ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE", "KVM_GET_VCPU_MMAP_SIZE");
    return kvm;
}

int KvmSystem::check_extension(long capability) const
{
    int result = ::ioctl(m_fd.get(), KVM_CHECK_EXTENSION, capability);
    return result < 0 ? 0 : result;
}

#if defined(__x86_64__)
CpuidTable KvmSystem::supported_cpuid() const
{
    CpuidTable table(256);
    checked_ioctl(m_fd.get(), kKvmGetSupportedCpuid, table.raw(), "KVM_GET_SUPPORTED_CPUID", "KVM_GET_SUPPORTED_CPUID");
    return table;
}
#endif

VmFd KvmSystem::create_vm() const
{
    int fd = checked_ioctl(m_fd.get(), KVM_CREATE_VM, 0, "KVM_CREATE_VM", "KVM_CREATE_VM");
    return VmFd(base::UniqueFd(fd));
}

VcpuFd::VcpuFd(base::UniqueFd fd, int mmap_size)
    : m_fd(std::move(fd))
    , m_mmap_size(mmap_size)
{
    void* p = ::mmap(nullptr, static_cast<std::size_t>(mmap_size), PROT_READ | PROT_WRITE, MAP_SHARED, m_fd.get(), 0);
    if (p == MAP_FAILED)
        throw_ioctl("KVM_VCPU_MMAP", "mmap of kvm_run");
    m_run = static_cast<kvm_run*>(p);
}

VcpuFd::VcpuFd(VcpuFd&& other) noexcept
    : m_fd(std::move(other.m_fd))
    , m_run(std::exchange(other.m_run, nullptr))
    , m_mmap_size(other.m_mmap_size)
{
}

VcpuFd::~VcpuFd()
{
    if (m_run)
        ::munmap(m_run, static_cast<std::size_t>(m_mmap_size));
}

bool VcpuFd::run()
{
    if (::ioctl(m_fd.get(), KVM_RUN, 0) == 0)
        return true;
    if (errno == EINTR || errno == EAGAIN)
        return false;
    throw_ioctl("KVM_RUN", "KVM_RUN");
}

void VcpuFd::run_without_entering()
{
    m_run->immediate_exit = 1;
    int result = ::ioctl(m_fd.get(), KVM_RUN, 0);
    int error = errno;
    m_run->immediate_exit = 0;
    if (result != 0 && error != EINTR && error != EAGAIN) {
        errno = error;
        throw_ioctl("KVM_RUN", "KVM_RUN");
    }
}

#if defined(__x86_64__)
kvm_regs VcpuFd::regs() const
{
    kvm_regs r {};
    checked_ioctl(m_fd.get(), KVM_GET_REGS, &r, "KVM_GET_REGS", "KVM_GET_REGS");
    return r;
}

void VcpuFd::set_regs(const kvm_regs& r) { checked_ioctl(m_fd.get(), KVM_SET_REGS, &r, "KVM_SET_REGS", "KVM_SET_REGS"); }

kvm_sregs VcpuFd::sregs() const
{
    kvm_sregs s {};
    checked_ioctl(m_fd.get(), KVM_GET_SREGS, &s, "KVM_GET_SREGS", "KVM_GET_SREGS");
    return s;
}

void VcpuFd::set_sregs(const kvm_sregs& s) { checked_ioctl(m_fd.get(), KVM_SET_SREGS, &s, "KVM_SET_SREGS", "KVM_SET_SREGS"); }
void VcpuFd::set_fpu(const kvm_fpu& f) { checked_ioctl(m_fd.get(), KVM_SET_FPU, &f, "KVM_SET_FPU", "KVM_SET_FPU"); }

void VcpuFd::set_cpuid(const CpuidTable& table)
{
    checked_ioctl(m_fd.get(), kKvmSetCpuid2, table.raw(), "KVM_SET_CPUID2", "KVM_SET_CPUID2");
}

void VcpuFd::set_msrs(const std::vector<kvm_msr_entry>& entries)
{
    std::vector<std::uint8_t> storage(sizeof(KvmArrayHeader) + entries.size() * sizeof(kvm_msr_entry), 0);
    reinterpret_cast<KvmArrayHeader*>(storage.data())->count = static_cast<std::uint32_t>(entries.size());
    std::memcpy(storage.data() + sizeof(KvmArrayHeader), entries.data(), entries.size() * sizeof(kvm_msr_entry));
    int written = checked_ioctl(m_fd.get(), kKvmSetMsrs, storage.data(), "KVM_SET_MSRS", "KVM_SET_MSRS");
    if (static_cast<std::size_t>(written) != entries.size()) {
        throw base::Error(base::ErrorKind::Vm, "KVM_SET_MSRS",
            "KVM_SET_MSRS refused MSR " + base::hex_u64(entries[static_cast<std::size_t>(written)].index));
    }
}

kvm_lapic_state VcpuFd::lapic() const
{
    kvm_lapic_state s {};
    checked_ioctl(m_fd.get(), KVM_GET_LAPIC, &s, "KVM_GET_LAPIC", "KVM_GET_LAPIC");
    return s;
}

void VcpuFd::set_lapic(const kvm_lapic_state& s) { checked_ioctl(m_fd.get(), KVM_SET_LAPIC, &s, "KVM_SET_LAPIC", "KVM_SET_LAPIC"); }

kvm_vcpu_events VcpuFd::events() const
{
    kvm_vcpu_events e {};
    checked_ioctl(m_fd.get(), KVM_GET_VCPU_EVENTS, &e, "KVM_GET_VCPU_EVENTS", "KVM_GET_VCPU_EVENTS");
    return e;
}

void VcpuFd::set_events(const kvm_vcpu_events& e)
{
    checked_ioctl(m_fd.get(), KVM_SET_VCPU_EVENTS, &e, "KVM_SET_VCPU_EVENTS", "KVM_SET_VCPU_EVENTS");
}

void VmFd::set_tss_address(std::uint64_t address)
{
    checked_ioctl(m_fd.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(address), "KVM_SET_TSS_ADDR", "KVM_SET_TSS_ADDR");
}

void VmFd::set_identity_map_address(std::uint64_t address)
{
    __u64 a = address;
    checked_ioctl(m_fd.get(), KVM_SET_IDENTITY_MAP_ADDR, &a, "KVM_SET_IDENTITY_MAP_ADDR", "KVM_SET_IDENTITY_MAP_ADDR");
}

void VmFd::create_irqchip() { checked_ioctl(m_fd.get(), KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP", "KVM_CREATE_IRQCHIP"); }

void VmFd::create_pit()
{
    kvm_pit_config config {};
    config.flags = KVM_PIT_SPEAKER_DUMMY;
    checked_ioctl(m_fd.get(), KVM_CREATE_PIT2, &config, "KVM_CREATE_PIT2", "KVM_CREATE_PIT2");
}

#endif

#if defined(__aarch64__)
void VcpuFd::arm_init(const kvm_vcpu_init& init)
{
    checked_ioctl(m_fd.get(), KVM_ARM_VCPU_INIT, &init, "KVM_ARM_VCPU_INIT", "KVM_ARM_VCPU_INIT");
}

std::uint64_t VcpuFd::one_reg(std::uint64_t id) const
{
    std::uint64_t value = 0;
    kvm_one_reg reg { id, reinterpret_cast<std::uintptr_t>(&value) };
    checked_ioctl(m_fd.get(), KVM_GET_ONE_REG, &reg, "KVM_GET_ONE_REG", "KVM_GET_ONE_REG");
    return value;
}

void VcpuFd::set_one_reg(std::uint64_t id, std::uint64_t value)
{
    kvm_one_reg reg { id, reinterpret_cast<std::uintptr_t>(&value) };
    checked_ioctl(m_fd.get(), KVM_SET_ONE_REG, &reg, "KVM_SET_ONE_REG", "KVM_SET_ONE_REG");
}

kvm_vcpu_init VmFd::arm_preferred_target() const
{
    kvm_vcpu_init init {};
    checked_ioctl(m_fd.get(), KVM_ARM_PREFERRED_TARGET, &init, "KVM_ARM_PREFERRED_TARGET", "KVM_ARM_PREFERRED_TARGET");
    return init;
}

base::UniqueFd VmFd::create_device(std::uint32_t type)
{
    kvm_create_device device {};
    device.type = type;
    checked_ioctl(m_fd.get(), KVM_CREATE_DEVICE, &device, "KVM_CREATE_DEVICE", "KVM_CREATE_DEVICE");
    return base::UniqueFd(static_cast<int>(device.fd));
}

void VmFd::set_device_attr(int device_fd, std::uint32_t group, std::uint64_t attribute, const void* value)
{
    kvm_device_attr attr {};
    attr.group = group;
    attr.attr = attribute;
    attr.addr = reinterpret_cast<std::uintptr_t>(value);
    checked_ioctl(device_fd, KVM_SET_DEVICE_ATTR, &attr, "KVM_SET_DEVICE_ATTR", "KVM_SET_DEVICE_ATTR");
}
#endif

void VmFd::set_memory_region(std::uint32_t slot, std::uint64_t guest_address, std::uint64_t size, void* host_address)
{
    kvm_userspace_memory_region region {};
    region.slot = slot;
    region.guest_phys_addr = guest_address;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<std::uintptr_t>(host_address);
    checked_ioctl(m_fd.get(), KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION", "KVM_SET_USER_MEMORY_REGION");
}

VcpuFd VmFd::create_vcpu(std::uint32_t id, int mmap_size)
{
    int fd = checked_ioctl(m_fd.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id), "KVM_CREATE_VCPU", "KVM_CREATE_VCPU");
    return VcpuFd(base::UniqueFd(fd), mmap_size);
}

void VmFd::add_mmio_ioeventfd(int event_fd, std::uint64_t address, std::uint32_t length, std::uint64_t value)
{
    kvm_ioeventfd e {};
    e.datamatch = value;
    e.addr = address;
    e.len = length;
    e.fd = event_fd;
    e.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
    checked_ioctl(m_fd.get(), KVM_IOEVENTFD, &e, "KVM_IOEVENTFD", "KVM_IOEVENTFD");
}

void VmFd::add_irqfd(int event_fd, std::uint32_t gsi)
{
    kvm_irqfd irqfd {};
    irqfd.fd = static_cast<__u32>(event_fd);
    irqfd.gsi = gsi;
    checked_ioctl(m_fd.get(), KVM_IRQFD, &irqfd, "KVM_IRQFD", "KVM_IRQFD");
}

void VmFd::set_irq_line(std::uint32_t gsi, bool level)
{
    kvm_irq_level irq {};
    irq.irq = gsi;
    irq.level = level ? 1 : 0;
    checked_ioctl(m_fd.get(), KVM_IRQ_LINE, &irq, "KVM_IRQ_LINE", "KVM_IRQ_LINE");
}

} // namespace vmm
