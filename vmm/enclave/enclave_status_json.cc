#include "vmm/enclave/enclave_status_json.h"

#include "base/hex.h"

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
    char text[160];
    guest_init::describe_status_record(&r, text, sizeof text);
    Json j;
    switch (r.kind) {
    case guest_init::StatusKind::Exited:
        j = Json { { "Kind", "exited" }, { "ExitCode", r.value } };
        break;
    case guest_init::StatusKind::KilledBySignal:
        j = Json { { "Kind", "killed" }, { "Signal", r.value }, { "CoreDumped", r.detail != 0 } };
        break;
    case guest_init::StatusKind::InitError:
        j = Json { { "Kind", "init-error" }, { "InitError", r.value }, { "Errno", r.detail }, { "Reason", r.reason } };
        break;
    }
    j["Description"] = text;
    return j;
}

} // namespace vmm
