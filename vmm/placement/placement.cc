#include "vmm/placement/placement.h"

#include "base/error.h"
#include "vmm/host/cpu_list.h"

#include <algorithm>
#include <set>

namespace vmm::placement {

using host::format_cpu_list;
using host::hugepage_size_name;
using host::kMiB;
using host::kPageSize1G;
using host::kPageSize2M;

namespace {

constexpr const char* kSharedHint = "--allow-shared-cpus (small dev hosts: vCPUs may then share CPUs with the parent or another enclave)";
constexpr const char* kDevHostHint = "--allow-shared-cpus (small dev hosts)";

[[noreturn]] void fail(base::ErrorKind kind, const char* code, const std::string& message)
{
    throw base::Error(kind, code, message);
}

std::string mib(std::uint64_t value) { return std::to_string(value) + " MiB"; }

// How a node could host the vCPUs.
struct CpuChoice {
    bool possible { false };
    bool isolated { false };
    std::vector<int> cpus;
    bool shares_parent_core { false };
    bool shares_enclave_cpus { false };
    std::vector<int> free_cpus; // CPUs of whole cores nobody uses (for messages and preference)
};

std::string cpus_text(std::size_t count) { return std::to_string(count) + " CPU" + (count == 1 ? "" : "s"); }

// The largest vCPU count ≤ limit that is even and a whole number of cores (step = 2 or the SMT
// width when that is even); 0 when none.
unsigned round_down_vcpus(std::size_t limit, unsigned threads)
{
    const unsigned step = threads % 2 == 0 ? threads : 2 * threads;
    return static_cast<unsigned>(std::min<std::size_t>(limit, kMaxVcpus) / step * step);
}

// QingTian: an enclave has at most its node's CPUs minus 2.
std::size_t node_vcpu_limit(const host::CpuTopology& topology, int node)
{
    std::size_t cpus = topology.cpus_of_node(node).size();
    return cpus > kNodeCpusKeptByParent ? cpus - kNodeCpusKeptByParent : 0;
}

// "use --cpus 6 or fewer, " when such a count exists, else "".
std::string use_at_most(unsigned count)
{
    return count ? "use --cpus " + std::to_string(count) + " or fewer, " : "";
}

[[noreturn]] void fail_node_limit(const host::CpuTopology& topology, int node, unsigned vcpus, unsigned threads)
{
    std::size_t limit = node_vcpu_limit(topology, node);
    unsigned fits = round_down_vcpus(limit, threads);
    fail(base::ErrorKind::InvalidInput, "VCPUS_OVER_NODE_LIMIT",
        "--cpus " + std::to_string(vcpus) + " is over the limit of " + std::to_string(limit) + " vCPUs per enclave on NUMA node "
            + std::to_string(node) + " (its " + cpus_text(topology.cpus_of_node(node).size()) + " minus 2); "
            + (fits ? use_at_most(fits) + "or pass " : std::string("this host is too small for an enclave by that rule: pass ")) + kDevHostHint);
}

std::set<int> cpus_in_use(const std::vector<RunningEnclave>& running)
{
    std::set<int> used;
    for (const auto& enclave : running)
        used.insert(enclave.cpus.begin(), enclave.cpus.end());
    return used;
}

bool core_in_use(const host::PhysicalCore& core, const std::set<int>& used)
{
    return std::any_of(core.cpus.begin(), core.cpus.end(), [&](int cpu) { return used.count(cpu) != 0; });
}

CpuChoice choose_cpus(const host::CpuTopology& topology, int node, unsigned vcpus, const std::set<int>& used, bool allow_shared)
{
    CpuChoice choice;
    auto cores = topology.cores_of_node(node);
    // Isolated: whole cores, not the parent's, not touched by another enclave, lowest first.
    std::vector<int> picked;
    for (const auto* core : cores) {
        if (host::CpuTopology::is_parent_core(*core) || core_in_use(*core, used))
            continue;
        choice.free_cpus.insert(choice.free_cpus.end(), core->cpus.begin(), core->cpus.end());
        if (picked.size() + core->cpus.size() <= vcpus)
            picked.insert(picked.end(), core->cpus.begin(), core->cpus.end());
    }
    if (picked.size() == vcpus) {
        choice.possible = choice.isolated = true;
        choice.cpus = picked;
        return choice;
    }
    if (!allow_shared)
        return choice;
    // Shared (opt-out): free CPUs first, then the parent's core (CPU 0 last), then CPUs of other
    // enclaves; one host CPU per vCPU.
    std::vector<int> order = choice.free_cpus;
    std::vector<int> parent, busy;
    for (const auto* core : cores) {
        for (int cpu : core->cpus) {
            if (std::find(order.begin(), order.end(), cpu) != order.end())
                continue;
            if (used.count(cpu))
                busy.push_back(cpu);
            else if (host::CpuTopology::is_parent_core(*core))
                parent.insert(parent.begin(), cpu); // descending, so CPU 0 comes last
            else
                order.push_back(cpu);                // part-used core: its other siblings are free
        }
    }
    order.insert(order.end(), parent.begin(), parent.end());
    order.insert(order.end(), busy.begin(), busy.end());
    if (order.size() < vcpus)
        return choice;
    choice.possible = true;
    choice.cpus.assign(order.begin(), order.begin() + vcpus);
    for (int cpu : choice.cpus) {
        const host::PhysicalCore* core = topology.core_of(cpu);
        if (core && host::CpuTopology::is_parent_core(*core))
            choice.shares_parent_core = true;
        if (used.count(cpu) || (core && core_in_use(*core, used)))
            choice.shares_enclave_cpus = true;
    }
    return choice;
}

[[noreturn]] void fail_cpus(const host::CpuTopology& topology, int node, unsigned vcpus, const CpuChoice& choice, bool allow_shared)
{
    std::string n = std::to_string(node);
    std::string want = std::to_string(vcpus) + " vCPU" + (vcpus == 1 ? "" : "s");
    if (allow_shared) {
        auto all = topology.cpus_of_node(node);
        fail(base::ErrorKind::Resource, "CPUS_UNAVAILABLE",
            want + " need as many host CPUs on NUMA node " + n + ", which has only " + std::to_string(all.size()) + " ("
                + format_cpu_list(all) + "); use --cpus " + std::to_string(all.size()) + " or fewer");
    }
    std::string free = choice.free_cpus.empty() ? "none" : std::to_string(choice.free_cpus.size()) + ": CPUs " + format_cpu_list(choice.free_cpus);
    fail(base::ErrorKind::Resource, "CPUS_UNAVAILABLE",
        want + " need whole physical cores on NUMA node " + n + " that neither the parent (CPU 0's core) nor another enclave uses; free: "
            + free + "; use fewer --cpus, stop an enclave, or pass " + kSharedHint);
}

[[noreturn]] void fail_memory(const Placement& plan, std::uint64_t free)
{
    std::string size = hugepage_size_name(plan.page_size);
    fail(base::ErrorKind::Resource, "HUGEPAGES_SHORT",
        "NUMA node " + std::to_string(plan.numa_node) + " has " + std::to_string(free) + " free " + size + " hugepages but "
            + mib(plan.memory_mib) + " needs " + std::to_string(plan.page_count) + ": " + std::to_string(plan.page_count - free)
            + " " + size + " pages missing; reserve them with: "
            + allocator_command(plan.memory_mib, plan.page_size, plan.numa_node));
}

unsigned vcpus_of(const RunningEnclave& enclave)
{
    return enclave.vcpus ? enclave.vcpus : static_cast<unsigned>(enclave.cpus.size());
}

// Online CPUs no running enclave uses.
std::size_t unused_online_cpus(const host::CpuTopology& topology, const std::set<int>& used)
{
    const auto& online = topology.online_cpus();
    return static_cast<std::size_t>(std::count_if(online.begin(), online.end(), [&](int cpu) { return used.count(cpu) == 0; }));
}

// After this enclave the parent must still have kParentMinCpus online CPUs no enclave uses.
// (Without the opt-out the new enclave's CPUs are all unused ones, so this is a count.)
void check_parent_cpus(const host::CpuTopology& topology, unsigned vcpus, const std::set<int>& used, unsigned threads, bool enclaves_running)
{
    const std::size_t unused = unused_online_cpus(topology, used);
    if (unused >= vcpus + kParentMinCpus)
        return;
    const std::size_t left = unused > vcpus ? unused - vcpus : 0;
    const unsigned fits = round_down_vcpus(unused > kParentMinCpus ? unused - kParentMinCpus : 0, threads);
    fail(base::ErrorKind::Resource, "PARENT_CPUS_TOO_FEW",
        "--cpus " + std::to_string(vcpus) + " would leave the parent " + cpus_text(left) + " that no enclave uses (of "
            + cpus_text(topology.online_cpus().size()) + " online), and it keeps at least " + std::to_string(kParentMinCpus) + "; "
            + use_at_most(fits) + (enclaves_running ? "stop an enclave, " : "") + "or pass " + kDevHostHint);
}

void check_parent_memory(std::uint64_t mem_total_mib, const host::HugepagePools& pools)
{
    const std::uint64_t kept = parent_memory_mib(mem_total_mib, pools);
    if (kept >= kParentMinMemoryMiB)
        return;
    // The fix: give free pages back from the pool that has the most free memory.
    const host::HugepagePool* most = nullptr;
    for (const auto& pool : pools.pools())
        if (pool.free && (!most || pool.free_bytes() > most->free_bytes()))
            most = &pool;
    std::string fix = "stop an enclave and shrink the hugepage pools";
    if (most) {
        const std::uint64_t page_mib = most->page_size / kMiB;
        const std::uint64_t short_mib = kParentMinMemoryMiB - kept;
        const std::uint64_t release = std::min(most->free, (short_mib + page_mib - 1) / page_mib) * page_mib;
        fix = "give free pages back: " + allocator_command(release, most->page_size, most->node) + " --release";
    }
    fail(base::ErrorKind::Resource, "PARENT_MEMORY_TOO_LOW",
        "the hugepage pools leave the parent " + mib(kept) + " of its " + mib(mem_total_mib) + " (MemTotal), and it keeps at least "
            + mib(kParentMinMemoryMiB) + "; " + fix + ", or pass " + kDevHostHint);
}

std::uint64_t free_pages(const host::HugepagePools& pools, int node, std::uint64_t page_size)
{
    const host::HugepagePool* pool = pools.find(node, page_size);
    return pool ? pool->free : 0;
}

} // namespace

std::uint64_t default_page_size(std::uint64_t memory_mib)
{
    if (memory_mib != 0 && memory_mib % 1024 == 0)
        return kPageSize1G;
    return memory_mib <= kMax2MMemoryMiB ? kPageSize2M : kPageSize1G;
}

void check_request(const PlacementRequest& request)
{
    const std::uint64_t memory = request.memory_mib;
    if (memory < kMinMemoryMiB)
        fail(base::ErrorKind::InvalidInput, "MEMORY_TOO_SMALL",
            "--mem " + mib(memory) + " is below the minimum of " + mib(kMinMemoryMiB) + "; use --mem " + std::to_string(kMinMemoryMiB) + " or more");
    if (memory > kMax1GMemoryMiB)
        fail(base::ErrorKind::InvalidInput, "MEMORY_TOO_LARGE",
            "--mem " + mib(memory) + " exceeds the limit of 256 GiB; use --mem " + std::to_string(kMax1GMemoryMiB) + " or less");
    if (request.eif_size != 0) {
        std::uint64_t needed = (request.eif_size / kMiB + (request.eif_size % kMiB != 0)) * kEifMemoryFactor;
        if (memory < needed)
            fail(base::ErrorKind::InvalidInput, "MEMORY_BELOW_4X_EIF",
                "--mem " + mib(memory) + " is less than 4 times the EIF size (" + std::to_string(request.eif_size)
                    + " bytes); use --mem " + std::to_string(needed) + " or more");
    }
    if (request.vcpus < 1 || request.vcpus > kMaxVcpus)
        fail(base::ErrorKind::InvalidInput, "VCPUS_INVALID",
            "--cpus " + std::to_string(request.vcpus) + " is out of range; an enclave has 1 to " + std::to_string(kMaxVcpus) + " vCPUs");
    std::uint64_t page_size = request.page_size ? request.page_size : default_page_size(memory);
    if (page_size != kPageSize2M && page_size != kPageSize1G)
        fail(base::ErrorKind::Usage, "HUGEPAGE_SIZE_INVALID",
            "hugepage size " + std::to_string(page_size) + " bytes is not supported; use --hugepage-size 2M or 1G");
    if (page_size == kPageSize2M && memory > kMax2MMemoryMiB)
        fail(base::ErrorKind::InvalidInput, "MEMORY_TOO_LARGE_FOR_2M",
            "--mem " + mib(memory) + " is over the " + mib(kMax2MMemoryMiB) + " limit for 2 MiB hugepages; use --hugepage-size 1G or --mem "
                + std::to_string(kMax2MMemoryMiB) + " or less");
}

Placement plan_placement(const PlacementRequest& request, const host::CpuTopology& topology,
    const host::HugepagePools& pools, std::uint64_t mem_total_mib, const std::vector<RunningEnclave>& running)
{
    check_request(request);
    Placement plan;
    plan.page_size = request.page_size ? request.page_size : default_page_size(request.memory_mib);
    const std::uint64_t page_mib = plan.page_size / kMiB;
    plan.page_count = (request.memory_mib + page_mib - 1) / page_mib;
    plan.memory_mib = plan.page_count * page_mib;
    plan.memory_rounded_up = plan.memory_mib != request.memory_mib;

    const unsigned threads = static_cast<unsigned>(topology.threads_per_core());
    if (!request.allow_shared_cpus && request.vcpus % threads != 0)
        fail(base::ErrorKind::InvalidInput, "VCPUS_NOT_WHOLE_CORES",
            "--cpus " + std::to_string(request.vcpus) + " is not a whole number of physical cores (" + std::to_string(threads)
                + " SMT threads per core here); use --cpus " + std::to_string((request.vcpus / threads + 1) * threads)
                + (request.vcpus > threads ? " or " + std::to_string(request.vcpus / threads * threads) : "") + ", or pass " + kSharedHint);

    if (!request.allow_shared_cpus && request.vcpus % 2 != 0)
        fail(base::ErrorKind::InvalidInput, "VCPUS_ODD",
            "--cpus " + std::to_string(request.vcpus) + " is odd, and an enclave has an even number of vCPUs; use --cpus "
                + (request.vcpus > 1 ? std::to_string(request.vcpus - 1) + " or " : std::string()) + std::to_string(request.vcpus + 1)
                + ", or pass " + kDevHostHint);

    if (!pools.supports(plan.page_size))
        fail(base::ErrorKind::Resource, "HUGEPAGE_SIZE_UNSUPPORTED",
            "this host's kernel has no " + hugepage_size_name(plan.page_size) + " hugepage pool; use --hugepage-size "
                + (plan.page_size == kPageSize1G ? "2M" : "1G"));

    std::vector<int> nodes;
    if (request.numa_node) {
        if (!topology.has_node(*request.numa_node)) {
            std::vector<int> with_cpus = topology.nodes();
            std::string list;
            for (int n : with_cpus)
                list += (list.empty() ? "" : ",") + std::to_string(n);
            fail(base::ErrorKind::InvalidInput, "NUMA_NODE_INVALID",
                "NUMA node " + std::to_string(*request.numa_node) + " has no online CPUs on this host; use --numa-node with one of: " + list);
        }
        nodes.push_back(*request.numa_node);
    } else {
        nodes = topology.nodes();
    }
    check_vcpu_total(request, running);
    const std::set<int> used = cpus_in_use(running);
    if (!request.allow_shared_cpus) {
        // QingTian: at most the node's CPUs minus 2; nodes that cannot are no candidates.
        std::vector<int> within;
        for (int node : nodes)
            if (request.vcpus <= node_vcpu_limit(topology, node))
                within.push_back(node);
        if (within.empty() && !nodes.empty()) {
            int widest = *std::max_element(nodes.begin(), nodes.end(),
                [&](int a, int b) { return node_vcpu_limit(topology, a) < node_vcpu_limit(topology, b); });
            fail_node_limit(topology, widest, request.vcpus, threads);
        }
        nodes = within;
        check_parent_cpus(topology, request.vcpus, used, threads, !running.empty());
        check_parent_memory(mem_total_mib, pools);
    }

    struct Candidate {
        int node;
        CpuChoice cpus;
        std::uint64_t free;
    };
    std::vector<Candidate> candidates;
    for (int node : nodes)
        candidates.push_back({ node, choose_cpus(topology, node, request.vcpus, used, request.allow_shared_cpus), free_pages(pools, node, plan.page_size) });
    // Preference: CPUs possible, isolated, memory fits, most free CPUs, lowest id.
    std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
        if (a.cpus.possible != b.cpus.possible)
            return a.cpus.possible;
        if (a.cpus.isolated != b.cpus.isolated)
            return a.cpus.isolated;
        return a.cpus.free_cpus.size() > b.cpus.free_cpus.size();
    });
    const Candidate* best_cpu = candidates.empty() ? nullptr : &candidates.front();
    if (!best_cpu || !best_cpu->cpus.possible) {
        int node = best_cpu ? best_cpu->node : 0;
        fail_cpus(topology, node, request.vcpus, best_cpu ? best_cpu->cpus : CpuChoice {}, request.allow_shared_cpus);
    }
    const Candidate* chosen = nullptr;
    for (const auto& c : candidates) {
        if (c.cpus.possible && c.free >= plan.page_count) {
            chosen = &c;
            break;
        }
    }
    if (!chosen) {
        plan.numa_node = best_cpu->node;
        fail_memory(plan, best_cpu->free);
    }
    plan.numa_node = chosen->node;
    plan.cpus = chosen->cpus.cpus;
    plan.isolated = chosen->cpus.isolated;
    plan.shares_parent_core = chosen->cpus.shares_parent_core;
    plan.shares_enclave_cpus = chosen->cpus.shares_enclave_cpus;
    return plan;
}

