#include "vmm/enclave/launcher.h"

#include "base/error.h"
#include "base/hex.h"
#include "eif-format/eif_arch.h"
#include "eif-format/eif_reader.h"
#include "eif-format/signature.h"
#include "vmm/enclave/attestation_setup.h"
#include "vmm/enclave/host_root_load.h"
#include "vmm/enclave/daemon_fd_limit.h"
#include "vmm/enclave/daemon_memory.h"
#include "vmm/enclave/enclave_daemon.h"
#include "vmm/enclave/host_quirks.h"
#include "vmm/enclave/nested_kvm_fixups.h"
#include "vmm/enclave/qemu_command.h"
#include "vmm/enclave/qemu_probe.h"
#include "vmm/host/cpu_affinity.h"
#include "vmm/enclave/sandbox_monitor.h"
#include "vmm/enclave/sandbox_privileges.h"
#include "vmm/host/cpu_topology.h"
#include "vmm/host/hugepage_pool.h"
#include "vmm/host/zeroed_pool.h"
#include "vmm/host/meminfo.h"
#include "vmm/placement/daemon_cpus.h"
#include "vmm/placement/placement.h"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <memory>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmm {

namespace {

// A measurement back from the hex the EIF scan reports it in.
eif::Digest digest_of(const std::string& hex)
{
    eif::Digest digest {};
    std::optional<std::vector<std::uint8_t>> raw = base::from_hex(hex);
    if (!raw || raw->size() != digest.size())
        throw base::Error(base::ErrorKind::Internal, "INTERNAL", "a measurement is not 48 bytes of hex: " + hex);
    std::copy(raw->begin(), raw->end(), digest.begin());
    return digest;
}

std::vector<placement::RunningEnclave> running_enclaves(const std::vector<Json>& all)
{
    std::vector<placement::RunningEnclave> running;
    for (const Json& e : all) {
        if (e.value("State", std::string()) == "TERMINATED")
            continue;
        if (!e.contains("EnclaveCID")) {
            // A daemon that is alive but silent and left no reservation: what it holds is
            // unknown, so nothing may be placed (fail closed).
            std::string id = e.contains("EnclaveID") ? e["EnclaveID"].dump() : "?";
            throw base::Error(base::ErrorKind::Resource, "PLACEMENT_UNKNOWN",
                "enclave " + id + "'s daemon does not answer and left no reservation, so its CID and CPUs are unknown; "
                "retry when it answers, or stop it (qt-vmm enclave stop --enclave-id " + id + ")");
        }
        placement::RunningEnclave r;
        r.enclave_id = e.value("EnclaveID", 0u);
        r.cid = e.value("EnclaveCID", std::uint64_t(0));
        r.vcpus = e.value("NumberOfCPUs", 0u);
        if (e.contains("CPUIDs") && e["CPUIDs"].is_array())
            for (const Json& c : e["CPUIDs"])
                if (c.is_number_integer())
                    r.cpus.push_back(c.get<int>());
        running.push_back(std::move(r));
    }
    return running;
}

std::uint64_t first_free_cid(const std::vector<placement::RunningEnclave>& running)
{
    std::uint64_t cid = placement::kMinCid;
    for (bool taken = true; taken;) {
        taken = false;
        for (const auto& r : running)
            if (r.cid == cid) {
                taken = true;
                ++cid;
            }
    }
    return cid;
}

// Reads "ok {json}\n" or "error {json}\n" from the daemon; throws on error or if it died.
Json wait_for_daemon(int fd)
{
    std::string text;
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        text.append(buffer, static_cast<std::size_t>(n));
    }
    std::size_t space = text.find(' ');
    if (space == std::string::npos)
        throw base::Error(base::ErrorKind::Vm, "DAEMON_DIED", "the enclave daemon exited before reporting; see its log in the run directory");
    Json body = Json::parse(text.substr(space + 1), nullptr, false);
    if (text.compare(0, space, "ok") == 0 && body.is_object())
        return body;
    if (body.is_object())
        throw base::Error(static_cast<base::ErrorKind>(body.value("kind", 70)), body.value("code", std::string("DAEMON_ERROR")),
            body.value("message", std::string("the enclave daemon failed")));
    throw base::Error(base::ErrorKind::Vm, "DAEMON_DIED", "malformed report from the enclave daemon");
}

} // namespace

