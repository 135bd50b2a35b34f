#include "base/error.h"
#include "vmm/testing/fake_sysfs.h"
#include "vmm/placement/placement.h"

#include <doctest/doctest.h>

using namespace vmm::host;
using namespace vmm::placement;

namespace {

struct Host {
    FakeSysfs sys;
    CpuTopology topology() const { return CpuTopology::read(sys.root()); }
    HugepagePools pools() const { return HugepagePools::read(sys.root()); }
    Placement plan(const PlacementRequest& r, const std::vector<RunningEnclave>& running = {}) const
    {
        return plan_placement(r, topology(), pools(), running);
    }
};

// Runs fn; returns "CODE: message" of the base::Error it throws, or "" if none.
template<typename Fn>
std::string error_of(Fn&& fn)
{
    try {
        fn();
    } catch (const base::Error& e) {
        return e.code() + ": " + e.what();
    }
    return "";
}

PlacementRequest request(std::uint64_t mib, unsigned vcpus)
{
    PlacementRequest r;
    r.memory_mib = mib;
    r.vcpus = vcpus;
    return r;
}

} // namespace

TEST_CASE("default page size: 1G for whole GiB, else 2M up to 512 MiB, else 1G")
{
    CHECK(default_page_size(128) == kPageSize2M);
    CHECK(default_page_size(512) == kPageSize2M);
    CHECK(default_page_size(1024) == kPageSize1G);
    CHECK(default_page_size(3072) == kPageSize1G);
    CHECK(default_page_size(1500) == kPageSize1G);
    CHECK(default_page_size(513) == kPageSize1G);
}

TEST_CASE("memory rules and their messages")
{
    CHECK(error_of([] { check_request(request(64, 1)); })
        == "MEMORY_TOO_SMALL: --mem 64 MiB is below the minimum of 128 MiB; use --mem 128 or more");
    CHECK(error_of([] { check_request(request(128, 1)); }) == "");
    auto r = request(128, 1);
    r.eif_size = 40 * kMiB + 1; // 41 MiB counted → 164 MiB needed
    CHECK(error_of([&] { check_request(r); })
        == "MEMORY_BELOW_4X_EIF: --mem 128 MiB is less than 4 times the EIF size (41943041 bytes); use --mem 164 or more");
    r.memory_mib = 164;
    CHECK(error_of([&] { check_request(r); }) == "");
    r = request(1024, 1);
    r.page_size = kPageSize2M;
    CHECK(error_of([&] { check_request(r); })
        == "MEMORY_TOO_LARGE_FOR_2M: --mem 1024 MiB is over the 512 MiB limit for 2 MiB hugepages; use --hugepage-size 1G or --mem 512 or less");
    r.memory_mib = 512;
    CHECK(error_of([&] { check_request(r); }) == "");
    CHECK(error_of([] { check_request(request(256 * 1024 + 1, 1)); })
        == "MEMORY_TOO_LARGE: --mem 262145 MiB exceeds the limit of 256 GiB; use --mem 262144 or less");
    CHECK(error_of([] { check_request(request(256 * 1024, 1)); }) == "");
    r = request(256, 1);
    r.page_size = 4096;
    CHECK(error_of([&] { check_request(r); }).rfind("HUGEPAGE_SIZE_INVALID: ", 0) == 0);
}

TEST_CASE("vCPU count rules")
{
    CHECK(error_of([] { check_request(request(256, 0)); })
        == "VCPUS_INVALID: --cpus 0 is out of range; an enclave has 1 to 62 vCPUs");
    CHECK(error_of([] { check_request(request(256, 63)); }).rfind("VCPUS_INVALID: --cpus 63", 0) == 0);
    CHECK(error_of([] { check_request(request(256, 62)); }) == "");
}

TEST_CASE("this host's shape: CPU 1 alone takes a 1-vCPU enclave")
{
    Host host;
    host.sys.make_two_cpu_host(/*free_2m*/ 128, /*free_1g*/ 1);
    Placement p = host.plan(request(256, 1));
    CHECK(p.numa_node == 0);
    CHECK(p.page_size == kPageSize2M);
    CHECK(p.page_count == 128);
    CHECK(p.memory_mib == 256);
    CHECK_FALSE(p.memory_rounded_up);
    CHECK(p.cpus == std::vector<int> { 1 });
    CHECK(p.isolated);
    CHECK(isolation_name(p) == "isolated");

    Placement g = host.plan(request(1024, 1));
    CHECK(g.page_size == kPageSize1G);
    CHECK(g.page_count == 1);
}

