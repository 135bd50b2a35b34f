#include "base/error.h"
#include "vmm/host/cpu_list.h"
#include "vmm/host/cpu_topology.h"
#include "vmm/testing/fake_sysfs.h"

#include <doctest/doctest.h>

using namespace vmm::host;

static std::string error_code_of(auto&& fn)
{
    try {
        fn();
    } catch (const base::Error& e) {
        return e.code();
    }
    return "";
}

TEST_CASE("cpu list: parse the kernel's notation")
{
    CHECK(parse_cpu_list("0-3,8,10-11\n") == std::vector<int> { 0, 1, 2, 3, 8, 10, 11 });
    CHECK(parse_cpu_list("5") == std::vector<int> { 5 });
    CHECK(parse_cpu_list("\n").empty());
    CHECK(parse_cpu_list("").empty());
    CHECK(parse_cpu_list("3,1,1-2") == std::vector<int> { 1, 2, 3 });
    for (const char* bad : { "a", "1-", "-1", "3-1", "1,,2", "1 2", "0-99999", "1,", "0x1" })
        CHECK_MESSAGE(error_code_of([&] { parse_cpu_list(bad); }) == "CPU_LIST_INVALID", bad);
}

TEST_CASE("cpu list: format compresses runs and round-trips")
{
    CHECK(format_cpu_list({ 0, 1, 2, 3, 8, 10, 11 }) == "0-3,8,10-11");
    CHECK(format_cpu_list({ 7, 1 }) == "1,7");
    CHECK(format_cpu_list({}) == "");
    CHECK(format_cpu_list({ 4, 4, 5 }) == "4-5");
    for (const char* text : { "0", "0-1", "1,3,5-9,12", "0-63" })
        CHECK(format_cpu_list(parse_cpu_list(text)) == text);
}

TEST_CASE("topology: this host's shape (2 CPUs, no SMT, one node)")
{
    FakeSysfs sys;
    sys.make_two_cpu_host();
    auto topo = CpuTopology::read(sys.root());
    CHECK(topo.online_cpus() == std::vector<int> { 0, 1 });
    REQUIRE(topo.cores().size() == 2);
    CHECK(topo.cores()[0].cpus == std::vector<int> { 0 });
    CHECK(topo.cores()[1].cpus == std::vector<int> { 1 });
    CHECK(topo.cores()[1].core_id == 1);
    CHECK(topo.nodes() == std::vector<int> { 0 });
    CHECK(topo.threads_per_core() == 1);
    CHECK(topo.node_of(1) == 0);
    CHECK(topo.node_of(7) == -1);
    CHECK(topo.core_of(7) == nullptr);
    CHECK(topo.enclave_cpus(0) == std::vector<int> { 1 });
}

TEST_CASE("topology: 2-way SMT, two nodes, siblings grouped into cores")
{
    FakeSysfs sys;
    sys.make_smt_two_node_host();
    auto topo = CpuTopology::read(sys.root());
    CHECK(topo.online_cpus().size() == 16);
    REQUIRE(topo.cores().size() == 8);
    CHECK(topo.threads_per_core() == 2);
    CHECK(topo.nodes() == std::vector<int> { 0, 1 });
    const PhysicalCore* core = topo.core_of(9);
    REQUIRE(core != nullptr);
    CHECK(core->cpus == std::vector<int> { 1, 9 });
    CHECK(core->node == 0);
    CHECK(topo.core_of(12)->cpus == std::vector<int> { 4, 12 });
    CHECK(topo.core_of(12)->node == 1);
    CHECK(topo.core_of(12)->package == 1);
    CHECK(topo.cpus_of_node(1) == parse_cpu_list("4-7,12-15"));
    CHECK(topo.cores_of_node(0).size() == 4);
    CHECK(CpuTopology::is_parent_core(*topo.core_of(8)));
    CHECK_FALSE(CpuTopology::is_parent_core(*topo.core_of(1)));
    CHECK(topo.enclave_cpus(0) == parse_cpu_list("1-3,9-11"));
    CHECK(topo.enclave_cpus(1) == parse_cpu_list("4-7,12-15"));
}

TEST_CASE("topology: an offline sibling leaves a one-CPU core; offline CPUs are absent")
{
    FakeSysfs sys;
    sys.make_smt_two_node_host();
    sys.set_online("0-10,12-15"); // CPU 11 offline: core {3,11} has only CPU 3
    auto topo = CpuTopology::read(sys.root());
    CHECK(topo.core_of(3)->cpus == std::vector<int> { 3 });
    CHECK(topo.core_of(11) == nullptr);
    CHECK(topo.cores().size() == 8);
}

TEST_CASE("topology: no node directories and no topology files (containers, CONFIG_NUMA=n)")
{
    FakeSysfs sys;
    sys.set_online("0-2");
    auto topo = CpuTopology::read(sys.root());
    CHECK(topo.nodes() == std::vector<int> { 0 });
    CHECK(topo.cores().size() == 3);
    CHECK(topo.threads_per_core() == 1);
}

TEST_CASE("topology: a missing online file is an error naming the path")
{
    FakeSysfs sys;
    try {
        CpuTopology::read(sys.root());
        FAIL("expected an error");
    } catch (const base::Error& e) {
        CHECK(std::string(e.what()).find("devices/system/cpu/online") != std::string::npos);
    }
}

TEST_CASE("topology: reads the real /sys of this machine")
{
    auto topo = CpuTopology::read("/sys");
    CHECK(!topo.online_cpus().empty());
    CHECK(topo.core_of(topo.online_cpus().front()) != nullptr);
    std::size_t cpus_in_cores = 0;
    for (const auto& core : topo.cores())
        cpus_in_cores += core.cpus.size();
    CHECK(cpus_in_cores == topo.online_cpus().size());
}
