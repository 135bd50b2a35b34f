// vmm/host/hugepage_pool.h — the host's hugetlb pools per NUMA node and page size, and the
// allocator operations that grow or shrink them (what Nitro's allocator service does).
//
// Pools come from <root>/devices/system/node/nodeN/hugepages/hugepages-<kB>kB/{nr,free,surplus}_hugepages;
// a kernel without node directories (CONFIG_NUMA=n) is read from <root>/kernel/mm/hugepages/ and
// reported as node 0.
//
// Usage:
//     auto pools = vmm::host::HugepagePools::read();                       // or read(fake_root)
//     if (const auto* p = pools.find(0, vmm::host::kPageSize2M)) printf("%lu free\n", p->free);
//
//     // As root: make sure node 0 has 128 free 2 MiB pages (grows nr_hugepages by what is missing):
//     auto r = vmm::host::reserve_hugepages("/sys", 0, vmm::host::kPageSize2M, 128);
//     // r.changed = pages added; throws HUGEPAGES_NOT_GRANTED (pool restored) if the kernel
//     // grants fewer than were missing.
//     vmm::host::release_hugepages("/sys", 0, vmm::host::kPageSize2M, 128);  // only free pages go back
//
//     std::uint64_t size = vmm::host::parse_hugepage_size("1G");          // 1 << 30
//     vmm::host::hugepage_size_name(size);                                // "1G"
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vmm::host {

constexpr std::uint64_t kPageSize2M = 2ull << 20;
constexpr std::uint64_t kPageSize1G = 1ull << 30;
constexpr std::uint64_t kMiB = 1ull << 20;

// "2M", "2MiB", "2MB", "2048kB", "1G", "1GiB", "1GB", "1048576kB" (any case) → bytes. Only 2 MiB
// and 1 GiB are accepted; anything else throws base::Error(Usage, "HUGEPAGE_SIZE_INVALID").
std::uint64_t parse_hugepage_size(const std::string& text);
// 2 MiB → "2M", 1 GiB → "1G", others → "<n>kB".
std::string hugepage_size_name(std::uint64_t page_size);

struct HugepagePool {
    int node { 0 };
    std::uint64_t page_size { 0 }; // bytes
    std::uint64_t total { 0 };     // nr_hugepages (persistent pool)
    std::uint64_t free { 0 };      // free_hugepages minus pages reserved by mappings (see read())
    std::uint64_t reserved { 0 };  // resv_hugepages, when it can be attributed to this node
    std::uint64_t surplus { 0 };   // surplus_hugepages
    std::string directory;         // the sysfs directory these came from (writes go here)

    std::uint64_t free_bytes() const { return free * page_size; }
};

class HugepagePools {
public:
    static HugepagePools read(const std::string& sysfs_root = "/sys");
    static HugepagePools from_pools(std::vector<HugepagePool> pools);

    // Sorted by node, then page size.
    const std::vector<HugepagePool>& pools() const { return m_pools; }
    const HugepagePool* find(int node, std::uint64_t page_size) const;
    // Whether any node has a pool of this size (i.e. the kernel supports the size).
    bool supports(std::uint64_t page_size) const;
    std::vector<int> nodes() const;

private:
    std::vector<HugepagePool> m_pools;
};

// Result of reserve_hugepages / release_hugepages, counts in pages.
struct PoolChange {
    int node { 0 };
    std::uint64_t page_size { 0 };
    std::uint64_t requested { 0 }; // pages asked for
    std::uint64_t changed { 0 };   // pages added to (reserve) or removed from (release) the pool
    std::uint64_t total { 0 };     // nr_hugepages afterwards, as re-read
    std::uint64_t free { 0 };      // free_hugepages minus pages reserved by mappings (see read())
    std::uint64_t reserved { 0 };  // resv_hugepages, when it can be attributed to this node afterwards, as re-read
};

// Ensures at least `pages` free pages of this size on the node: writes nr_hugepages = total +
// (pages - free) when short, then re-reads what the kernel granted. If it granted fewer, the
// pool is put back as it was and base::Error(Resource, "HUGEPAGES_NOT_GRANTED") names the
// figures. The read-modify-write holds an flock on nr_hugepages (concurrent allocators queue).
PoolChange reserve_hugepages(const std::string& sysfs_root, int node, std::uint64_t page_size, std::uint64_t pages);

// Gives back up to `pages` pages of this size on the node, but only free ones (pages in use by a
// running enclave stay): nr_hugepages -= min(pages, free).
PoolChange release_hugepages(const std::string& sysfs_root, int node, std::uint64_t page_size, std::uint64_t pages);

// The check reserve_hugepages applies to what the kernel granted, exposed for tests: returns the
// number granted (after_total - before_total) or throws HUGEPAGES_NOT_GRANTED when it is below
// `missing` (the message says the pool was put back to before.total).
std::uint64_t check_granted(const HugepagePool& before, std::uint64_t after_total, std::uint64_t missing);

} // namespace vmm::host
