#include "vmm/host/cpu_affinity.h"

#include "base/error.h"
#include "vmm/host/cpu_list.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace vmm::host {

CpuMask::CpuMask(const std::vector<int>& cpus)
{
    int highest = 0;
    for (int cpu : cpus)
        highest = std::max(highest, cpu);
    m_set = CPU_ALLOC(highest + 1);
    if (!m_set)
        throw std::bad_alloc();
    m_bytes = CPU_ALLOC_SIZE(highest + 1);
    CPU_ZERO_S(m_bytes, m_set);
    for (int cpu : cpus)
        if (cpu >= 0)
            CPU_SET_S(static_cast<std::size_t>(cpu), m_bytes, m_set);
}

CpuMask::~CpuMask() { CPU_FREE(m_set); }

int CpuMask::apply_to_current_thread() const noexcept
{
    return ::sched_setaffinity(0, m_bytes, m_set) == 0 ? 0 : errno;
}

namespace {

// The CPUs thread `tid` (0 = the caller) may run on; empty with errno set if the kernel refused.
std::vector<int> affinity_of(pid_t tid)
{
    for (int size = 1024; size <= kMaxCpu + 1; size *= 2) {
        cpu_set_t* set = CPU_ALLOC(size);
        if (!set)
            throw std::bad_alloc();
        std::size_t bytes = CPU_ALLOC_SIZE(size);
        CPU_ZERO_S(bytes, set);
        if (::sched_getaffinity(tid, bytes, set) == 0) {
            std::vector<int> cpus;
            for (int cpu = 0; cpu < size; ++cpu)
                if (CPU_ISSET_S(static_cast<std::size_t>(cpu), bytes, set))
                    cpus.push_back(cpu);
            CPU_FREE(set);
            return cpus;
        }
        int error = errno;
        CPU_FREE(set);
        errno = error;
        if (error != EINVAL) // EINVAL: the kernel's mask is larger than ours, try a larger one
            break;
    }
    return {};
}

} // namespace

std::vector<int> allowed_cpus()
{
    std::vector<int> cpus = affinity_of(0);
    if (cpus.empty())
        base::throw_errno("CPU_AFFINITY", "cannot read", "this process's CPU affinity (sched_getaffinity)");
    return cpus;
}

std::string pinning_error(const std::string& who, const std::vector<int>& cpus, int error)
{
    return "cannot pin " + who + " to host CPU" + (cpus.size() == 1 ? " " : "s ") + format_cpu_list(cpus) + ": "
        + std::strerror(error) + " (offline, or outside this process's cpuset: see /sys/devices/system/cpu/online and "
        + "the cgroup's cpuset.cpus); bring the CPU online, widen the cpuset or start on other CPUs";
}

void pin_current_thread(const std::vector<int>& cpus, const std::string& who)
{
    if (int error = CpuMask(cpus).apply_to_current_thread())
        throw base::Error(base::ErrorKind::Resource, "CPU_PINNING", pinning_error(who, cpus, error));
}

} // namespace vmm::host
