// vmm/placement/placement.h — where an enclave goes on this host, by the QingTian rules: which
// NUMA node, which hugepage size and how many pages, which host CPUs its vCPUs are pinned to.
// Pure: it reads nothing itself, so the lifecycle code can call it under its lock with the
// topology, pools and running enclaves it has just read, and tests can feed fake hosts.
//
// Rules (each broken rule is a base::Error with a stable code and a one-line message naming the fix):
//   memory   ≥ 128 MiB and ≥ 4 × the EIF size (in whole MiB, as nitro-cli counts it);
//            ≤ 512 MiB with 2 MiB pages, ≤ 256 GiB with 1 GiB pages;
//            rounded UP to whole pages — Placement::memory_mib is the real size to report.
//   pages    default 1G when memory is a multiple of 1 GiB, else 2M when memory ≤ 512 MiB, else 1G;
//            all pages from one node; short pool → HUGEPAGES_SHORT naming the missing pages and
//            the command that reserves them (qt-vmm allocator --mem M --hugepage-size S --numa-node N).
//   vCPUs    1..62, whole physical cores (a multiple of the SMT width), all on the memory's node,
//            never on CPU 0's core (the parent keeps it), never on a core another enclave uses.
//   opt-out  allow_shared_cpus (--allow-shared-cpus, for small dev hosts): vCPUs may then use CPU
//            0's core, CPUs of other enclaves and part of a core; Placement says which happened.
//   node     explicit numa_node is strict; otherwise a node that can take both CPUs and memory,
//            preferring isolated CPUs, then the most free CPUs, then the lowest id.
//   enclaves at most 2 per parent; CID in 4..4294967294 and unique (check_new_enclave).
//
// Usage:
//     auto topo = vmm::host::CpuTopology::read();
//     auto pools = vmm::host::HugepagePools::read();
//     vmm::placement::PlacementRequest req { .memory_mib = 512, .eif_size = eif_bytes, .vcpus = 1 };
//     std::lock_guard lock(run_dir_lock);                      // the caller's lock
//     vmm::placement::check_new_enclave(cid, running);         // throws CID_* / ENCLAVE_LIMIT
//     auto p = vmm::placement::plan_placement(req, topo, pools, running);
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
    std::vector<int> cpus;                 // host CPUs its vCPUs are pinned to
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
// HUGEPAGE_SIZE_UNSUPPORTED, CPUS_UNAVAILABLE, HUGEPAGES_SHORT).
Placement plan_placement(const PlacementRequest& request, const host::CpuTopology& topology,
    const host::HugepagePools& pools, const std::vector<RunningEnclave>& running);

// CID in 4..4294967294, not used by a running enclave, and fewer than 2 enclaves running;
// throws CID_OUT_OF_RANGE, ENCLAVE_LIMIT or CID_IN_USE. Call under the lock that also covers
// registering the new enclave, so two starts cannot both pass.
void check_new_enclave(std::uint64_t cid, const std::vector<RunningEnclave>& running);

// For query's JSON: "isolated"; with the opt-out "shares-parent-core", "shares-enclave-cpus",
// "shares-parent-core,shares-enclave-cpus", or "partial-core" (part of a free SMT core, which
// later enclaves started with the opt-out may share).
std::string isolation_name(const Placement& placement);

// The command that reserves the pool a placement needs:
// "qt-vmm allocator --mem 256 --hugepage-size 2M --numa-node 0".
std::string allocator_command(std::uint64_t memory_mib, std::uint64_t page_size, int numa_node);

} // namespace vmm::placement
