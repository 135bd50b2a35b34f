// vmm/placement/placement.h — where an enclave goes on this host, by the QingTian rules: which
// NUMA node, which hugepage size and how many pages, which host CPUs its vCPUs are pinned to.
// Pure: it reads nothing itself, so the lifecycle code can call it under its lock with the
// topology, pools, MemTotal and running enclaves it has just read, and tests can feed fake hosts.
//
// Rules (each broken rule is a base::Error with a stable code and a one-line message naming the fix):
//   memory   ≥ 128 MiB and ≥ 4 × the EIF size (in whole MiB, as nitro-cli counts it);
//            ≤ 512 MiB with 2 MiB pages, ≤ 256 GiB with 1 GiB pages;
//            rounded UP to whole pages — Placement::memory_mib is the real size to report.
//   pages    default 1G when memory is a multiple of 1 GiB, else 2M when memory ≤ 512 MiB, else 1G;
//            all pages from one node; short pool → HUGEPAGES_SHORT naming the missing pages and
//            the command that reserves them (qt-vmm allocator --mem M --hugepage-size S --numa-node N).
//   vCPUs    QingTian's rules for `qt enclave start --cpus`:
//            1..62 per enclave (VCPUS_INVALID);
//            an even number (VCPUS_ODD);
//            at most the CPUs of the enclave's NUMA node minus 2 (VCPUS_OVER_NODE_LIMIT);
//            at most 62 in total over all the parent's running enclaves plus the new one
//              (VCPUS_OVER_TOTAL_LIMIT; RunningEnclave::vcpus, tcg enclaves included);
//            and qt-vmm's on top: whole physical cores (a multiple of the SMT width,
//            VCPUS_NOT_WHOLE_CORES), all on the memory's node, never on CPU 0's core (the parent
//            keeps it), never on a core another enclave uses (CPUS_UNAVAILABLE).
//   parent   the parent keeps at least 2 CPUs and 512 MiB for itself: after this enclave at least
//            2 online CPUs no enclave uses (PARENT_CPUS_TOO_FEW), and at least 512 MiB of MemTotal
//            outside every hugepage pool (PARENT_MEMORY_TOO_LOW; see parent_memory_mib for why
//            that measure).
//   opt-out  allow_shared_cpus (--allow-shared-cpus, for small dev hosts): vCPUs may then use CPU
//            0's core, CPUs of other enclaves and part of a core, and the even-number, node-minus-2
//            and parent-minimum rules are waived; Placement says which sharing happened. The
//            1..62 per enclave and 62 in total stay hard.
//   node     explicit numa_node is strict; otherwise a node that can take both CPUs and memory,
//            preferring isolated CPUs, then the most free CPUs, then the lowest id.
//   enclaves at most 2 per parent; CID in 4..4294967294 and unique (check_new_enclave).
//   tcg      `--accel tcg` enclaves pin no CPUs and use no hugepages: the launcher applies only
//            check_request and check_vcpu_total to them.
//
// Usage:
//     auto topo = vmm::host::CpuTopology::read();
//     auto pools = vmm::host::HugepagePools::read();
//     auto mem_total = vmm::host::read_mem_total_mib();              // MemTotal, for the parent minimum
//     vmm::placement::PlacementRequest req { .memory_mib = 512, .eif_size = eif_bytes, .vcpus = 2 };
//     std::lock_guard lock(run_dir_lock);                      // the caller's lock
//     vmm::placement::check_new_enclave(cid, running);         // throws CID_* / ENCLAVE_LIMIT
//     auto p = vmm::placement::plan_placement(req, topo, pools, mem_total, running);
//     // p.numa_node, p.page_size, p.page_count, p.memory_mib, p.cpus[i] for vCPU i,
//     // vmm::placement::isolation_name(p) → "isolated" for query's JSON
#pragma once

#include "vmm/host/cpu_topology.h"
#include "vmm/host/hugepage_pool.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vmm::placement {

constexpr std::uint64_t kMinMemoryMiB = 128;
constexpr std::uint64_t kEifMemoryFactor = 4;
constexpr std::uint64_t kMax2MMemoryMiB = 512;
constexpr std::uint64_t kMax1GMemoryMiB = 256 * 1024;
constexpr unsigned kMaxVcpus = 62;
constexpr unsigned kMaxTotalVcpus = 62;        // over all the parent's enclaves
constexpr unsigned kNodeCpusKeptByParent = 2;  // an enclave has at most its node's CPUs minus 2
constexpr std::size_t kParentMinCpus = 2;
constexpr std::uint64_t kParentMinMemoryMiB = 512;
constexpr std::size_t kMaxEnclavesPerParent = 2;
constexpr std::uint64_t kMinCid = 4;
constexpr std::uint64_t kMaxCid = 4294967294ull;