std::string vmm_cmdline_additions(bool nested_kvm_quirks)
{
    std::string extra;
    if (nested_kvm_quirks)
        extra += " noxsave nofsgsbase nopcid noinvpcid clearcpuid=popcnt,smap";
    return extra;
}

double default_heartbeat_timeout(std::uint64_t eif_size, std::uint64_t memory_mib)
{
    constexpr std::uint64_t kEifStep = 6ull << 30;
    constexpr std::uint64_t kMemoryStepMib = 100ull << 10;
    std::uint64_t eif_steps = std::max<std::uint64_t>(1, (eif_size + kEifStep - 1) / kEifStep);
    std::uint64_t memory_steps = std::max<std::uint64_t>(1, (memory_mib + kMemoryStepMib - 1) / kMemoryStepMib);
    return 90.0 * static_cast<double>(eif_steps + memory_steps);
}

Json start_enclave(const StartRequest& request)
{
    if (request.heartbeat_timeout_s && !(*request.heartbeat_timeout_s >= 0 && *request.heartbeat_timeout_s <= 86400))
        throw base::Error(base::ErrorKind::Usage, "BAD_HEARTBEAT_TIMEOUT",
            "--heartbeat-timeout must be between 0 and 86400 seconds (0 = do not wait for the heartbeat)");
    if (request.cid)
        placement::check_cid_range(*request.cid);
    // Before the first thread of this process (the EIF scan's hashing helper), or that thread's
    // arena would outlive it and pass to the daemon forked below (which inherits the setting).
    use_one_malloc_arena();
    HostRootLoad host_root = HostRootLoad::start(); // overlaps everything up to prepare_attestation
    // 1. The image: strict structure, CRC, measurements, signing certificate validity.
    // Read once into a sealed memfd: everything below, and the boot, use that copy, so what is
    // measured is what boots even if someone rewrites the file meanwhile. Structure on open, then
    // CRC and PCRs in one streaming pass.
    eif::ReadOptions read_options;
    read_options.verify_crc = false;
    auto sealed = std::make_shared<eif::EifReader>(eif::EifReader::open_sealed(request.eif_path, read_options));
    const eif::EifReader& eif = *sealed;
    eif::ScanResult scan = eif.scan();
    if (!scan.crc_ok)
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_CRC",
            request.eif_path + ": CRC-32 mismatch (stored " + std::to_string(scan.stored_crc) + ", computed "
                + std::to_string(scan.computed_crc) + "); the file is damaged, rebuild or re-copy it");
    Json measurements { { "HashAlgorithm", "Sha384 { ... }" }, { "PCR0", scan.measurements.pcr0 },
        { "PCR1", scan.measurements.pcr1 }, { "PCR2", scan.measurements.pcr2 } };
    std::optional<eif::Digest> pcr8;
    if (auto index = eif.signature_index()) {
        // As nitro-cli does before launch: the COSE signature and the certificate's validity.
        eif::ParsedSignature signature = eif::parse_signature_section(eif.read_small_section(*index, 32768));
        eif::SignatureCheck check = eif::verify_signature(signature, scan.pcr0, std::time(nullptr));
        if (!check.ok())
            throw base::Error(base::ErrorKind::Crypto, "EIF_SIGNATURE_INVALID",
                request.eif_path + ": " + check.problem + "; re-sign the image with qt-vmm enclave sign");
        pcr8 = eif::pcr_of_certificate_pem(signature.certificate_pem);
        measurements["PCR8"] = eif::to_hex(*pcr8);
    }
    struct stat st {};
    ::fstat(eif.fd(), &st);
    std::uint64_t eif_size = static_cast<std::uint64_t>(st.st_size);
    std::string cmdline = eif.read_small_section(eif.cmdline_index(), 64 * 1024);

    std::optional<Accel> accel = parse_accel(request.accel);
    if (!accel)
        throw base::Error(base::ErrorKind::Usage, "BAD_ACCEL", "--accel " + request.accel + " is not known; use kvm or tcg");
    const bool tcg = *accel == Accel::Tcg;
    // The EIF's architecture: KVM runs only the host's; QEMU emulates either.
    const eif::Arch arch = eif::arch_of_flags(eif.header().flags);
    if (!tcg && arch != eif::host_arch())
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_ARCH_MISMATCH",
            request.eif_path + " is an " + eif::arch_name(arch) + " enclave image but KVM on this " + eif::arch_name(eif::host_arch())
                + " host runs only " + eif::arch_name(eif::host_arch()) + " enclaves; start it with --accel tcg (QEMU emulates it) or on an "
                + eif::arch_name(arch) + " host");
    const QemuSystem qemu = qemu_system(arch);
    if (tcg && !qemu_binary_exists(qemu.binary))
        throw_qemu_missing(qemu.binary, qemu.install); // now, before anything is taken
    if (tcg && (request.page_size || request.numa_node))
        throw base::Error(base::ErrorKind::Usage, "NOT_FOR_TCG",
            "--hugepage-size and --numa-node do not apply to --accel tcg (QEMU's guest RAM is ordinary shared memory); drop them");
    // Every rule that needs nothing from the host, before the KVM probe and any allocation.
    placement::PlacementRequest want;
    want.memory_mib = request.memory_mib;
    want.eif_size = eif_size;
    want.vcpus = request.vcpus;
    want.page_size = tcg ? host::kPageSize1G : request.page_size; // tcg: only the bounds that are not about hugepages
    want.numa_node = request.numa_node;
    want.allow_shared_cpus = request.allow_shared_cpus;
    placement::check_request(want);
    HostQuirks quirks = tcg ? HostQuirks {} : detect_host_quirks();

    // 2. Under the lock: limits, CID, placement, ID; the daemon takes over the lock.
    RunDir dir = RunDir::open();
    RunDir::Lock lock = dir.lock();
    // The ID first: the attestation leaf is issued for it on HostRootLoad's thread while the rest runs.
    int id = dir.next_free_id();
    const std::string module_id = new_module_id(id);
    host_root.issue_leaf_for(module_id);
    std::vector<Json> all = dir.list_enclaves();
    std::vector<placement::RunningEnclave> running = running_enclaves(all);
    std::uint64_t cid = request.cid ? *request.cid : first_free_cid(running);
    placement::check_new_enclave(cid, running);
    placement::Placement place;
    const host::CpuTopology topology = host::CpuTopology::read();
    if (tcg) {
        placement::check_vcpu_total(want, running); // QingTian's 62 in total counts every enclave
        place.memory_mib = request.memory_mib;
    } else {
        // Ready chunks of the pre-zeroed pool are memory this start can use, like free pages.
        place = placement::plan_placement(want, topology, host::with_zeroed_as_free(host::HugepagePools::read(), host::zeroed_pool_root(), request.memory_mib << 20),
            host::read_mem_total_mib(), running);
    }
    // The daemon's threads and QEMU: the parent's CPUs, none of any enclave's (finding 6).
    placement::DaemonCpus daemon_cpus = placement::daemon_cpus(topology.online_cpus(), host::allowed_cpus(), place.cpus, running);

    EnclaveSettings settings;
    settings.id = id;
    settings.cid = cid;
    settings.eif_path = request.eif_path;
    settings.measurements = measurements;
    settings.debug_mode = request.debug_mode;
    settings.cpu_isolation = tcg ? "not-applicable (tcg)" : placement::isolation_name(place);
    settings.accel = *accel;
    settings.arch = arch;
    settings.owner_uid = ::getuid();
    settings.machine.vcpus = request.vcpus;
    settings.machine.memory_bytes = place.memory_mib << 20;
    settings.machine.page_size = place.page_size;
    settings.machine.numa_node = place.numa_node;
    settings.machine.host_cpus = place.cpus;
    settings.machine.vmm_cpus = daemon_cpus.cpus;
    settings.daemon_cpu_isolation = daemon_cpus.isolation;
    settings.machine.cmdline = cmdline + vmm_cmdline_additions(quirks.nested_kvm) + request.extra_cmdline;