void check_vcpu_total(const PlacementRequest& request, const std::vector<RunningEnclave>& running)
{
    unsigned in_use = 0;
    for (const auto& enclave : running)
        in_use += vcpus_of(enclave);
    if (in_use + request.vcpus <= kMaxTotalVcpus)
        return;
    const unsigned room = in_use < kMaxTotalVcpus ? kMaxTotalVcpus - in_use : 0;
    const unsigned fits = request.allow_shared_cpus ? room : room / 2 * 2;
    fail(base::ErrorKind::Resource, "VCPUS_OVER_TOTAL_LIMIT",
        "--cpus " + std::to_string(request.vcpus) + " would bring this parent's enclaves to " + std::to_string(in_use + request.vcpus)
            + " vCPUs (" + std::to_string(in_use) + " in running ones), over the limit of " + std::to_string(kMaxTotalVcpus) + " in total; "
            + use_at_most(fits) + (fits ? "or " : "") + "stop an enclave");
}

std::uint64_t parent_memory_mib(std::uint64_t mem_total_mib, const host::HugepagePools& pools)
{
    std::uint64_t pooled = 0;
    for (const auto& pool : pools.pools())
        pooled += (pool.total + pool.surplus) * pool.page_size;
    const std::uint64_t pooled_mib = (pooled + kMiB - 1) / kMiB;
    return mem_total_mib > pooled_mib ? mem_total_mib - pooled_mib : 0;
}

