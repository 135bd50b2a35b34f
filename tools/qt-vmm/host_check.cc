// qt-vmm host-check: can this host run enclaves, and does its KVM need workarounds?
// One entry per check with a verdict: ok, warn or fail (see README "host-check").
#include "base/error.h"
#include "tools/qt-vmm/command.h"
#include "vmm/enclave/access_group.h"
#include "vmm/enclave/host_quirks.h"
#include "vmm/host/cpu_list.h"
#include "vmm/host/cpu_topology.h"
#include "vmm/host/hugepage_pool.h"
#include "vmm/host/meminfo.h"
#include "vmm/kvm/kvm.h"
#include "vmm/placement/placement.h"

namespace {

qtvmm::Json check(const std::string& name, const std::string& verdict, const std::string& detail)
{
    return qtvmm::Json { { "Check", name }, { "Verdict", verdict }, { "Detail", detail } };
}

qtvmm::CommandRegistration reg("host-check", "Check that this host can run enclaves and how", [](CLI::App& cmd, qtvmm::Cli& cli) {
    qtvmm::set_examples(cmd, {
        "qt-vmm host-check",
        "qt-vmm --output table host-check",
    });
    cmd.callback([&cli] {
        qtvmm::Json checks = qtvmm::Json::array();
        bool kvm_ok = false;
        try {
            vmm::KvmSystem kvm = vmm::KvmSystem::open();
            kvm_ok = true;
            checks.push_back(check("kvm-device", "ok", "/dev/kvm opened read-write, API version 12"));
            std::string caps;
            for (const auto& c : vmm::KvmSystem::required_capabilities())
                caps += (caps.empty() ? "" : " ") + std::string(c.name);
            checks.push_back(check("kvm-capabilities", "ok", caps));
        } catch (const base::Error& e) {
            checks.push_back(check("kvm-device", "fail", e.what()));
        }

        vmm::host::HugepagePools pools = vmm::host::HugepagePools::read();
        std::string pool_text;
        for (const auto& p : pools.pools())
            pool_text += (pool_text.empty() ? "" : "; ") + std::string("node ") + std::to_string(p.node) + " "
                + vmm::host::hugepage_size_name(p.page_size) + ": " + std::to_string(p.free) + " free of " + std::to_string(p.total);
        bool any_free = false;
        for (const auto& p : pools.pools())
            any_free = any_free || p.free > 0;
        checks.push_back(check("hugepages", any_free ? "ok" : "warn",
            (pool_text.empty() ? std::string("no hugepage pools") : pool_text)
                + (any_free ? "" : "; reserve some with: qt-vmm allocator --mem 512 --hugepage-size 2M")));

        vmm::host::CpuTopology topology = vmm::host::CpuTopology::read();
        const vmm::host::PhysicalCore* parent = topology.core_of(0);
        std::vector<int> pool;
        for (int cpu : topology.online_cpus())
            if (!parent || topology.core_of(cpu) != parent)
                pool.push_back(cpu);
        checks.push_back(check("cpu-pool", pool.empty() ? "warn" : "ok",
            std::to_string(topology.online_cpus().size()) + " CPUs online, " + std::to_string(topology.threads_per_core())
                + " per core; enclave pool (not CPU 0's core): " + (pool.empty() ? std::string("empty, use --allow-shared-cpus") : vmm::host::format_cpu_list(pool))));

        // QingTian's parent minimum (2 CPUs, 512 MiB), as `enclave start` checks it without the opt-out.
        vmm::placement::ParentReserve reserve = vmm::placement::parent_reserve(topology, pools, vmm::host::read_mem_total_mib());
        const bool cpus_ok = reserve.max_enclave_vcpus > 0;
        std::string parent_text = "the parent keeps at least " + std::to_string(vmm::placement::kParentMinCpus) + " CPUs (of "
            + std::to_string(reserve.online_cpus) + " online) and " + std::to_string(vmm::placement::kParentMinMemoryMiB) + " MiB; "
            + std::to_string(reserve.memory_mib) + " MiB of " + std::to_string(reserve.mem_total_mib)
            + " MiB (MemTotal) are outside the hugepage pools"
            + (reserve.memory_ok ? "" : ", too little: shrink the pools (qt-vmm allocator --release)") + "; "
            + (cpus_ok ? "an enclave may have up to " + std::to_string(reserve.max_enclave_vcpus) + " vCPUs"
                       : std::string("no enclave fits the vCPU rules here (even, ≤ node CPUs − 2, whole cores outside CPU 0's core)"))
            + (cpus_ok && reserve.memory_ok ? "" : "; enclaves need --allow-shared-cpus (small dev hosts)");
        checks.push_back(check("parent-minimum", cpus_ok && reserve.memory_ok ? "ok" : "warn", parent_text));

        if (kvm_ok) {
            vmm::HostQuirks q = vmm::run_user_mode_probe();
            checks.push_back(check("guest-user-mode", q.user_mode == "ok" ? "ok" : "warn",
                q.user_mode == "ok"
                    ? "a probe guest ran user mode and its system calls correctly (" + q.detail + "; "
                        + std::to_string(static_cast<int>(q.probe_ms)) + " ms)"
                    : "this KVM cannot run guest user mode (" + q.detail
                        + "): a nested, software-assisted KVM; enclaves start with the documented workarounds but their apps "
                          "cannot run here (run them under QEMU software emulation, as make demo does)"));
        }
        std::optional<gid_t> group = vmm::access_group_id();
        checks.push_back(check("access-group", group ? "ok" : "warn",
            group ? std::string("root and members of group ") + vmm::kAccessGroup + " (gid " + std::to_string(*group)
                    + ") may reach enclaves; add a user with: usermod -aG " + vmm::kAccessGroup + " USER"
                  : std::string("group ") + vmm::kAccessGroup + " does not exist: enclave sockets are root-only (0600); "
                    + vmm::access_group_hint()));
        cli.print(checks);
    });
});

} // namespace
