// vmm/host/cpu_topology.h — the host's CPUs as an enclave placer needs them: online CPUs grouped
// into physical cores (SMT siblings together), each core on one NUMA node.
//
// Read from <root>/devices/system/cpu/{online,cpuN/topology/{core_id,physical_package_id,
// thread_siblings_list}} and <root>/devices/system/node/nodeN/cpulist. Missing topology files
// (some containers) make each CPU its own core; missing node directories (CONFIG_NUMA=n) put
// every CPU on node 0.
//
// Usage:
//     auto topo = vmm::host::CpuTopology::read();                 // or read("/tmp/fake-sys")
//     for (const auto& core : topo.cores())
//         printf("node %d core %d: %s\n", core.node, core.core_id, format_cpu_list(core.cpus).c_str());
//     const PhysicalCore* parent = topo.core_of(0);              // CPU 0's core (the parent's)
//     std::vector<int> usable = topo.enclave_cpus(0);             // node 0 minus CPU 0's core
//     int smt = topo.threads_per_core();                          // 2 on a 2-way SMT host
#pragma once

#include <string>
#include <vector>

namespace vmm::host {

struct PhysicalCore {
    int node { 0 };
    int package { 0 };
    int core_id { 0 };
    std::vector<int> cpus; // online SMT siblings, sorted; cpus.front() names the core
};

class CpuTopology {
public:
    // Reads <sysfs_root>/devices/system/{cpu,node}; throws base::Error if the CPU files are
    // unreadable or malformed.
    static CpuTopology read(const std::string& sysfs_root = "/sys");
    // Builds a topology from parts (tests, or callers that have their own source).
    static CpuTopology from_cores(std::vector<PhysicalCore> cores);

    const std::vector<int>& online_cpus() const { return m_online; }
    // Sorted by their first CPU.
    const std::vector<PhysicalCore>& cores() const { return m_cores; }
    // Node ids that have at least one online CPU, ascending.
    const std::vector<int>& nodes() const { return m_nodes; }

    // The core holding an online CPU, or nullptr.
    const PhysicalCore* core_of(int cpu) const;
    // NUMA node of an online CPU, or -1.
    int node_of(int cpu) const;
    std::vector<int> cpus_of_node(int node) const;
    std::vector<const PhysicalCore*> cores_of_node(int node) const;
    bool has_node(int node) const;
    // Whether the core holds CPU 0 — the parent's core, never given to an enclave by default.
    static bool is_parent_core(const PhysicalCore& core);
    // CPUs of the node outside CPU 0's core: the most an enclave could get there.
    std::vector<int> enclave_cpus(int node) const;
    // The largest number of online siblings in one core (1 without SMT).
    int threads_per_core() const;

private:
    std::vector<int> m_online;
    std::vector<PhysicalCore> m_cores;
    std::vector<int> m_nodes;
};

} // namespace vmm::host