struct PlacementRequest {
    std::uint64_t memory_mib { 0 };
    std::uint64_t eif_size { 0 };          // bytes of the EIF file; 0 skips the 4× rule
    unsigned vcpus { 0 };
    std::uint64_t page_size { 0 };         // bytes (host::kPageSize2M / kPageSize1G); 0 = default
    std::optional<int> numa_node;          // nullopt = choose
    bool allow_shared_cpus { false };
};

// What the lifecycle code knows about an enclave already running on this parent.
struct RunningEnclave {
    std::uint64_t enclave_id { 0 };
    std::uint64_t cid { 0 };
    std::vector<int> cpus;                 // host CPUs its vCPUs are pinned to (none under tcg)
    unsigned vcpus { 0 };                  // its vCPU count; 0 = cpus.size()
};

struct Placement {
    int numa_node { 0 };
    std::uint64_t page_size { 0 };         // bytes
    std::uint64_t page_count { 0 };
    std::uint64_t memory_mib { 0 };        // page_count × page_size in MiB (report this)
    bool memory_rounded_up { false };      // memory_mib > the request
    std::vector<int> cpus;                 // vCPU i is pinned to host CPU cpus[i]
    bool isolated { true };                // whole cores nobody else uses
    bool shares_parent_core { false };     // some CPU is on CPU 0's core
    bool shares_enclave_cpus { false };    // some CPU is on a core another enclave uses
};

// The page size used when the request names none (see the rules above).
std::uint64_t default_page_size(std::uint64_t memory_mib);

// The host-independent rules (memory bounds, 4× EIF, vCPU count, page-size limits); throws.
// plan_placement calls it first.
void check_request(const PlacementRequest& request);

// Chooses node, pages and CPUs, or throws (codes: MEMORY_*, VCPUS_*, NUMA_NODE_INVALID,
// HUGEPAGE_SIZE_UNSUPPORTED, PARENT_CPUS_TOO_FEW, PARENT_MEMORY_TOO_LOW, CPUS_UNAVAILABLE,
// HUGEPAGES_SHORT). mem_total_mib is the host's MemTotal (host::read_mem_total_mib()).
Placement plan_placement(const PlacementRequest& request, const host::CpuTopology& topology,
    const host::HugepagePools& pools, std::uint64_t mem_total_mib, const std::vector<RunningEnclave>& running);

// QingTian's 62-vCPU limit over all the parent's enclaves: the running ones plus request.vcpus;
// throws VCPUS_OVER_TOTAL_LIMIT. plan_placement calls it; the launcher also calls it for tcg.
void check_vcpu_total(const PlacementRequest& request, const std::vector<RunningEnclave>& running);

// The memory the parent keeps for itself: MemTotal minus every hugepage pool (all nodes and
// sizes, surplus pages included), saturating at 0. Enclave memory only ever comes from those
// pools, and pool pages are lost to the parent whether an enclave uses them or not, so this is
// what the parent has left with the pools as they are, before and after any enclave starts — a
// stable figure, unlike MemAvailable, which moves with the page cache and other processes.
std::uint64_t parent_memory_mib(std::uint64_t mem_total_mib, const host::HugepagePools& pools);

// What the parent minimum leaves for enclaves on this host, for host-check (no enclaves running,
// no opt-out).
struct ParentReserve {
    std::size_t online_cpus { 0 };
    unsigned max_enclave_vcpus { 0 };      // the largest --cpus one enclave may have by all the rules; 0 = none fits
    std::uint64_t mem_total_mib { 0 };
    std::uint64_t memory_mib { 0 };        // parent_memory_mib
    bool memory_ok { false };              // ≥ kParentMinMemoryMiB
};
ParentReserve parent_reserve(const host::CpuTopology& topology, const host::HugepagePools& pools, std::uint64_t mem_total_mib);

// CID in 4..4294967294, not used by a running enclave, and fewer than 2 enclaves running;
// throws CID_OUT_OF_RANGE, ENCLAVE_LIMIT or CID_IN_USE. Call under the lock that also covers
// registering the new enclave, so two starts cannot both pass.
void check_new_enclave(std::uint64_t cid, const std::vector<RunningEnclave>& running);
// The CID rule alone (CID_OUT_OF_RANGE), for checking a command line before anything else.
void check_cid_range(std::uint64_t cid);

// For query's JSON: "isolated"; with the opt-out "shares-parent-core", "shares-enclave-cpus",
// "shares-parent-core,shares-enclave-cpus", or "partial-core" (part of a free SMT core, which
// later enclaves started with the opt-out may share).
std::string isolation_name(const Placement& placement);

// The command that reserves the pool a placement needs:
// "qt-vmm allocator --mem 256 --hugepage-size 2M --numa-node 0".
std::string allocator_command(std::uint64_t memory_mib, std::uint64_t page_size, int numa_node);

} // namespace vmm::placement