ParentReserve parent_reserve(const host::CpuTopology& topology, const host::HugepagePools& pools, std::uint64_t mem_total_mib)
{
    ParentReserve reserve;
    reserve.online_cpus = topology.online_cpus().size();
    reserve.mem_total_mib = mem_total_mib;
    reserve.memory_mib = parent_memory_mib(mem_total_mib, pools);
    reserve.memory_ok = reserve.memory_mib >= kParentMinMemoryMiB;
    const unsigned threads = static_cast<unsigned>(topology.threads_per_core());
    const std::size_t parent_limit = reserve.online_cpus > kParentMinCpus ? reserve.online_cpus - kParentMinCpus : 0;
    for (int node : topology.nodes()) {
        std::size_t limit = std::min({ node_vcpu_limit(topology, node), topology.enclave_cpus(node).size(), parent_limit });
        reserve.max_enclave_vcpus = std::max(reserve.max_enclave_vcpus, round_down_vcpus(limit, threads));
    }
    return reserve;
}

void check_cid_range(std::uint64_t cid)
{
    if (cid < kMinCid || cid > kMaxCid)
        fail(base::ErrorKind::InvalidInput, "CID_OUT_OF_RANGE",
            "--cid " + std::to_string(cid) + " is out of range; use a CID from 4 to 4294967294 (0-2 are reserved, 3 is the parent)");
}

