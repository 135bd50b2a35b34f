// vmm/host/cpu_affinity.h — pinning threads and processes to host CPUs, every result checked.
//
// The enclave daemon pins itself to the parent's CPUs before it creates any thread (threads and
// forked children inherit the mask), each vCPU thread pins itself to its host CPU before its first
// KVM_RUN, and QEMU is pinned in its child before exec. A failure (a CPU offline, outside this
// process's cpuset, or beyond the kernel's limit) is an error naming the CPUs and the cpuset.
//
// Usage:
//     std::vector<int> allowed = vmm::host::allowed_cpus();              // sched_getaffinity(0)
//     vmm::host::pin_current_thread({ 0 }, "the enclave daemon");        // throws CPU_PINNING
//     if (int err = vmm::host::CpuMask({ 3 }).apply_to_current_thread())  // no allocation, for a
//         ...                                                            // forked child or a vCPU
//     std::string why = vmm::host::pinning_error("vCPU 1", { 3 }, EINVAL); // "cannot pin vCPU 1 to host CPU 3: ..."
#pragma once

#include <sched.h>

#include <cstddef>
#include <string>
#include <vector>

namespace vmm::host {

// A CPU set of any size (CPU_ALLOC), built before the moment it is applied so that applying it
// allocates nothing (safe between fork and exec).
class CpuMask {
public:
    explicit CpuMask(const std::vector<int>& cpus);
    ~CpuMask();
    CpuMask(const CpuMask&) = delete;
    CpuMask& operator=(const CpuMask&) = delete;

    // 0 or the errno of sched_setaffinity(0, ...) for the calling thread.
    int apply_to_current_thread() const noexcept;

private:
    cpu_set_t* m_set { nullptr };
    std::size_t m_bytes { 0 };
};

// The CPUs the calling thread may run on (its affinity mask, within the process's cpuset),
// ascending; throws CPU_AFFINITY if the kernel does not say.
std::vector<int> allowed_cpus();

// "cannot pin WHO to host CPU(s) LIST: <strerror> (...why...); <fix>" — one line.
std::string pinning_error(const std::string& who, const std::vector<int>& cpus, int error);

// Pins the calling thread to `cpus`; throws base::Error(Resource, "CPU_PINNING", pinning_error()).
void pin_current_thread(const std::vector<int>& cpus, const std::string& who);

} // namespace vmm::host
