// qt-vmm allocator: the host's hugepage pools for enclaves (like Nitro's allocator service).
//
//   qt-vmm allocator [--show]                                   pools per node (no root needed)
//   qt-vmm allocator --mem 256 --hugepage-size 2M --numa-node 0  make 128 free 2 MiB pages (root)
//   qt-vmm allocator --mem 256 --hugepage-size 2M --release      give up to 128 free pages back
//   qt-vmm allocator --mem 256 --hugepage-size 2M --prezero      ...and keep them faulted in, zeroed
//   qt-vmm allocator --mem 256 --hugepage-size 2M --prezero --release   give pre-zeroed chunks back
//
// --prezero (vmm/host/zeroed_pool.h): the pages become chunks of a pre-zeroed pool (128 MiB of 2M
// pages, 1 GiB of 1G pages) in a root-only hugetlbfs mount it creates per page size
// (QT_VMM_POOL_DIR, default /run/qt-vmm-hugepages), faulted in on the node, so that `enclave
// start` maps memory the kernel zeroed ahead of time. It first scrubs what enclaves that ended
// without their monitor left dirty, then tops the ready chunks up to --mem.
//
// Reserving grows nr_hugepages only by what is missing (free pages already there count), then
// re-reads what the kernel granted; if it granted fewer, the pool is put back and the command
// fails with HUGEPAGES_NOT_GRANTED and the figures. Releasing only gives back free pages, so
// pages a running enclave uses stay. Without --hugepage-size the size follows the placement
// default for --mem (1G for whole GiB, else 2M up to 512 MiB, else 1G); without --numa-node the
// node with the most CPUs outside CPU 0's core is used. QT_VMM_SYSFS_ROOT (tests) points it at a
// fake sysfs tree and lifts the root check.
#include "base/error.h"
#include "tools/qt-vmm/command.h"
#include "vmm/host/cpu_list.h"
#include "vmm/host/cpu_topology.h"
#include "vmm/host/hugepage_pool.h"
#include "vmm/host/sysfs.h"
#include "vmm/host/zeroed_pool.h"
#include "vmm/placement/placement.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace vmm::host;

struct AllocatorOptions {
    std::uint64_t memory_mib { 0 };
    std::string page_size;
    int numa_node { -1 };
    bool release { false };
    bool show { false };
    bool prezero { false };
};

int default_node(const CpuTopology& topology, const HugepagePools& pools)
{
    int best = -1;
    std::size_t best_cpus = 0;
    for (int node : pools.nodes()) {
        std::size_t n = topology.enclave_cpus(node).size();
        if (best < 0 || n > best_cpus) {
            best = node;
            best_cpus = n;
        }
    }
    if (best < 0)
        throw base::Error(base::ErrorKind::Resource, "HUGEPAGES_UNSUPPORTED",
            "this kernel exposes no hugepage pools in sysfs (" + sysfs_root() + "/kernel/mm/hugepages); it needs CONFIG_HUGETLBFS");
    return best;
}

ZeroedPool zeroed_pool(std::uint64_t page_size, int node)
{
    return ZeroedPool(zeroed_pool_directory(zeroed_pool_root(), page_size, node), zeroed_chunk_bytes(page_size));
}

qtvmm::Json zeroed_json(const ZeroedPool& pool)
{
    ZeroedPoolCounts c = pool.counts();
    const std::uint64_t mib = pool.chunk_bytes() / kMiB;
    return qtvmm::Json { { "ChunkMiB", mib }, { "ReadyMiB", c.ready * mib }, { "InUseMiB", c.in_use * mib }, { "DirtyMiB", c.dirty * mib } };
}

