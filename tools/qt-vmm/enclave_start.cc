// qt-vmm enclave start: launches an enclave from an EIF (see vmm/enclave/launcher.h).
#include "base/error.h"
#include "tools/qt-vmm/command.h"
#include "vmm/enclave/launcher.h"

#include <limits>

namespace {

struct StartOptions {
    vmm::StartRequest request;
    std::string hugepage_size;
    std::uint64_t cid { 0 };
    int numa_node { -1 };
    double heartbeat_timeout { 0 };
    std::string parent_id;
    std::string parent_role;
};

qtvmm::CommandRegistration reg("enclave start", "Start an enclave from an EIF", [](CLI::App& cmd, qtvmm::Cli& cli) {
    auto options = std::make_shared<StartOptions>();
    vmm::StartRequest& r = options->request;
    cmd.add_option("--eif,--eif-path", r.eif_path, "EIF to run")->required();
    cmd.add_option("--cpus", r.vcpus, "Number of vCPUs: even, whole physical cores, at most the NUMA node's CPUs minus 2, at most 62 over all enclaves; "
        "the parent keeps 2 CPUs and 512 MiB")->capture_default_str()->check(qtvmm::whole_number(0, std::numeric_limits<unsigned>::max()));
    cmd.add_option("--mem", r.memory_mib, "Memory in MiB (at least 128 and 4x the EIF size)")->capture_default_str()->check(qtvmm::whole_number(0, std::numeric_limits<std::uint64_t>::max()));
    cmd.add_option("--cid", options->cid, "Enclave vsock CID, 4..4294967294 (default: the lowest free from 4)")->check(qtvmm::whole_number(0, std::numeric_limits<std::uint64_t>::max()));
    cmd.add_flag("--debug-mode", r.debug_mode, "Allow reading the console (the image's PCRs are zero in attestations)");
    cmd.add_option("--hugepage-size", options->hugepage_size, "2M or 1G (default: 1G when the size is a multiple of 1 GiB, else 2M)")
        ->check(CLI::IsMember({ "2M", "1G" }));
    cmd.add_option("--numa-node", options->numa_node, "NUMA node for memory and CPUs (default: one with room)")->check(qtvmm::whole_number(0, 4095));
    cmd.add_flag("--allow-shared-cpus", r.allow_shared_cpus,
        "Dev hosts: allow vCPUs on the parent's core, on other enclaves' cores, or on part of a core, an odd count, more than "
        "the node's CPUs minus 2, and less than the parent minimum (62 in total still holds)");
    cmd.add_option("--accel", options->request.accel,
        "kvm: qt-vmm's own VMM (default). tcg: QEMU software emulation with the same vsock device, for hosts whose KVM is "
        "missing or cannot run guest user mode (see host-check)")
        ->check(CLI::IsMember({ "kvm", "tcg" }))
        ->capture_default_str();
    cmd.add_option("--heartbeat-timeout", options->heartbeat_timeout,
        "Seconds to wait for the enclave's boot heartbeat before stopping it (default: 90 s per 6 GiB of EIF + 90 s per "
        "100 GiB of memory, as nitro-cli; 0 = return as soon as the guest runs, for guests without qt-vmm's init)");
    cmd.add_option("--parent-id", options->parent_id,
        "The parent's identity, measured into PCR4 of the enclave's attestation documents (default: /etc/machine-id)");
    cmd.add_option("--parent-role", options->parent_role,
        "A role of the parent (as Nitro's IAM role), measured into PCR3 (default: none, PCR3 zero)");
    qtvmm::set_examples(cmd, {
        "qt-vmm enclave start --eif app.eif --cpus 2 --mem 1024",
        "qt-vmm enclave start --eif app.eif --cpus 2 --mem 512 --cid 16 --debug-mode",
        "qt-vmm enclave start --eif app.eif --cpus 4 --mem 4096 --hugepage-size 1G --numa-node 0",
        "qt-vmm enclave start --eif app.eif --cpus 1 --mem 256 --allow-shared-cpus   # a small dev host",
        "qt-vmm enclave start --eif app.eif --cpus 1 --mem 256 --accel tcg           # no usable KVM",
    });
    cmd.callback([options, &cli, &cmd] {
        vmm::StartRequest request = options->request;
        if (cmd.count("--cid"))
            request.cid = options->cid;
        if (cmd.count("--heartbeat-timeout"))
            request.heartbeat_timeout_s = options->heartbeat_timeout;
        if (cmd.count("--parent-id"))
            request.parent_id = options->parent_id;
        if (cmd.count("--parent-role"))
            request.parent_role = options->parent_role;
        if (cmd.count("--numa-node"))
            request.numa_node = options->numa_node;
        if (options->hugepage_size == "2M")
            request.page_size = 2ull << 20;
        else if (options->hugepage_size == "1G")
            request.page_size = 1ull << 30;
        cli.detail("Start allocating memory...");
        vmm::Json info = vmm::start_enclave(request);
        cli.info("Started enclave with enclave-cid: " + std::to_string(info.value("EnclaveCID", 0ull)) + ", memory: "
            + std::to_string(info.value("MemoryMiB", 0ull)) + " MiB, cpu-ids: " + info["CPUIDs"].dump());
        const vmm::Json& device = info.contains("Attestation") ? info["Attestation"].value("Device", vmm::Json()) : vmm::Json();
        if (device.is_string() && device.get<std::string>().rfind("unavailable", 0) == 0)
            cli.info("Warning: the security module (/dev/nsm) is " + device.get<std::string>());
        cli.print(info);
    });
});

} // namespace
