#include "vmm/enclave/host_quirks.h"

#include "base/error.h"
#include "vmm/enclave/run_dir.h"
#include "vmm/enclave/trusted_dir.h"
#include "vmm/vstate/machine.h"

#include <chrono>
#include <cstdlib>
#include <optional>
#include <unistd.h>
#include <thread>

// The probe guest of this architecture (vmm/enclave/module.mk): tests/guests/probe (x86) or
// tests/guests/probe-arm64; both print "PROBE usermode=ok|broken ..." and power off.
extern "C" const std::uint8_t qtvmm_probe_image_start[];
extern "C" const std::uint8_t qtvmm_probe_image_end[];

namespace vmm {

namespace {

constexpr const char* kCacheName = "host-quirks.json";

std::string boot_id()
{
    try {
        std::string id = base::read_file("/proc/sys/kernel/random/boot_id", 128);
        while (!id.empty() && (id.back() == '\n' || id.back() == ' '))
            id.pop_back();
        return id;
    } catch (const base::Error&) {
        return "unknown";
    }
}

} // namespace

HostQuirks run_user_mode_probe()
{
    auto start = std::chrono::steady_clock::now();
    ConsoleBuffer console(64 * 1024);
    MachineConfig config;
    config.vcpus = 1;
    config.memory_bytes = 16ull << 20;
    config.page_size = 4096; // a probe, not an enclave: ordinary memory is fine
    config.cmdline = "probe.mode=usermode";
    config.console = &console;
    BootImage image;
    image.kernel.assign(qtvmm_probe_image_start, qtvmm_probe_image_end);
    auto machine = Machine::create(config, image);
    machine->start();
    auto deadline = start + std::chrono::seconds(20);
    while (machine->status().kind == ExitKind::Running && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (machine->status().kind == ExitKind::Running)
        machine->request_stop(ExitKind::Stopped, "probe timed out");
    ExitInfo exit = machine->wait();

    std::string output;
    std::uint64_t lost = 0;
    console.read(0, output, lost);
    HostQuirks q;
    q.probe_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::size_t at = output.find("PROBE usermode=");
    if (at == std::string::npos) {
        // The probe could not even report: treat the host as needing every workaround.
        q.nested_kvm = true;
        q.user_mode = "broken";
        q.detail = std::string("probe gave no verdict (") + exit_kind_name(exit.kind) + ": " + exit.detail + ")";
        return q;
    }
    std::size_t end = output.find('\n', at);
    q.detail = output.substr(at, end == std::string::npos ? std::string::npos : end - at);
    while (!q.detail.empty() && q.detail.back() == '\r')
        q.detail.pop_back();
    q.user_mode = q.detail.compare(0, 17, "PROBE usermode=ok") == 0 ? "ok" : "broken";
    q.nested_kvm = q.user_mode != "ok";
    return q;
}

HostQuirks detect_host_quirks()
{
    // The cache decides whether guest protections are relaxed, so it is kept only where only root
    // can write (never the run directory, which members of the qt-vmm group may write into).
    const char* env = std::getenv("QT_VMM_STATE_DIR");
    std::string state = env && *env ? env : kDefaultStateDir;
    base::UniqueFd dir;
    try {
        dir = open_trusted_dir(state, "QT_VMM_STATE_DIR", "STATE_DIR_UNSAFE");
    } catch (const base::Error&) {
        return run_user_mode_probe(); // no trustworthy place for a cache: probe every time
    }
    std::string id = boot_id();
    if (std::optional<std::string> text = read_plain_file(dir.get(), kCacheName, 4096, /*only_root_writes=*/true)) {
        try {
            Json cached = Json::parse(*text);
            if (cached.value("BootID", std::string()) == id) {
                HostQuirks q;
                q.nested_kvm = cached.value("NestedKvm", false);
                q.user_mode = cached.value("UserMode", std::string());
                q.detail = cached.value("Detail", std::string());
                q.probe_ms = cached.value("ProbeMs", 0.0);
                q.cached = true;
                return q;
            }
        } catch (const std::exception&) {
        }
    }
    HostQuirks q = run_user_mode_probe();
    if (::geteuid() != 0)
        return q; // only root's cache is trusted, so only root writes one
    try {
        base::AtomicFile file(state + "/" + kCacheName, 0644);
        file.write(Json { { "BootID", id }, { "NestedKvm", q.nested_kvm }, { "UserMode", q.user_mode }, { "Detail", q.detail },
                       { "ProbeMs", q.probe_ms } }
                       .dump(2)
            + "\n");
        file.commit();
    } catch (const base::Error&) {
        // A read-only state directory only costs a probe per start.
    }
    return q;
}

} // namespace vmm