TEST_CASE("this host's shape: 2 vCPUs need the opt-out, which shares CPU 0's core")
{
    Host host;
    host.sys.make_two_cpu_host(128, 0);
    CHECK(error_of([&] { host.plan(request(256, 2)); })
        == "CPUS_UNAVAILABLE: 2 vCPUs need whole physical cores on NUMA node 0 that neither the parent (CPU 0's core) nor another enclave uses; "
           "free: 1: CPUs 1; use fewer --cpus, stop an enclave, or pass --allow-shared-cpus (small dev hosts: vCPUs may then share CPUs with "
           "the parent or another enclave)");
    auto r = request(256, 2);
    r.allow_shared_cpus = true;
    Placement p = host.plan(r);
    CHECK(p.cpus == std::vector<int> { 1, 0 });
    CHECK_FALSE(p.isolated);
    CHECK(p.shares_parent_core);
    CHECK_FALSE(p.shares_enclave_cpus);
    CHECK(isolation_name(p) == "shares-parent-core");

    r.vcpus = 3;
    CHECK(error_of([&] { host.plan(r); })
        == "CPUS_UNAVAILABLE: 3 vCPUs need as many host CPUs on NUMA node 0, which has only 2 (0-1); use --cpus 2 or fewer");
}

TEST_CASE("this host's shape: a second enclave cannot take CPU 1 without the opt-out")
{
    Host host;
    host.sys.make_two_cpu_host(256, 0);
    std::vector<RunningEnclave> running { { .enclave_id = 0, .cid = 4, .cpus = { 1 } } };
    CHECK(error_of([&] { host.plan(request(256, 1), running); }).find("free: none;") != std::string::npos);
    auto r = request(256, 1);
    r.allow_shared_cpus = true;
    Placement p = host.plan(r, running);
    CHECK(p.cpus == std::vector<int> { 0 }); // the parent's CPU before another enclave's
    CHECK(isolation_name(p) == "shares-parent-core");
    r.vcpus = 2;
    p = host.plan(r, running);
    CHECK(p.cpus == std::vector<int> { 0, 1 });
    CHECK(isolation_name(p) == "shares-parent-core,shares-enclave-cpus");
}

TEST_CASE("SMT host: whole cores, siblings together, never CPU 0's core")
{
    Host host;
    host.sys.make_smt_two_node_host(256, 0);
    Placement p = host.plan(request(256, 4));
    CHECK(p.cpus == std::vector<int> { 4, 12, 5, 13 });
    CHECK(p.isolated);
    CHECK(p.numa_node == 1); // node 1 has 4 free cores, node 0 only 3 (CPU 0's core is the parent's)

    CHECK(error_of([&] { host.plan(request(256, 3)); })
        == "VCPUS_NOT_WHOLE_CORES: --cpus 3 is not a whole number of physical cores (2 SMT threads per core here); use --cpus 4 or 2, or pass "
           "--allow-shared-cpus (small dev hosts: vCPUs may then share CPUs with the parent or another enclave)");
    CHECK(error_of([&] { host.plan(request(256, 1)); }).find("use --cpus 2, or pass") != std::string::npos);
}

TEST_CASE("SMT host: node choice prefers the most free CPUs, an explicit node is strict")
{
    Host host;
    host.sys.make_smt_two_node_host(256, 0);
    Placement p = host.plan(request(256, 2));
    CHECK(p.numa_node == 1);
    CHECK(p.cpus == std::vector<int> { 4, 12 });

    auto r = request(256, 2);
    r.numa_node = 0;
    p = host.plan(r);
    CHECK(p.numa_node == 0);
    CHECK(p.cpus == std::vector<int> { 1, 9 });

    r.numa_node = 5;
    CHECK(error_of([&] { host.plan(r); })
        == "NUMA_NODE_INVALID: NUMA node 5 has no online CPUs on this host; use --numa-node with one of: 0,1");

    // Node 0 has 3 free cores; 8 vCPUs fit only on node 1.
    r.numa_node = 0;
    r.vcpus = 8;
    CHECK(error_of([&] { host.plan(r); }).find("free: 6: CPUs 1-3,9-11;") != std::string::npos);
    r.numa_node.reset();
    CHECK(host.plan(r).numa_node == 1);
    r.vcpus = 10;
    CHECK(error_of([&] { host.plan(r); }).rfind("CPUS_UNAVAILABLE: 10 vCPUs need whole physical cores on NUMA node 1", 0) == 0);
}