// The root-only hugetlbfs mount of this page size under the pool root, mounted if missing.
void mount_zeroed_pool(std::uint64_t page_size)
{
    const std::string root = zeroed_pool_root();
    const std::string mount = zeroed_pool_mount(root, page_size);
    for (const std::string& dir : { root, mount })
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
            throw base::Error(base::ErrorKind::Io, "POOL_DIR", "cannot create " + dir + ": " + std::strerror(errno));
    struct stat st {};
    if (::lstat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077) != 0)
        throw base::Error(base::ErrorKind::Permission, "POOL_DIR_UNSAFE",
            root + " must be a directory of root's that nobody else can open (0700); remove it or point QT_VMM_POOL_DIR elsewhere");
    if (is_hugetlbfs_of(mount, page_size))
        return;
    const std::string options = "pagesize=" + hugepage_size_name(page_size) + ",mode=0700,uid=0,gid=0";
    if (::mount("qt-vmm-hugepages", mount.c_str(), "hugetlbfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.c_str()) != 0)
        throw base::Error(base::ErrorKind::Resource, "POOL_MOUNT",
            "cannot mount hugetlbfs (" + options + ") on " + mount + ": " + std::strerror(errno) + "; the kernel needs CONFIG_HUGETLBFS");
}

// --prezero: scrub leftovers, then top the ready chunks up to --mem (reserving only the pages
// that are missing), or with --release delete ready chunks covering --mem and give their pages back.
qtvmm::Json change_zeroed_pool(const std::string& root, std::uint64_t page_size, int node, std::uint64_t memory_mib, bool release,
    const qtvmm::Cli& cli)
{
    mount_zeroed_pool(page_size);
    ZeroedPool pool = zeroed_pool(page_size, node);
    const std::uint64_t chunk_mib = pool.chunk_bytes() / kMiB, pages_per_chunk = pool.chunk_bytes() / page_size;
    const std::uint64_t chunks = (memory_mib + chunk_mib - 1) / chunk_mib;
    std::size_t scrubbed = pool.exists() ? pool.scrub_leftovers() : 0;
    std::size_t changed = 0;
    PoolChange pages;
    if (release) {
        changed = pool.remove_ready(chunks);
        pages = release_hugepages(root, node, page_size, changed * pages_per_chunk);
    } else {
        const std::uint64_t ready = pool.exists() ? pool.counts().ready : 0;
        const std::uint64_t missing = chunks > ready ? chunks - ready : 0;
        cli.detail("pre-zeroed pool: " + std::to_string(ready) + " ready chunks of " + std::to_string(chunk_mib) + " MiB, adding "
            + std::to_string(missing));
        pages = reserve_hugepages(root, node, page_size, missing * pages_per_chunk);
        changed = pool.add(missing, node);
        if (changed < missing)
            throw base::Error(base::ErrorKind::Resource, "PREZERO_SHORT",
                "only " + std::to_string(changed) + " of " + std::to_string(missing) + " chunks of " + std::to_string(chunk_mib)
                    + " MiB could be faulted in on NUMA node " + std::to_string(node) + " (the kernel gave no more " + hugepage_size_name(page_size)
                    + " pages there); see qt-vmm allocator --show");
    }
    const HugepagePools now = HugepagePools::read(root); // after the faulting-in
    const HugepagePool* after = now.find(node, page_size);
    qtvmm::Json out {
        { "NumaNode", node },
        { "HugepageSize", hugepage_size_name(page_size) },
        { "MemoryMiB", memory_mib },
        { release ? "ChunksRemoved" : "ChunksAdded", changed },
        { "ChunksScrubbed", scrubbed },
        { "Prezeroed", zeroed_json(pool) },
        { "Free", after ? after->free : pages.free },
        { "Total", after ? after->total : pages.total },
    };
    return out;
}

qtvmm::Json show_pools(const std::string& root)
{
    auto topology = CpuTopology::read(root);
    auto pools = HugepagePools::read(root);
    qtvmm::Json rows = qtvmm::Json::array();
    for (const auto& pool : pools.pools()) {
        ZeroedPool zeroed = zeroed_pool(pool.page_size, pool.node);
        rows.push_back(qtvmm::Json {
            { "NumaNode", pool.node },
            { "HugepageSize", hugepage_size_name(pool.page_size) },
            { "Total", pool.total },
            { "Free", pool.free },
            { "Surplus", pool.surplus },
            { "FreeMiB", pool.free_bytes() / kMiB },
            { "CPUs", format_cpu_list(topology.cpus_of_node(pool.node)) },
            { "EnclaveCPUs", format_cpu_list(topology.enclave_cpus(pool.node)) },
        });
        // (A fake sysfs tree describes another host: its rows get no pool of this one.)
        if (!sysfs_root_overridden() && zeroed.exists())
            rows.back()["Prezeroed"] = zeroed_json(zeroed);
    }
    return rows;
}

qtvmm::Json change_pool(const std::string& root, const AllocatorOptions& opts, const qtvmm::Cli& cli)
{
    if (::geteuid() != 0 && !sysfs_root_overridden())
        throw base::Error(base::ErrorKind::Permission, "ALLOCATOR_NEEDS_ROOT",
            "reserving or releasing hugepages writes nr_hugepages in sysfs and needs root; run it with sudo (qt-vmm allocator --show works without root)");
    if (opts.memory_mib == 0)
        throw base::Error(base::ErrorKind::Usage, "ALLOCATOR_NO_MEMORY", "--mem must be at least 1 MiB");
    std::uint64_t page_size = opts.page_size.empty() ? vmm::placement::default_page_size(opts.memory_mib) : parse_hugepage_size(opts.page_size);
    int node = opts.numa_node >= 0 ? opts.numa_node : default_node(CpuTopology::read(root), HugepagePools::read(root));
    const std::uint64_t page_mib = page_size / kMiB;
    if (opts.memory_mib > (UINT64_MAX - page_mib) / kMiB)
        throw base::Error(base::ErrorKind::Usage, "ALLOCATOR_BAD_MEMORY", "--mem " + std::to_string(opts.memory_mib) + " is too large");
    std::uint64_t pages = (opts.memory_mib + page_mib - 1) / page_mib;
    if (opts.prezero) {
        if (sysfs_root_overridden())
            throw base::Error(base::ErrorKind::Usage, "PREZERO_FAKE_SYSFS", "--prezero faults real pages in; it does not work on a fake sysfs tree (QT_VMM_SYSFS_ROOT)");
        return change_zeroed_pool(root, page_size, node, opts.memory_mib, opts.release, cli);
    }
    cli.detail((opts.release ? "releasing up to " : "making sure there are ") + std::to_string(pages) + " free "
        + hugepage_size_name(page_size) + " pages on node " + std::to_string(node));
    PoolChange change = opts.release ? release_hugepages(root, node, page_size, pages) : reserve_hugepages(root, node, page_size, pages);
    return qtvmm::Json {
        { "NumaNode", change.node },
        { "HugepageSize", hugepage_size_name(change.page_size) },
        { "MemoryMiB", opts.memory_mib },
        { "Requested", change.requested },
        { opts.release ? "Released" : "Reserved", change.changed },
        { "Free", change.free },
        { "Total", change.total },
    };
}

} // namespace

