#include "vmm/host/cpu_topology.h"

#include "vmm/host/cpu_list.h"
#include "vmm/host/sysfs.h"

#include <algorithm>
#include <filesystem>
#include <map>

namespace vmm::host {

namespace fs = std::filesystem;

namespace {

// node id → its CPUs, from <root>/devices/system/node/nodeN/cpulist; empty when there is no
// node directory (a kernel without NUMA).
std::map<int, std::vector<int>> read_node_cpus(const std::string& sysfs_root)
{
    std::map<int, std::vector<int>> nodes;
    fs::path dir = fs::path(sysfs_root) / "devices/system/node";
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        return nodes;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        std::string name = entry.path().filename().string();
        if (name.size() <= 4 || name.compare(0, 4, "node") != 0
            || name.find_first_not_of("0123456789", 4) != std::string::npos)
            continue;
        auto text = try_read_sysfs_text((entry.path() / "cpulist").string());
        if (!text)
            continue;
        nodes[std::stoi(name.substr(4))] = parse_cpu_list(*text);
    }
    return nodes;
}

} // namespace

CpuTopology CpuTopology::read(const std::string& sysfs_root)
{
    std::string cpu_dir = sysfs_root + "/devices/system/cpu";
    std::vector<int> online = parse_cpu_list(read_sysfs_text(cpu_dir + "/online"));
    auto node_cpus = read_node_cpus(sysfs_root);
    auto node_of = [&](int cpu) {
        for (const auto& [node, cpus] : node_cpus) {
            if (std::binary_search(cpus.begin(), cpus.end(), cpu))
                return node;
        }
        return 0;
    };

    // Group online CPUs by their sibling set; the set (restricted to online CPUs) is the core.
    std::map<std::vector<int>, PhysicalCore> by_siblings;
    for (int cpu : online) {
        std::string topo = cpu_dir + "/cpu" + std::to_string(cpu) + "/topology/";
        PhysicalCore core;
        core.node = node_of(cpu);
        core.cpus = { cpu };
        if (auto siblings = try_read_sysfs_text(topo + "thread_siblings_list")) {
            core.cpus.clear();
            for (int s : parse_cpu_list(*siblings)) {
                if (std::binary_search(online.begin(), online.end(), s))
                    core.cpus.push_back(s);
            }
            if (std::find(core.cpus.begin(), core.cpus.end(), cpu) == core.cpus.end())
                core.cpus = { cpu };
            core.core_id = static_cast<int>(read_sysfs_u64(topo + "core_id"));
            core.package = static_cast<int>(read_sysfs_u64(topo + "physical_package_id"));
        } else {
            core.core_id = cpu;
        }
        by_siblings.emplace(core.cpus, core);
    }
    std::vector<PhysicalCore> cores;
    for (auto& [key, core] : by_siblings)
        cores.push_back(std::move(core));
    return from_cores(std::move(cores));
}

CpuTopology CpuTopology::from_cores(std::vector<PhysicalCore> cores)
{
    CpuTopology topo;
    for (auto& core : cores) {
        std::sort(core.cpus.begin(), core.cpus.end());
        topo.m_online.insert(topo.m_online.end(), core.cpus.begin(), core.cpus.end());
        topo.m_nodes.push_back(core.node);
    }
    std::sort(cores.begin(), cores.end(), [](const PhysicalCore& a, const PhysicalCore& b) { return a.cpus.front() < b.cpus.front(); });
    std::sort(topo.m_online.begin(), topo.m_online.end());
    std::sort(topo.m_nodes.begin(), topo.m_nodes.end());
    topo.m_nodes.erase(std::unique(topo.m_nodes.begin(), topo.m_nodes.end()), topo.m_nodes.end());
    topo.m_cores = std::move(cores);
    return topo;
}

const PhysicalCore* CpuTopology::core_of(int cpu) const
{
    for (const auto& core : m_cores) {
        if (std::find(core.cpus.begin(), core.cpus.end(), cpu) != core.cpus.end())
            return &core;
    }
    return nullptr;
}

int CpuTopology::node_of(int cpu) const
{
    const PhysicalCore* core = core_of(cpu);
    return core ? core->node : -1;
}

std::vector<int> CpuTopology::cpus_of_node(int node) const
{
    std::vector<int> cpus;
    for (const auto* core : cores_of_node(node))
        cpus.insert(cpus.end(), core->cpus.begin(), core->cpus.end());
    std::sort(cpus.begin(), cpus.end());
    return cpus;
}

std::vector<const PhysicalCore*> CpuTopology::cores_of_node(int node) const
{
    std::vector<const PhysicalCore*> out;
    for (const auto& core : m_cores) {
        if (core.node == node)
            out.push_back(&core);
    }
    return out;
}

bool CpuTopology::has_node(int node) const
{
    return std::find(m_nodes.begin(), m_nodes.end(), node) != m_nodes.end();
}

bool CpuTopology::is_parent_core(const PhysicalCore& core)
{
    return std::find(core.cpus.begin(), core.cpus.end(), 0) != core.cpus.end();
}

std::vector<int> CpuTopology::enclave_cpus(int node) const
{
    std::vector<int> cpus;
    for (const auto* core : cores_of_node(node)) {
        if (!is_parent_core(*core))
            cpus.insert(cpus.end(), core->cpus.begin(), core->cpus.end());
    }
    std::sort(cpus.begin(), cpus.end());
    return cpus;
}

int CpuTopology::threads_per_core() const
{
    std::size_t most = 1;
    for (const auto& core : m_cores)
        most = std::max(most, core.cpus.size());
    return static_cast<int>(most);
}

} // namespace vmm::host