TEST_CASE("SMT host: the default node is one with enough free pages")
{
    Host host;
    host.sys.make_smt_two_node_host(0, 0);
    host.sys.add_pool(0, "2048kB", 200, 200);
    Placement p = host.plan(request(256, 2)); // node 1 has more free CPUs but no pages
    CHECK(p.numa_node == 0);
    CHECK(p.cpus == std::vector<int> { 1, 9 });
}

TEST_CASE("SMT host: CPUs of running enclaves and their cores are excluded")
{
    Host host;
    host.sys.make_smt_two_node_host(512, 0);
    std::vector<RunningEnclave> running { { .enclave_id = 0, .cid = 4, .cpus = { 4, 12, 5 } } }; // core {5,13} half used
    auto r = request(256, 2);
    r.numa_node = 1;
    Placement p = host.plan(r, running);
    CHECK(p.cpus == std::vector<int> { 6, 14 });
    CHECK(p.isolated);
    r.vcpus = 6;
    CHECK(error_of([&] { host.plan(r, running); }).find("free: 4: CPUs 6-7,14-15;") != std::string::npos);
    r.allow_shared_cpus = true;
    p = host.plan(r, running);
    CHECK(p.cpus == std::vector<int> { 6, 14, 7, 15, 13, 4 }); // free cores (siblings adjacent), the free sibling, then the enclave's CPUs
    CHECK(p.shares_enclave_cpus);
    CHECK_FALSE(p.shares_parent_core);
}

TEST_CASE("SMT host with the opt-out: an odd vCPU count takes part of a free core")
{
    Host host;
    host.sys.make_smt_two_node_host(512, 0);
    auto r = request(256, 1);
    r.allow_shared_cpus = true;
    r.numa_node = 0;
    Placement p = host.plan(r);
    CHECK(p.cpus == std::vector<int> { 1 });
    CHECK_FALSE(p.isolated);
    CHECK(isolation_name(p) == "partial-core");
}

TEST_CASE("memory short: names the pages, size, node and the allocator command")
{
    Host host;
    host.sys.make_two_cpu_host(/*free_2m*/ 100, /*free_1g*/ 0);
    CHECK(error_of([&] { host.plan(request(256, 1)); })
        == "HUGEPAGES_SHORT: NUMA node 0 has 100 free 2M hugepages but 256 MiB needs 128: 28 2M pages missing; reserve them with: "
           "qt-vmm allocator --mem 256 --hugepage-size 2M --numa-node 0");
    CHECK(error_of([&] { host.plan(request(2048, 1)); })
        == "HUGEPAGES_SHORT: NUMA node 0 has 0 free 1G hugepages but 2048 MiB needs 2: 2 1G pages missing; reserve them with: "
           "qt-vmm allocator --mem 2048 --hugepage-size 1G --numa-node 0");

    Host smt;
    smt.sys.make_smt_two_node_host(0, 0);
    auto r = request(256, 2);
    CHECK(error_of([&] { smt.plan(r); }).find("--numa-node 1") != std::string::npos); // the node with the most free CPUs
    r.numa_node = 0;
    CHECK(error_of([&] { smt.plan(r); }).find("--numa-node 0") != std::string::npos);
}

TEST_CASE("memory is rounded up to whole pages and the real size reported")
{
    Host host;
    host.sys.make_two_cpu_host(512, 4);
    Placement p = host.plan(request(129, 1));
    CHECK(p.page_size == kPageSize2M);
    CHECK(p.page_count == 65);
    CHECK(p.memory_mib == 130);
    CHECK(p.memory_rounded_up);
    p = host.plan(request(1500, 1));
    CHECK(p.page_size == kPageSize1G);
    CHECK(p.page_count == 2);
    CHECK(p.memory_mib == 2048);
    auto r = request(200, 1);
    r.page_size = kPageSize1G;
    p = host.plan(r);
    CHECK(p.memory_mib == 1024);
    CHECK(p.page_count == 1);
}

