// vmm/testing/fake_sysfs.h — test-only: builds a fake sysfs tree in a temp directory (CPUs with
// their topology, NUMA nodes, hugepage pools), removed when the object goes away.
//
// Usage (in a doctest file):
//     vmm::host::FakeSysfs sys;
//     sys.add_cpu(0, /*core*/ 0, /*package*/ 0, "0,2");   // thread_siblings_list
//     sys.set_online("0-3");
//     sys.add_node(0, "0-3");
//     sys.add_pool(0, "2048kB", /*total*/ 10, /*free*/ 4);
//     auto topo = vmm::host::CpuTopology::read(sys.root());
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace vmm::host {

class FakeSysfs {
public:
    FakeSysfs()
    {
        std::string templ = (std::filesystem::temp_directory_path() / "qt-vmm-fake-sysfs-XXXXXX").string();
        if (!::mkdtemp(templ.data()))
            throw std::runtime_error("mkdtemp failed");
        m_root = templ;
    }
    FakeSysfs(const FakeSysfs&) = delete;
    FakeSysfs& operator=(const FakeSysfs&) = delete;
    ~FakeSysfs()
    {
        std::error_code ec;
        std::filesystem::remove_all(m_root, ec);
    }

    const std::string& root() const { return m_root; }

    void write(const std::string& relative, const std::string& text) const
    {
        std::filesystem::path p = std::filesystem::path(m_root) / relative;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p) << text;
    }
    std::string read(const std::string& relative) const
    {
        std::ifstream in(std::filesystem::path(m_root) / relative);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

    void set_online(const std::string& list) const { write("devices/system/cpu/online", list + "\n"); }
    void add_cpu(int cpu, int core_id, int package, const std::string& siblings) const
    {
        std::string dir = "devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        write(dir + "core_id", std::to_string(core_id) + "\n");
        write(dir + "physical_package_id", std::to_string(package) + "\n");
        write(dir + "thread_siblings_list", siblings + "\n");
    }
    void add_node(int node, const std::string& cpulist) const
    {
        write("devices/system/node/node" + std::to_string(node) + "/cpulist", cpulist + "\n");
    }
    // size_dir is the kernel's name: "2048kB" or "1048576kB". node < 0 = /sys/kernel/mm/hugepages.
    void add_pool(int node, const std::string& size_dir, std::uint64_t total, std::uint64_t free, std::uint64_t surplus = 0) const
    {
        std::string dir = pool_dir(node, size_dir);
        write(dir + "nr_hugepages", std::to_string(total) + "\n");
        write(dir + "free_hugepages", std::to_string(free) + "\n");
        write(dir + "surplus_hugepages", std::to_string(surplus) + "\n");
    }
    static std::string pool_dir(int node, const std::string& size_dir)
    {
        if (node < 0)
            return "kernel/mm/hugepages/hugepages-" + size_dir + "/";
        return "devices/system/node/node" + std::to_string(node) + "/hugepages/hugepages-" + size_dir + "/";
    }

    // This host's shape: CPUs 0-1 without SMT, one node, empty 2M and 1G pools.
    void make_two_cpu_host(std::uint64_t free_2m = 0, std::uint64_t free_1g = 0) const
    {
        set_online("0-1");
        add_cpu(0, 0, 0, "0");
        add_cpu(1, 1, 0, "1");
        add_node(0, "0-1");
        add_pool(0, "2048kB", free_2m, free_2m);
        add_pool(0, "1048576kB", free_1g, free_1g);
    }
    // Two sockets, 2-way SMT: node N has cores with CPUs {c, c+8} (Linux numbers siblings apart):
    // node 0 = CPUs 0-3,8-11, node 1 = CPUs 4-7,12-15.
    void make_smt_two_node_host(std::uint64_t free_2m_per_node = 0, std::uint64_t free_1g_per_node = 0) const
    {
        set_online("0-15");
        for (int cpu = 0; cpu < 16; ++cpu) {
            int first = cpu % 8;
            add_cpu(cpu, first % 4, first / 4, std::to_string(first) + "," + std::to_string(first + 8));
        }
        add_node(0, "0-3,8-11");
        add_node(1, "4-7,12-15");
        for (int node = 0; node < 2; ++node) {
            add_pool(node, "2048kB", free_2m_per_node, free_2m_per_node);
            add_pool(node, "1048576kB", free_1g_per_node, free_1g_per_node);
        }
    }

private:
    std::string m_root;
};

} // namespace vmm::host
