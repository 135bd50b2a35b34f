#include "vmm/host/hugepage_pool.h"

#include "base/error.h"
#include "base/file.h"
#include "vmm/host/sysfs.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>

namespace vmm::host {

namespace fs = std::filesystem;

std::uint64_t parse_hugepage_size(const std::string& text)
{
    std::string lower;
    for (char c : text)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "2m" || lower == "2mib" || lower == "2mb" || lower == "2048kb" || lower == "2097152")
        return kPageSize2M;
    if (lower == "1g" || lower == "1gib" || lower == "1gb" || lower == "1048576kb" || lower == "1073741824")
        return kPageSize1G;
    throw base::Error(base::ErrorKind::Usage, "HUGEPAGE_SIZE_INVALID",
        "hugepage size \"" + text + "\" is not supported; use --hugepage-size 2M or 1G");
}

std::string hugepage_size_name(std::uint64_t page_size)
{
    if (page_size == kPageSize2M)
        return "2M";
    if (page_size == kPageSize1G)
        return "1G";
    return std::to_string(page_size / 1024) + "kB";
}

namespace {

// Reads every hugepages-<kB>kB directory under dir as pools of `node`.
void read_size_dirs(const fs::path& dir, int node, std::vector<HugepagePool>& out)
{
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        return;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        std::string name = entry.path().filename().string();
        const std::string prefix = "hugepages-";
        if (name.size() <= prefix.size() + 2 || name.compare(0, prefix.size(), prefix) != 0
            || name.compare(name.size() - 2, 2, "kB") != 0)
            continue;
        std::string kb = name.substr(prefix.size(), name.size() - prefix.size() - 2);
        if (kb.empty() || kb.find_first_not_of("0123456789") != std::string::npos)
            continue;
        HugepagePool pool;
        pool.node = node;
        pool.page_size = std::stoull(kb) * 1024;
        pool.directory = entry.path().string();
        pool.total = read_sysfs_u64(pool.directory + "/nr_hugepages");
        pool.free = read_sysfs_u64(pool.directory + "/free_hugepages");
        pool.surplus = read_sysfs_u64(pool.directory + "/surplus_hugepages");
        out.push_back(std::move(pool));
    }
}

HugepagePool require_pool(const std::string& sysfs_root, int node, std::uint64_t page_size)
{
    auto pools = HugepagePools::read(sysfs_root);
    if (const HugepagePool* pool = pools.find(node, page_size))
        return *pool;
    if (!pools.supports(page_size))
        throw base::Error(base::ErrorKind::Resource, "HUGEPAGE_SIZE_UNSUPPORTED",
            "this kernel has no " + hugepage_size_name(page_size) + " hugepage pool (no hugepages-"
                + std::to_string(page_size / 1024) + "kB in sysfs); use the other --hugepage-size");
    std::string nodes;
    for (int n : pools.nodes())
        nodes += (nodes.empty() ? "" : ",") + std::to_string(n);
    throw base::Error(base::ErrorKind::InvalidInput, "NUMA_NODE_INVALID",
        "NUMA node " + std::to_string(node) + " does not exist on this host; use --numa-node with one of: " + nodes);
}

// Holds an exclusive flock on a pool's nr_hugepages for one read-modify-write.
class PoolLock {
public:
    explicit PoolLock(const std::string& path)
        : m_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC))
    {
        if (!m_fd.valid())
            base::throw_errno("SYSFS_OPEN", "cannot open", path);
        while (::flock(m_fd.get(), LOCK_EX) != 0) {
            if (errno != EINTR)
                base::throw_errno("SYSFS_LOCK", "cannot lock", path);
        }
    }

private:
    base::UniqueFd m_fd; // closing the descriptor drops the lock
};

} // namespace

