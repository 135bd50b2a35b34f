#include "base/error.h"
#include "vmm/testing/fake_sysfs.h"
#include "vmm/host/meminfo.h"
#include "vmm/placement/placement.h"

#include <doctest/doctest.h>

using namespace vmm::host;
using namespace vmm::placement;

namespace {

struct Host {
    FakeSysfs sys;
    std::uint64_t mem_total_mib { 24 * 1024 }; // MemTotal; this build host's 24 GiB unless a test says otherwise
    CpuTopology topology() const { return CpuTopology::read(sys.root()); }
    HugepagePools pools() const { return HugepagePools::read(sys.root()); }
    Placement plan(const PlacementRequest& r, const std::vector<RunningEnclave>& running = {}) const
    {
        return plan_placement(r, topology(), pools(), mem_total_mib, running);
    }
    ParentReserve reserve() const { return parent_reserve(topology(), pools(), mem_total_mib); }
    // One NUMA node, no SMT, CPUs 0..cpus-1 (the nested L1 of tests/nested/ has 6).
    void make_one_node_host(int cpus, std::uint64_t total_2m, std::uint64_t total_1g)
    {
        sys.set_online("0-" + std::to_string(cpus - 1));
        for (int cpu = 0; cpu < cpus; ++cpu)
            sys.add_cpu(cpu, cpu, 0, std::to_string(cpu));
        sys.add_node(0, "0-" + std::to_string(cpus - 1));
        sys.add_pool(0, "2048kB", total_2m, total_2m);
        sys.add_pool(0, "1048576kB", total_1g, total_1g);
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

std::string summary(const ParentReserve& r)
{
    return std::to_string(r.online_cpus) + " CPUs, enclaves up to " + std::to_string(r.max_enclave_vcpus) + " vCPUs, parent "
        + std::to_string(r.memory_mib) + " MiB" + (r.memory_ok ? "" : " (too little)");
}

// The same with --allow-shared-cpus (what this 2-CPU build host needs for any enclave).
PlacementRequest shared(std::uint64_t mib, unsigned vcpus)
{
    PlacementRequest r = request(mib, vcpus);
    r.allow_shared_cpus = true;
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

TEST_CASE("this host's shape: with the opt-out CPU 1 alone takes a 1-vCPU enclave")
{
    Host host;
    host.sys.make_two_cpu_host(/*free_2m*/ 128, /*free_1g*/ 1);
    CHECK(error_of([&] { host.plan(request(256, 1)); }).rfind("VCPUS_ODD: ", 0) == 0);
    Placement p = host.plan(shared(256, 1));
    CHECK(p.numa_node == 0);
    CHECK(p.page_size == kPageSize2M);
    CHECK(p.page_count == 128);
    CHECK(p.memory_mib == 256);
    CHECK_FALSE(p.memory_rounded_up);
    CHECK(p.cpus == std::vector<int> { 1 });
    CHECK(p.isolated);
    CHECK(isolation_name(p) == "isolated");

    Placement g = host.plan(shared(1024, 1));
    CHECK(g.page_size == kPageSize1G);
    CHECK(g.page_count == 1);
}

TEST_CASE("this host's shape: 2 vCPUs need the opt-out, which shares CPU 0's core")
{
    Host host;
    host.sys.make_two_cpu_host(128, 0);
    CHECK(error_of([&] { host.plan(request(256, 2)); })
        == "VCPUS_OVER_NODE_LIMIT: --cpus 2 is over the limit of 0 vCPUs per enclave on NUMA node 0 (its 2 CPUs minus 2); this host is too "
           "small for an enclave by that rule: pass --allow-shared-cpus (small dev hosts)");
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
    CHECK(error_of([&] { host.plan(request(256, 1), running); }).rfind("VCPUS_ODD: ", 0) == 0);
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

    // Each node has 8 CPUs: at most 6 vCPUs per enclave, even on node 1, which has 4 free cores.
    r.numa_node = 1;
    r.vcpus = 8;
    CHECK(error_of([&] { host.plan(r); })
        == "VCPUS_OVER_NODE_LIMIT: --cpus 8 is over the limit of 6 vCPUs per enclave on NUMA node 1 (its 8 CPUs minus 2); use --cpus 6 or "
           "fewer, or pass --allow-shared-cpus (small dev hosts)");
    r.numa_node.reset();
    CHECK(error_of([&] { host.plan(r); }).rfind("VCPUS_OVER_NODE_LIMIT: --cpus 8 is over the limit of 6 vCPUs per enclave on NUMA node 0", 0) == 0);
    r.allow_shared_cpus = true; // the opt-out waives it
    CHECK(host.plan(r).cpus.size() == 8);
    r.allow_shared_cpus = false;
    // Node 0 has 3 free cores (6 CPUs); with one taken by an enclave 6 vCPUs fit only on node 1.
    r.vcpus = 6;
    std::vector<RunningEnclave> running { { .enclave_id = 0, .cid = 4, .cpus = { 1, 9 } } };
    CHECK(host.plan(r, running).numa_node == 1);
    r.numa_node = 0;
    CHECK(host.plan(r).cpus == std::vector<int> { 1, 9, 2, 10, 3, 11 });
    CHECK(error_of([&] { host.plan(r, running); }).find("free: 4: CPUs 2-3,10-11;") != std::string::npos);
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
    CHECK(error_of([&] { host.plan(shared(256, 1)); })
        == "HUGEPAGES_SHORT: NUMA node 0 has 100 free 2M hugepages but 256 MiB needs 128: 28 2M pages missing; reserve them with: "
           "qt-vmm allocator --mem 256 --hugepage-size 2M --numa-node 0");
    CHECK(error_of([&] { host.plan(shared(2048, 1)); })
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
    Placement p = host.plan(shared(129, 1));
    CHECK(p.page_size == kPageSize2M);
    CHECK(p.page_count == 65);
    CHECK(p.memory_mib == 130);
    CHECK(p.memory_rounded_up);
    p = host.plan(shared(1500, 1));
    CHECK(p.page_size == kPageSize1G);
    CHECK(p.page_count == 2);
    CHECK(p.memory_mib == 2048);
    auto r = shared(200, 1);
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
    CHECK(error_of([&] { host.plan(shared(1024, 1)); })
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
    const std::uint64_t mem_total = read_mem_total_mib();
    const unsigned threads = static_cast<unsigned>(topology.threads_per_core());
    auto r = request(256, threads % 2 == 0 ? threads : 2 * threads); // the smallest count the rules allow
    if (parent_reserve(topology, pools, mem_total).max_enclave_vcpus < r.vcpus) {
        CHECK(error_of([&] { plan_placement(r, topology, pools, mem_total, {}); }) != ""); // e.g. this 2-CPU build host
        return;
    }
    Placement p = plan_placement(r, topology, pools, mem_total, {});
    CHECK(p.isolated);
    REQUIRE(p.cpus.size() == r.vcpus);
    for (int cpu : p.cpus) {
        CHECK_FALSE(CpuTopology::is_parent_core(*topology.core_of(cpu)));
        CHECK(topology.node_of(cpu) == p.numa_node);
    }
}

TEST_CASE("QingTian: an even number of vCPUs, unless the opt-out")
{
    Host host;
    host.make_one_node_host(6, 512, 2);
    CHECK(error_of([&] { host.plan(request(256, 3)); })
        == "VCPUS_ODD: --cpus 3 is odd, and an enclave has an even number of vCPUs; use --cpus 2 or 4, or pass --allow-shared-cpus (small dev hosts)");
    CHECK(error_of([&] { host.plan(request(256, 1)); })
        == "VCPUS_ODD: --cpus 1 is odd, and an enclave has an even number of vCPUs; use --cpus 2, or pass --allow-shared-cpus (small dev hosts)");
    Placement p = host.plan(shared(256, 3));
    CHECK(p.cpus == std::vector<int> { 1, 2, 3 });
    CHECK(p.isolated);
    CHECK(host.plan(request(256, 2)).cpus == std::vector<int> { 1, 2 });
}

TEST_CASE("QingTian: at most the node's CPUs minus 2, unless the opt-out")
{
    Host host;
    host.make_one_node_host(6, 512, 2);
    CHECK(error_of([&] { host.plan(request(256, 6)); })
        == "VCPUS_OVER_NODE_LIMIT: --cpus 6 is over the limit of 4 vCPUs per enclave on NUMA node 0 (its 6 CPUs minus 2); use --cpus 4 or "
           "fewer, or pass --allow-shared-cpus (small dev hosts)");
    CHECK(host.plan(request(256, 4)).cpus == std::vector<int> { 1, 2, 3, 4 });
    Placement p = host.plan(shared(256, 6));
    CHECK(p.cpus == std::vector<int> { 1, 2, 3, 4, 5, 0 });
    CHECK(p.shares_parent_core);

    Host odd; // 7 CPUs: 5 by the rule, 4 as an even count
    odd.make_one_node_host(7, 512, 0);
    CHECK(error_of([&] { odd.plan(request(256, 6)); }).find("limit of 5 vCPUs per enclave on NUMA node 0 (its 7 CPUs minus 2); use --cpus 4 or fewer")
        != std::string::npos);
}

TEST_CASE("QingTian: at most 62 vCPUs over all the parent's enclaves, even with the opt-out")
{
    Host host; // two nodes of 64 CPUs, no SMT
    host.sys.set_online("0-127");
    for (int cpu = 0; cpu < 128; ++cpu)
        host.sys.add_cpu(cpu, cpu % 64, cpu / 64, std::to_string(cpu));
    host.sys.add_node(0, "0-63");
    host.sys.add_node(1, "64-127");
    for (int node = 0; node < 2; ++node) {
        host.sys.add_pool(node, "2048kB", 512, 512);
        host.sys.add_pool(node, "1048576kB", 0, 0);
    }
    std::vector<int> a, b;
    for (int cpu = 1; cpu <= 32; ++cpu)
        a.push_back(cpu);
    for (int cpu = 64; cpu < 88; ++cpu)
        b.push_back(cpu);
    std::vector<RunningEnclave> running { { .enclave_id = 0, .cid = 4, .cpus = a, .vcpus = 32 }, { .enclave_id = 1, .cid = 5, .cpus = b, .vcpus = 24 } };
    CHECK(error_of([&] { host.plan(request(256, 8), running); })
        == "VCPUS_OVER_TOTAL_LIMIT: --cpus 8 would bring this parent's enclaves to 64 vCPUs (56 in running ones), over the limit of 62 in "
           "total; use --cpus 6 or fewer, or stop an enclave");
    CHECK(error_of([&] { host.plan(shared(256, 8), running); }).rfind("VCPUS_OVER_TOTAL_LIMIT: ", 0) == 0);
    Placement p = host.plan(request(256, 6), running);
    CHECK(p.cpus.size() == 6);
    CHECK(p.isolated);
    CHECK(host.plan(request(256, 62)).cpus.size() == 62); // one enclave alone may have 62 (64 CPUs minus 2 per node)

    // A tcg enclave pins no CPUs but its vCPUs count (the launcher calls check_vcpu_total for tcg too).
    std::vector<RunningEnclave> tcg { { .enclave_id = 0, .cid = 4, .cpus = {}, .vcpus = 60 } };
    CHECK(error_of([&] { check_vcpu_total(request(256, 4), tcg); })
        == "VCPUS_OVER_TOTAL_LIMIT: --cpus 4 would bring this parent's enclaves to 64 vCPUs (60 in running ones), over the limit of 62 in "
           "total; use --cpus 2 or fewer, or stop an enclave");
    CHECK(error_of([&] { check_vcpu_total(request(256, 2), tcg); }) == "");
    std::vector<RunningEnclave> full { { .enclave_id = 0, .cid = 4, .cpus = {}, .vcpus = 62 } };
    CHECK(error_of([&] { check_vcpu_total(shared(256, 1), full); }).find("in total; stop an enclave") != std::string::npos);
}

TEST_CASE("the parent keeps at least 2 CPUs no enclave uses, unless the opt-out")
{
    Host host;
    host.make_one_node_host(6, 512, 2);
    std::vector<RunningEnclave> running { { .enclave_id = 0, .cid = 4, .cpus = { 1, 2 }, .vcpus = 2 } };
    CHECK(error_of([&] { host.plan(request(256, 4), running); })
        == "PARENT_CPUS_TOO_FEW: --cpus 4 would leave the parent 0 CPUs that no enclave uses (of 6 CPUs online), and it keeps at least 2; "
           "use --cpus 2 or fewer, stop an enclave, or pass --allow-shared-cpus (small dev hosts)");
    Placement p = host.plan(shared(256, 4), running);
    CHECK(p.cpus == std::vector<int> { 3, 4, 5, 0 });

    // Two nodes of 4 CPUs: an enclave on node 1 also counts against the parent's CPUs on node 0's side.
    Host two;
    two.sys.set_online("0-7");
    for (int cpu = 0; cpu < 8; ++cpu)
        two.sys.add_cpu(cpu, cpu % 4, cpu / 4, std::to_string(cpu));
    two.sys.add_node(0, "0-3");
    two.sys.add_node(1, "4-7");
    two.sys.add_pool(0, "2048kB", 512, 512);
    two.sys.add_pool(1, "2048kB", 512, 512);
    std::vector<RunningEnclave> three { { .enclave_id = 0, .cid = 4, .cpus = { 4, 5 } }, { .enclave_id = 1, .cid = 5, .cpus = { 1, 2 } } };
    CHECK(two.plan(request(256, 2), three).cpus == std::vector<int> { 6, 7 }); // 0 and 3 stay the parent's
    std::vector<RunningEnclave> more { { .enclave_id = 0, .cid = 4, .cpus = { 4, 5, 6 }, .vcpus = 3 }, { .enclave_id = 1, .cid = 5, .cpus = { 1, 2 } } };
    CHECK(error_of([&] { two.plan(request(256, 2), more); })
        == "PARENT_CPUS_TOO_FEW: --cpus 2 would leave the parent 1 CPU that no enclave uses (of 8 CPUs online), and it keeps at least 2; "
           "stop an enclave, or pass --allow-shared-cpus (small dev hosts)");
}

TEST_CASE("the parent keeps at least 512 MiB outside the hugepage pools, unless the opt-out")
{
    Host host;
    host.make_one_node_host(6, 512, 2); // 1 GiB of 2M pages + 2 GiB of 1G pages
    host.mem_total_mib = 3500;
    CHECK(parent_memory_mib(3500, host.pools()) == 428);
    CHECK(error_of([&] { host.plan(request(256, 2)); })
        == "PARENT_MEMORY_TOO_LOW: the hugepage pools leave the parent 428 MiB of its 3500 MiB (MemTotal), and it keeps at least 512 MiB; "
           "give free pages back: qt-vmm allocator --mem 1024 --hugepage-size 1G --numa-node 0 --release, or pass --allow-shared-cpus (small dev hosts)");
    CHECK(host.plan(shared(256, 2)).cpus == std::vector<int> { 1, 2 });
    host.mem_total_mib = 3072 + 512;
    CHECK(host.plan(request(256, 2)).cpus == std::vector<int> { 1, 2 });

    // Surplus pages count too; a pool bigger than MemTotal leaves 0, not a wrap-around.
    auto pools = HugepagePools::from_pools({ { .node = 0, .page_size = kPageSize2M, .total = 100, .free = 0, .surplus = 28, .directory = "" } });
    CHECK(parent_memory_mib(1024, pools) == 768);
    CHECK(parent_memory_mib(200, pools) == 0);
    Host none; // no free pages to give back
    none.make_one_node_host(6, 0, 0);
    none.sys.add_pool(0, "2048kB", 300, 0);
    none.mem_total_mib = 1000;
    CHECK(error_of([&] { none.plan(request(256, 2)); }).find("stop an enclave and shrink the hugepage pools, or pass") != std::string::npos);
}

TEST_CASE("the nested L1's shape: two 2-vCPU enclaves without the opt-out, the parent keeps CPUs 0 and 5")
{
    Host host;
    host.make_one_node_host(6, 512, 2); // 6 CPUs, one node, no SMT, 6 GiB with 2×1G + 512×2M reserved
    host.mem_total_mib = 6144;
    Placement first = host.plan(request(256, 2));
    CHECK(first.cpus == std::vector<int> { 1, 2 });
    CHECK(isolation_name(first) == "isolated");
    std::vector<RunningEnclave> running { { .enclave_id = 0, .cid = 4, .cpus = first.cpus, .vcpus = 2 } };
    CHECK(error_of([&] { check_new_enclave(5, running); }) == "");
    Placement second = host.plan(request(256, 2), running);
    CHECK(second.cpus == std::vector<int> { 3, 4 });
    CHECK(isolation_name(second) == "isolated");
    running.push_back({ .enclave_id = 1, .cid = 5, .cpus = second.cpus, .vcpus = 2 });
    CHECK(error_of([&] { check_new_enclave(6, running); }).rfind("ENCLAVE_LIMIT: ", 0) == 0);
    CHECK(summary(host.reserve()) == "6 CPUs, enclaves up to 4 vCPUs, parent 3072 MiB");
}

TEST_CASE("parent_reserve: what host-check reports")
{
    Host small;
    small.sys.make_two_cpu_host(128, 0);
    CHECK(summary(small.reserve()) == "2 CPUs, enclaves up to 0 vCPUs, parent 24320 MiB"); // 24 GiB minus 256 MiB of 2M pages
    Host smt;
    smt.sys.make_smt_two_node_host(256, 1);
    smt.mem_total_mib = 3072 + 511; // pools: 2 nodes × (512 MiB of 2M + 1 GiB of 1G)
    CHECK(summary(smt.reserve()) == "16 CPUs, enclaves up to 6 vCPUs, parent 511 MiB (too little)");
}

TEST_CASE("MemTotal from /proc/meminfo")
{
    CHECK(parse_mem_total_mib("MemTotal:       24575488 kB\nMemFree:  1 kB\n") == 23999);
    CHECK(parse_mem_total_mib("MemFree: 1 kB\nMemTotal: 2048 kB\n") == 2);
    CHECK(error_of([] { parse_mem_total_mib("MemFree: 1 kB\n"); }).rfind("MEMINFO_BAD: ", 0) == 0);
    CHECK(error_of([] { parse_mem_total_mib("MemTotal: lots\n"); }).rfind("MEMINFO_BAD: ", 0) == 0);
    CHECK(read_mem_total_mib() > 0);
}