void check_new_enclave(std::uint64_t cid, const std::vector<RunningEnclave>& running)
{
    check_cid_range(cid);
    if (running.size() >= kMaxEnclavesPerParent) {
        std::string ids;
        for (const auto& e : running)
            ids += (ids.empty() ? "" : ", ") + std::to_string(e.enclave_id);
        fail(base::ErrorKind::Resource, "ENCLAVE_LIMIT",
            "this parent already runs " + std::to_string(running.size()) + " enclaves (IDs " + ids + "), the most allowed; stop one first: qt-vmm enclave stop --enclave-id "
                + std::to_string(running.front().enclave_id));
    }
    std::set<std::uint64_t> taken;
    for (const auto& e : running)
        taken.insert(e.cid);
    for (const auto& e : running) {
        if (e.cid == cid) {
            std::uint64_t next = cid;
            while (taken.count(next) || next < kMinCid)
                next = next >= kMaxCid ? kMinCid : next + 1;
            fail(base::ErrorKind::Resource, "CID_IN_USE",
                "CID " + std::to_string(cid) + " is already used by enclave " + std::to_string(e.enclave_id) + "; pick another --cid (e.g. "
                    + std::to_string(next) + ")");
        }
    }
}

std::string isolation_name(const Placement& placement)
{
    if (placement.shares_parent_core && placement.shares_enclave_cpus)
        return "shares-parent-core,shares-enclave-cpus";
    if (placement.shares_parent_core)
        return "shares-parent-core";
    if (placement.shares_enclave_cpus)
        return "shares-enclave-cpus";
    return placement.isolated ? "isolated" : "partial-core";
}

std::string allocator_command(std::uint64_t memory_mib, std::uint64_t page_size, int numa_node)
{
    return "qt-vmm allocator --mem " + std::to_string(memory_mib) + " --hugepage-size " + hugepage_size_name(page_size)
        + " --numa-node " + std::to_string(numa_node);
}

} // namespace vmm::placement
