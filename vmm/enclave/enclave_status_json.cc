#include "vmm/enclave/enclave_status_json.h"

#include "base/hex.h"
#include "base/utf8.h"

#include <cstring>
#include <string_view>

namespace vmm {

void add_vm_status(Json& info, const EnclaveVmStatus& status)
{
    info["Accel"] = accel_name(status.accel);
    if (status.accel == Accel::Tcg) {
        info["HugepageSize"] = "none (tcg: QEMU's memfd)";
        info["NumaNode"] = nullptr;
    }
    Json timings = Json::object();
    for (const auto& [name, ms] : status.launch_timings_ms)
        timings[name] = ms;
    info["LaunchTimingsMs"] = timings;
    if (status.first_guest_io_ns)
        info["LaunchMonotonicNs"]["FirstGuestIo"] = *status.first_guest_io_ns;
    if (status.qemu_pid)
        info["QemuPID"] = *status.qemu_pid;
    const VsockDeviceStatus& v = status.vsock;
    Json vsock { { "Transport", v.transport }, { "DriverOk", v.driver_ok } };
    if (v.status_register)
        vsock["Status"] = *v.status_register;
    vsock["Features"] = base::hex_u64(v.features);
    vsock["Connections"] = v.connections;
    // Debug mode only: what the device's queues and connections look like inside (a stalled
    // connection is diagnosed from here); production enclaves show nothing of their traffic.
    if (!v.internals.empty() && info.value("LaunchMode", std::string()) == "debug")
        vsock["Internals"] = v.internals;
    info["VsockDevice"] = vsock;
}

Json app_status_json(const guest_init::StatusRecord& r)
{
    // The guest wrote `reason`: any bytes at all. Valid UTF-8 without control characters from
    // here on, so no dump of the enclave's JSON can throw and no terminal gets escape sequences.
    char text[160];
    guest_init::describe_status_record(&r, text, sizeof text);
    constexpr std::size_t kReplacementBytes = 3; // each invalid byte may become U+FFFD
    std::string reason = base::sanitize_utf8(std::string_view(r.reason, ::strnlen(r.reason, sizeof r.reason)),
        kReplacementBytes * sizeof r.reason);
    std::string description = base::sanitize_utf8(text, kReplacementBytes * sizeof text);
    Json j;
    switch (r.kind) {
    case guest_init::StatusKind::Exited:
        j = Json { { "Kind", "exited" }, { "ExitCode", r.value } };
        break;
    case guest_init::StatusKind::KilledBySignal:
        j = Json { { "Kind", "killed" }, { "Signal", r.value }, { "CoreDumped", r.detail != 0 } };
        break;
    case guest_init::StatusKind::InitError:
        j = Json { { "Kind", "init-error" }, { "InitError", r.value }, { "Errno", r.detail }, { "Reason", reason } };
        break;
    }
    j["Description"] = description;
    return j;
}

Json attestation_json(const Json& description, const nsm::NsmModule& module)
{
    Json out = description;
    out["Requests"] = module.requests();
    out["Errors"] = module.errors();
    Json pcrs = Json::array();
    for (const nsm::PcrState& p : module.pcrs())
        pcrs.push_back(Json { { "Index", p.index }, { "Value", eif::to_hex(p.value) }, { "Locked", p.locked } });
    out["PCRs"] = std::move(pcrs);
    return out;
}

} // namespace vmm