HugepagePools HugepagePools::read(const std::string& sysfs_root)
{
    std::vector<HugepagePool> pools;
    fs::path node_dir = fs::path(sysfs_root) / "devices/system/node";
    std::error_code ec;
    bool any_node = false;
    if (fs::is_directory(node_dir, ec)) {
        for (const auto& entry : fs::directory_iterator(node_dir, ec)) {
            std::string name = entry.path().filename().string();
            if (name.size() <= 4 || name.compare(0, 4, "node") != 0
                || name.find_first_not_of("0123456789", 4) != std::string::npos)
                continue;
            any_node = true;
            read_size_dirs(entry.path() / "hugepages", std::stoi(name.substr(4)), pools);
        }
    }
    if (!any_node)
        read_size_dirs(fs::path(sysfs_root) / "kernel/mm/hugepages", 0, pools);
    // Pages a running enclave has reserved (mapped, not yet touched) still count as free in
    // free_hugepages. The kernel keeps the reservation count only globally: where a size exists
    // on one node it belongs to that node, so subtract it there; on several nodes the mmap-time
    // reservation remains the final check (a short pool still fails before the VM exists).
    for (HugepagePool& pool : pools) {
        int nodes_with_size = 0;
        for (const HugepagePool& other : pools)
            nodes_with_size += other.page_size == pool.page_size ? 1 : 0;
        fs::path resv = fs::path(sysfs_root) / "kernel/mm/hugepages"
            / ("hugepages-" + std::to_string(pool.page_size / 1024) + "kB") / "resv_hugepages";
        if (nodes_with_size != 1 || !fs::exists(resv, ec))
            continue;
        pool.reserved = read_sysfs_u64(resv.string());
        pool.free -= std::min(pool.free, pool.reserved);
    }
    return from_pools(std::move(pools));
}

HugepagePools HugepagePools::from_pools(std::vector<HugepagePool> pools)
{
    std::sort(pools.begin(), pools.end(), [](const HugepagePool& a, const HugepagePool& b) {
        return a.node != b.node ? a.node < b.node : a.page_size < b.page_size;
    });
    HugepagePools out;
    out.m_pools = std::move(pools);
    return out;
}

const HugepagePool* HugepagePools::find(int node, std::uint64_t page_size) const
{
    for (const auto& pool : m_pools) {
        if (pool.node == node && pool.page_size == page_size)
            return &pool;
    }
    return nullptr;
}

bool HugepagePools::supports(std::uint64_t page_size) const
{
    return std::any_of(m_pools.begin(), m_pools.end(), [&](const HugepagePool& p) { return p.page_size == page_size; });
}

std::vector<int> HugepagePools::nodes() const
{
    std::vector<int> out;
    for (const auto& pool : m_pools) {
        if (out.empty() || out.back() != pool.node)
            out.push_back(pool.node);
    }
    return out;
}

std::uint64_t check_granted(const HugepagePool& before, std::uint64_t after_total, std::uint64_t missing)
{
    std::uint64_t granted = after_total > before.total ? after_total - before.total : 0;
    if (granted >= missing)
        return granted;
    std::string size = hugepage_size_name(before.page_size);
    std::string node = std::to_string(before.node);
    throw base::Error(base::ErrorKind::Resource, "HUGEPAGES_NOT_GRANTED",
        "the kernel granted only " + std::to_string(granted) + " of " + std::to_string(missing) + " missing " + size
            + " pages on NUMA node " + node + " (pool had " + std::to_string(before.total) + ", "
            + std::to_string(before.free) + " free; put back to " + std::to_string(before.total)
            + "): host memory is short or fragmented; free memory, ask for less, use the other page size, or reserve at boot (kernel command line hugepagesz="
            + size + " hugepages=N)");
}

PoolChange reserve_hugepages(const std::string& sysfs_root, int node, std::uint64_t page_size, std::uint64_t pages)
{
    std::string nr_path = require_pool(sysfs_root, node, page_size).directory + "/nr_hugepages";
    PoolLock lock(nr_path);
    HugepagePool before = require_pool(sysfs_root, node, page_size);
    PoolChange change { node, page_size, pages, 0, before.total, before.free };
    if (before.free >= pages)
        return change;
    std::uint64_t missing = pages - before.free;
    write_sysfs_u64(nr_path, before.total + missing);
    HugepagePool after = require_pool(sysfs_root, node, page_size);
    try {
        change.changed = check_granted(before, after.total, missing);
    } catch (...) {
        if (after.total > before.total)
            write_sysfs_u64(nr_path, before.total);
        throw;
    }
    change.total = after.total;
    change.free = after.free;
    return change;
}

PoolChange release_hugepages(const std::string& sysfs_root, int node, std::uint64_t page_size, std::uint64_t pages)
{
    std::string nr_path = require_pool(sysfs_root, node, page_size).directory + "/nr_hugepages";
    PoolLock lock(nr_path);
    HugepagePool before = require_pool(sysfs_root, node, page_size);
    std::uint64_t give_back = std::min({ pages, before.free, before.total });
    PoolChange change { node, page_size, pages, 0, before.total, before.free };
    if (give_back == 0)
        return change;
    write_sysfs_u64(nr_path, before.total - give_back);
    HugepagePool after = require_pool(sysfs_root, node, page_size);
    change.changed = before.total > after.total ? before.total - after.total : 0;
    change.total = after.total;
    change.free = after.free;
    return change;
}

} // namespace vmm::host
