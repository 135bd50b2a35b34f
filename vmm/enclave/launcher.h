// vmm/enclave/launcher.h — `qt-vmm enclave start` without the CLI: checks everything that can
// be checked before anything is allocated, then forks the enclave daemon and waits until the
// guest runs.
//
// Order: read and validate the EIF (structure, CRC, signature certificate validity) and measure
// it; take the run-dir lock; check the per-parent limit and the CID; plan the placement (memory
// rules, hugepage pool on one node, whole cores); fork the daemon, which binds its socket,
// reserves memory, loads the image and starts the vCPUs; print its JSON. The lock is held until
// the daemon has reserved what it needs, so concurrent starts never collide.
//
// Usage:
//     vmm::StartRequest request{ .eif_path = "app.eif", .vcpus = 2, .memory_mib = 512, .cid = 16 };
//     vmm::Json info = vmm::start_enclave(request);   // throws base::Error with a stable code
#pragma once

#include "vmm/enclave/run_dir.h"

#include <cstdint>
#include <optional>
#include <string>

namespace vmm {

struct StartRequest {
    std::string eif_path;
    unsigned vcpus { 2 };
    std::uint64_t memory_mib { 1024 };
    std::optional<std::uint64_t> cid;       // default: the lowest free CID from 4
    bool debug_mode { false };
    std::uint64_t page_size { 0 };          // 0 = the placement default
    std::optional<int> numa_node;
    bool allow_shared_cpus { false };
    std::string extra_cmdline;              // appended after the EIF's (unmeasured), documented
    // Seconds to wait for the guest's boot heartbeat; unset = default_heartbeat_timeout();
    // 0 = return as soon as the guest runs (guests without qt-vmm's init).
    std::optional<double> heartbeat_timeout_s;
    // "kvm": qt-vmm's own VMM. "tcg": QEMU software emulation with the same vsock device (for
    // hosts whose KVM is missing or cannot run guest user mode); the product's memory, vCPU,
    // CID and per-parent rules still apply, hugepage, NUMA and core rules do not.
    std::string accel { "kvm" };
    // Attestation (attestation_setup.h): measured into PCR4 (default /etc/machine-id) and PCR3.
    std::optional<std::string> parent_id;
    std::optional<std::string> parent_role;
};

// The heartbeat wait nitro-cli uses, scaled with the image and the memory: 90 s per started
// 6 GiB of EIF plus 90 s per started 100 GiB of memory (so at least 180 s).
double default_heartbeat_timeout(std::uint64_t eif_size, std::uint64_t memory_mib);

// Starts the enclave and returns its description once the guest has sent its heartbeat (or
// at once with a timeout of 0). Throws base::Error: NO_HEARTBEAT and ENDED_BEFORE_HEARTBEAT
// when the guest did not get that far (the enclave is stopped and its record kept).
Json start_enclave(const StartRequest& request);

// The command-line parameters qt-vmm adds after the EIF's own (never measured): host
// workarounds when host-check found a KVM that needs them, and device descriptions.
std::string vmm_cmdline_additions(bool nested_kvm_quirks);

} // namespace vmm
