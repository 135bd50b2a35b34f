#include "base/error.h"
#include "vmm/testing/fake_sysfs.h"
#include "vmm/host/hugepage_pool.h"

#include <doctest/doctest.h>

using namespace vmm::host;

TEST_CASE("hugepage size names")
{
    CHECK(parse_hugepage_size("2M") == kPageSize2M);
    CHECK(parse_hugepage_size("2mib") == kPageSize2M);
    CHECK(parse_hugepage_size("2048kB") == kPageSize2M);
    CHECK(parse_hugepage_size("1G") == kPageSize1G);
    CHECK(parse_hugepage_size("1GiB") == kPageSize1G);
    CHECK(hugepage_size_name(kPageSize2M) == "2M");
    CHECK(hugepage_size_name(kPageSize1G) == "1G");
    CHECK(hugepage_size_name(64 * 1024) == "64kB");
    for (const char* bad : { "4M", "", "2", "1T", "2M " }) {
        try {
            parse_hugepage_size(bad);
            FAIL("accepted " << bad);
        } catch (const base::Error& e) {
            CHECK(e.code() == "HUGEPAGE_SIZE_INVALID");
            CHECK(std::string(e.what()).find("use --hugepage-size 2M or 1G") != std::string::npos);
        }
    }
}

TEST_CASE("pools are read per node and size")
{
    FakeSysfs sys;
    sys.make_smt_two_node_host();
    sys.add_pool(1, "2048kB", 100, 40, 3);
    auto pools = HugepagePools::read(sys.root());
    CHECK(pools.pools().size() == 4);
    CHECK(pools.nodes() == std::vector<int> { 0, 1 });
    const HugepagePool* p = pools.find(1, kPageSize2M);
    REQUIRE(p != nullptr);
    CHECK(p->total == 100);
    CHECK(p->free == 40);
    CHECK(p->surplus == 3);
    CHECK(p->free_bytes() == 80 * kMiB);
    CHECK(pools.find(2, kPageSize2M) == nullptr);
    CHECK(pools.supports(kPageSize1G));
    CHECK(pools.pools().front().node == 0);
    CHECK(pools.pools().front().page_size == kPageSize2M);
}

TEST_CASE("pools fall back to /sys/kernel/mm/hugepages without node directories")
{
    FakeSysfs sys;
    sys.set_online("0");
    sys.add_pool(-1, "2048kB", 8, 8);
    auto pools = HugepagePools::read(sys.root());
    REQUIRE(pools.pools().size() == 1);
    CHECK(pools.pools()[0].node == 0);
    CHECK(pools.pools()[0].free == 8);
    CHECK_FALSE(pools.supports(kPageSize1G));
    auto change = reserve_hugepages(sys.root(), 0, kPageSize2M, 10);
    CHECK(change.changed == 2);
    CHECK(sys.read(FakeSysfs::pool_dir(-1, "2048kB") + "nr_hugepages") == "10\n");
}

TEST_CASE("a malformed counter is an error naming the file")
{
    FakeSysfs sys;
    sys.make_two_cpu_host();
    sys.write(FakeSysfs::pool_dir(0, "2048kB") + "free_hugepages", "lots\n");
    try {
        HugepagePools::read(sys.root());
        FAIL("expected an error");
    } catch (const base::Error& e) {
        CHECK(e.code() == "SYSFS_BAD_VALUE");
        CHECK(std::string(e.what()).find("free_hugepages") != std::string::npos);
    }
}

TEST_CASE("reserve adds only the missing pages; enough free pages change nothing")
{
    FakeSysfs sys;
    sys.make_two_cpu_host();
    sys.add_pool(0, "2048kB", 10, 4);
    std::string nr = FakeSysfs::pool_dir(0, "2048kB") + "nr_hugepages";
    auto change = reserve_hugepages(sys.root(), 0, kPageSize2M, 128);
    CHECK(change.requested == 128);
    CHECK(change.changed == 124);
    CHECK(change.total == 134);
    CHECK(sys.read(nr) == "134\n");

    sys.add_pool(0, "2048kB", 200, 150);
    change = reserve_hugepages(sys.root(), 0, kPageSize2M, 128);
    CHECK(change.changed == 0);
    CHECK(change.total == 200);
    CHECK(sys.read(nr) == "200\n");
}

TEST_CASE("release gives back only free pages")
{
    FakeSysfs sys;
    sys.make_two_cpu_host();
    std::string nr = FakeSysfs::pool_dir(0, "1048576kB") + "nr_hugepages";
    sys.add_pool(0, "1048576kB", 4, 1); // 3 in use by an enclave
    auto change = release_hugepages(sys.root(), 0, kPageSize1G, 4);
    CHECK(change.changed == 1);
    CHECK(sys.read(nr) == "3\n");

    sys.add_pool(0, "1048576kB", 4, 4);
    change = release_hugepages(sys.root(), 0, kPageSize1G, 2);
    CHECK(change.changed == 2);
    CHECK(sys.read(nr) == "2\n");

    sys.add_pool(0, "1048576kB", 0, 0);
    change = release_hugepages(sys.root(), 0, kPageSize1G, 2);
    CHECK(change.changed == 0);
    CHECK(sys.read(nr) == "0\n");
}

TEST_CASE("fewer pages granted than missing: HUGEPAGES_NOT_GRANTED with the figures")
{
    HugepagePool before { .node = 0, .page_size = kPageSize1G, .total = 1, .free = 0, .surplus = 0, .directory = "" };
    CHECK(check_granted(before, 3, 2) == 2);
    CHECK(check_granted(before, 4, 2) == 3);
    try {
        check_granted(before, 2, 2);
        FAIL("expected an error");
    } catch (const base::Error& e) {
        CHECK(e.code() == "HUGEPAGES_NOT_GRANTED");
        CHECK(e.kind() == base::ErrorKind::Resource);
        CHECK(std::string(e.what()) == "the kernel granted only 1 of 2 missing 1G pages on NUMA node 0 (pool had 1, 0 free; put back to 1): "
                                       "host memory is short or fragmented; free memory, ask for less, use the other page size, or reserve at boot "
                                       "(kernel command line hugepagesz=1G hugepages=N)");
    }
    CHECK_THROWS_AS(check_granted(before, 0, 1), base::Error);
}

TEST_CASE("reserve and release name a missing node or size")
{
    FakeSysfs sys;
    sys.make_two_cpu_host();
    try {
        reserve_hugepages(sys.root(), 3, kPageSize2M, 1);
        FAIL("expected an error");
    } catch (const base::Error& e) {
        CHECK(e.code() == "NUMA_NODE_INVALID");
        CHECK(std::string(e.what()).find("one of: 0") != std::string::npos);
    }
    std::filesystem::remove_all(std::filesystem::path(sys.root()) / FakeSysfs::pool_dir(0, "1048576kB"));
    try {
        release_hugepages(sys.root(), 0, kPageSize1G, 1);
        FAIL("expected an error");
    } catch (const base::Error& e) {
        CHECK(e.code() == "HUGEPAGE_SIZE_UNSUPPORTED");
    }
}

TEST_CASE("pools: reads the real /sys of this machine")
{
    auto pools = HugepagePools::read("/sys");
    for (const auto& pool : pools.pools())
        CHECK(pool.free <= pool.total + pool.surplus);
}
