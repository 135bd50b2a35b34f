// vmm/placement/daemon_cpus.h — where an enclave daemon's own threads run (control loop, vsock
// device thread, QEMU supervisor, any helper) and, under --accel tcg, QEMU: the parent's CPUs,
// never an enclave's vCPU CPUs. Pure, like placement.h: the launcher calls it under the run-dir
// lock with the CPUs it just read and the enclaves running.
//
// The parent's CPUs = online CPUs this process may use (its affinity mask, within its cpuset)
// minus every enclave's vCPU CPUs (the new one's and the running ones'). When nothing is left
// (only possible with --allow-shared-cpus on a small host), the daemon falls back to the usable
// CPUs minus this enclave's own CPUs (sharing another enclave's), and when that too is empty, to
// every usable CPU (sharing its own vCPUs' CPUs). `isolation` says which one happened; query
// reports both as DaemonCPUs and DaemonCPUIsolation.
//
// Limit: the set is chosen when the enclave starts. An enclave started later takes CPUs outside
// this daemon's set only if placement can (it never uses CPU 0's core or a running enclave's
// CPUs without the opt-out), so only --allow-shared-cpus can make an older daemon share a later
// enclave's CPUs.
//
// Usage:
//     auto d = vmm::placement::daemon_cpus(topology.online_cpus(), vmm::host::allowed_cpus(), placement.cpus, running);
//     settings.machine.vmm_cpus = d.cpus;           // "parent-cpus", "shares-enclave-cpus" or
//     settings.daemon_cpu_isolation = d.isolation;  // "shares-own-cpus"
#pragma once

#include "vmm/placement/placement.h"

#include <string>
#include <vector>

namespace vmm::placement {

struct DaemonCpus {
    std::vector<int> cpus; // ascending, never empty when `allowed` is not
    std::string isolation; // "parent-cpus" | "shares-enclave-cpus" | "shares-own-cpus"
};

// online: the host's online CPUs; allowed: this process's affinity (host::allowed_cpus());
// own: the new enclave's vCPU CPUs (empty under tcg); running: the other enclaves.
DaemonCpus daemon_cpus(const std::vector<int>& online, const std::vector<int>& allowed, const std::vector<int>& own,
    const std::vector<RunningEnclave>& running);

} // namespace vmm::placement