static qtvmm::CommandRegistration reg("allocator", "Show, reserve or release the hugepage pools enclaves use (reserve/release need root)",
    [](CLI::App& cmd, qtvmm::Cli& cli) {
        auto opts = std::make_shared<AllocatorOptions>();
        auto* mem = cmd.add_option("--mem", opts->memory_mib, "MiB of enclave memory to reserve (or release) pages for")
            ->check(qtvmm::whole_number(0, std::numeric_limits<std::uint64_t>::max()));
        cmd.add_option("--hugepage-size", opts->page_size, "2M or 1G (default: 1G for whole GiB, else 2M up to 512 MiB, else 1G)")->needs(mem);
        cmd.add_option("--numa-node", opts->numa_node, "NUMA node (default: the node with the most CPUs outside CPU 0's core)")
            ->check(CLI::NonNegativeNumber)
            ->needs(mem);
        cmd.add_flag("--release", opts->release, "Give back up to that many free pages instead of reserving")->needs(mem);
        cmd.add_flag("--prezero", opts->prezero,
               "Keep the pages faulted in and zeroed, in a pool `enclave start` maps from (with --release: give such chunks back)")
            ->needs(mem);
        cmd.add_flag("--show", opts->show, "Print the pools per node (default without --mem)")->excludes(mem);
        qtvmm::set_examples(cmd, {
            "qt-vmm allocator                                  # the pools per NUMA node",
            "sudo qt-vmm allocator --mem 1024                  # reserve pages for a 1 GiB enclave",
            "sudo qt-vmm allocator --mem 4096 --hugepage-size 1G --numa-node 0",
            "sudo qt-vmm allocator --mem 1024 --release        # give them back",
            "sudo qt-vmm allocator --mem 4096 --hugepage-size 1G --prezero   # ready-zeroed pages: faster starts",
        });
        cmd.callback([&cli, opts, mem] {
            std::string root = sysfs_root();
            if (mem->count() == 0) {
                cli.print(show_pools(root));
                return;
            }
            cli.print(change_pool(root, *opts, cli));
        });
    });