#if defined(__x86_64__) // the nested-KVM workarounds are x86's (host_quirks.h)
    settings.machine.cpuid_quirks.hide_cx16 = quirks.nested_kvm;
    settings.machine.cpuid_quirks.hide_pv_ipi = quirks.nested_kvm;
    settings.machine.cpuid_quirks.hide_tsc_deadline = quirks.nested_kvm;
    if (quirks.nested_kvm)
        settings.machine.on_emulation_failure = deliver_int3_as_breakpoint;
#endif
    AttestationInputs attestation;
    attestation.pcr0 = scan.pcr0;
    attestation.pcr1 = digest_of(scan.measurements.pcr1);
    attestation.pcr2 = digest_of(scan.measurements.pcr2);
    attestation.pcr8 = pcr8;
    attestation.debug_mode = request.debug_mode;
    attestation.parent_id = request.parent_id;
    attestation.parent_role = request.parent_role;
    attestation.enclave_id = id;
    attestation.module_id = module_id;
    settings.heartbeat_timeout_s = request.heartbeat_timeout_s.value_or(default_heartbeat_timeout(eif_size, place.memory_mib));

    // The daemon reads kernel and initrd from the sealed copy into guest memory, then lets the
    // copy go (its pages are the EIF's size).
    BootImage image;
    image.kernel.resize(eif.section(eif.kernel_index()).size);
    eif.read_section(eif.kernel_index(), image.kernel.data(), image.kernel.size());
    image.initrd_size = eif.ramdisks_size();
    image.load_initrd = [reader = sealed](std::uint8_t* destination) mutable {
        reader->read_ramdisks(destination, reader->ramdisks_size());
        reader.reset();
    };

    // What this start takes, on disk before the lock is let go: while the daemon lives, a later
    // start counts it even if the daemon never answers (RunDir::list_enclaves).
    Json reservation { { "EnclaveID", id }, { "EnclaveCID", cid }, { "NumberOfCPUs", request.vcpus },
        { "CPUIDs", place.cpus }, { "MemoryMiB", place.memory_mib }, { "Accel", accel_name(*accel) } };
    dir.write_reservation(id, reservation);

    // The signer, issued on HostRootLoad's thread meanwhile (joined here: the fork below wants
    // one thread). A failure from here on gives the reservation back.
    EnclaveAttestation prepared;
    try {
        prepared = prepare_attestation(attestation, host_root);
    } catch (...) {
        dir.remove_reservation(id);
        throw;
    }
    settings.nsm = std::move(prepared.module);
    settings.attestation = std::move(prepared.description);
    if (!tcg) {
        settings.attestation["Device"] = "virtio-mmio slot 1 (virtio ID 33)";
    } else if (qemu_can_create_device(qemu.binary, "vhost-user-device")) {
        settings.attestation["Device"] = "QEMU vhost-user-device (virtio ID 33)";
    } else {
        // Debian's QEMU builds vhost-user-device as not user-creatable: the enclave still runs,
        // without /dev/nsm, and says so (start prints it as a warning).
        settings.nsm = nullptr;
        settings.attestation["Device"] = "unavailable: " + qemu.binary + " cannot create -device vhost-user-device (QEMU builds it "
            "not user-creatable), so this --accel tcg enclave has no /dev/nsm; use --accel kvm, or QT_VMM_QEMU with a QEMU "
            "that allows it";
    }

    // Pre-zeroed memory when the pool covers it (all or nothing), else fresh pages. The claim's
    // files (and flocks) go to the daemon, which maps them, and to its monitor, which scrubs them
    // once the daemon is gone; this process closes its copies after the fork.
    auto pool_claim = std::make_shared<host::ChunkClaim>();
    if (tcg) {
        settings.memory_source = "not-applicable (tcg)";
    } else {
        *pool_claim = host::claim_zeroed_memory(host::zeroed_pool_root(), place.page_size, place.numa_node, place.memory_mib << 20);
        if (!pool_claim->empty()) {
            settings.memory_source = "prezeroed-pool";
            settings.pool_chunks = pool_claim->names();
            settings.machine.memory_chunks = { pool_claim->fds(), pool_claim->chunk_bytes() };
        }
    }

    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        pool_claim->give_back_unused();
        dir.remove_reservation(id);
        base::throw_errno("PIPE", "cannot create", "a pipe to the enclave daemon");
    }
    std::fflush(nullptr);
    pid_t child = ::fork();
    if (child < 0) {
        pool_claim->give_back_unused();
        dir.remove_reservation(id);
        base::throw_errno("FORK", "cannot fork", "the enclave daemon");
    }
    if (child == 0) {
        // First child: new session, then fork the daemon so it is not a session leader.
        ::close(pipe_fds[0]);
        ::setsid();
        pid_t daemon_pid = ::fork();
        if (daemon_pid != 0)
            ::_exit(daemon_pid < 0 ? 1 : 0);
        int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        std::string log = dir.path() + "/" + std::to_string(id) + ".log";
        base::UniqueFd log_fd;
        try {
            log_fd = dir.create_log(id); // a new file: never through a planted symlink, never truncating one
        } catch (const base::Error&) {
        }
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(log_fd.valid() ? log_fd.get() : null, 2);
        ::umask(022);
        // The daemon outlives whoever started it: a start that was killed must not take the
        // enclave with it when the daemon writes its report into the pipe nobody reads any more.
        ::signal(SIGPIPE, SIG_IGN);
        if (::chdir("/") != 0)
            ::_exit(1);
        raise_fd_limit(); // before anything is open; a cap is noted in the log
        int status = 1;
        sealed.reset(); // the copy now lives only as long as load_initrd needs it
        try {
            reservation["ProcessID"] = ::getpid(); // still under the lock
            dir.write_reservation(id, reservation);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "qt-vmm daemon: cannot note its process ID in the reservation: %s\n", e.what());
        }
        try {
            // Privilege separation: this process stays root as the daemon's monitor; the daemon
            // (its child) drops root once the enclave runs (sandbox_monitor.h).
            std::shared_ptr<MonitorClient> monitor = fork_monitor(
                dir, id, log,
                [&] {
                    lock.release();
                    ::close(pipe_fds[1]);
                },
                [pool_claim] { pool_claim->scrub_and_return(); });
            if (::geteuid() == 0)
                enter_daemon_namespaces();
            EnclaveDaemon daemon(dir, std::move(settings));
            daemon.use_monitor(std::move(monitor));
            status = daemon.run(pipe_fds[1], lock, std::move(image));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "qt-vmm daemon: %s\n", e.what());
        }
        ::_exit(status); // the monitor removes the log unless the daemon died
    }
    ::close(pipe_fds[1]);
    pool_claim.reset(); // the daemon and its monitor hold the chunks now
    lock.release(); // the daemon holds the lock (same open file) until it has reserved memory
    int status = 0;
    ::waitpid(child, &status, 0);
    Json info = wait_for_daemon(pipe_fds[0]);
    ::close(pipe_fds[0]);
    return info;
}

} // namespace vmm