TEST_CASE("a page size the kernel lacks is named")
{
    Host host;
    host.sys.set_online("0-1");
    host.sys.add_cpu(0, 0, 0, "0");
    host.sys.add_cpu(1, 1, 0, "1");
    host.sys.add_node(0, "0-1");
    host.sys.add_pool(0, "2048kB", 512, 512);
    CHECK(error_of([&] { host.plan(request(1024, 1)); })
        == "HUGEPAGE_SIZE_UNSUPPORTED: this host's kernel has no 1G hugepage pool; use --hugepage-size 2M");
}

TEST_CASE("CID range, uniqueness and the per-parent enclave limit")
{
    std::vector<RunningEnclave> none;
    CHECK(error_of([&] { check_new_enclave(3, none); })
        == "CID_OUT_OF_RANGE: --cid 3 is out of range; use a CID from 4 to 4294967294 (0-2 are reserved, 3 is the parent)");
    CHECK(error_of([&] { check_new_enclave(4294967295ull, none); }).rfind("CID_OUT_OF_RANGE", 0) == 0);
    CHECK(error_of([&] { check_new_enclave(4, none); }) == "");
    CHECK(error_of([&] { check_new_enclave(4294967294ull, none); }) == "");
    std::vector<RunningEnclave> one { { .enclave_id = 7, .cid = 4, .cpus = { 1 } } };
    CHECK(error_of([&] { check_new_enclave(4, one); })
        == "CID_IN_USE: CID 4 is already used by enclave 7; pick another --cid (e.g. 5)");
    CHECK(error_of([&] { check_new_enclave(5, one); }) == "");
    std::vector<RunningEnclave> two { { .enclave_id = 0, .cid = 4, .cpus = {} }, { .enclave_id = 1, .cid = 5, .cpus = {} } };
    CHECK(error_of([&] { check_new_enclave(6, two); })
        == "ENCLAVE_LIMIT: this parent already runs 2 enclaves (IDs 0, 1), the most allowed; stop one first: qt-vmm enclave stop --enclave-id 0");
    std::vector<RunningEnclave> wrap { { .enclave_id = 0, .cid = 4294967294ull, .cpus = {} } };
    CHECK(error_of([&] { check_new_enclave(4294967294ull, wrap); }).find("(e.g. 4)") != std::string::npos);
}

TEST_CASE("allocator_command")
{
    CHECK(allocator_command(256, kPageSize2M, 0) == "qt-vmm allocator --mem 256 --hugepage-size 2M --numa-node 0");
    CHECK(allocator_command(2048, kPageSize1G, 1) == "qt-vmm allocator --mem 2048 --hugepage-size 1G --numa-node 1");
}

TEST_CASE("on this machine's real topology a strict placement never touches CPU 0's core")
{
    auto topology = CpuTopology::read("/sys");
    std::vector<HugepagePool> fake;
    for (int node : topology.nodes())
        fake.push_back({ .node = node, .page_size = kPageSize2M, .total = 1024, .free = 1024, .surplus = 0, .directory = "" });
    auto pools = HugepagePools::from_pools(fake);
    auto r = request(256, static_cast<unsigned>(topology.threads_per_core()));
    std::size_t usable = 0;
    for (int node : topology.nodes())
        usable = std::max(usable, topology.enclave_cpus(node).size());
    if (usable == 0) {
        CHECK(error_of([&] { plan_placement(r, topology, pools, {}); }).rfind("CPUS_UNAVAILABLE", 0) == 0);
        return;
    }
    Placement p = plan_placement(r, topology, pools, {});
    CHECK(p.isolated);
    REQUIRE(p.cpus.size() == r.vcpus);
    for (int cpu : p.cpus) {
        CHECK_FALSE(CpuTopology::is_parent_core(*topology.core_of(cpu)));
        CHECK(topology.node_of(cpu) == p.numa_node);
    }
}
