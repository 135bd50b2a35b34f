// The enclave JSON written from the back ends' typed status and from guest-init's records:
// the same fields, in the same order, as `query` has always shown.
#include "vmm/enclave/enclave_status_json.h"

#include <doctest/doctest.h>

using namespace vmm;

namespace {

Json daemon_fields()
{
    return Json { { "Accel", "kvm" }, { "HugepageSize", "2M" }, { "NumaNode", 0 },
        { "LaunchMonotonicNs", Json { { "DaemonStarted", 1 }, { "FirstGuestIo", 0 } } } };
}

} // namespace

TEST_CASE("a KVM back end's status: timings, the first guest I/O and the virtio-mmio device")
{
    EnclaveVmStatus s;
    s.accel = Accel::Kvm;
    s.launch_timings_ms = { { "Memory", 1.5 }, { "VM", 2.0 } };
    s.first_guest_io_ns = 42;
    s.vsock = { "virtio-mmio", true, 15, 0x130000000ull, 2, {} };
    Json info = daemon_fields();
    add_vm_status(info, s);
    CHECK(info["Accel"] == "kvm");
    CHECK(info["HugepageSize"] == "2M");
    CHECK(info["LaunchTimingsMs"].dump() == R"({"Memory":1.5,"VM":2.0})");
    CHECK(info["LaunchMonotonicNs"]["FirstGuestIo"] == 42);
    CHECK_FALSE(info.contains("QemuPID"));
    CHECK(info["VsockDevice"].dump()
        == R"({"Transport":"virtio-mmio","DriverOk":true,"Status":15,"Features":"0x130000000","Connections":2})");
}

TEST_CASE("a TCG back end's status: no hugepages or NUMA node, QEMU's PID, the vhost-user device")
{
    EnclaveVmStatus s;
    s.accel = Accel::Tcg;
    s.launch_timings_ms = { { "QemuSpawn", 3.0 } };
    s.qemu_pid = 1234;
    s.vsock = { "vhost-user", false, std::nullopt, 0, 0, {} };
    Json info = daemon_fields();
    add_vm_status(info, s);
    CHECK(info["Accel"] == "tcg");
    CHECK(info["HugepageSize"] == "none (tcg: QEMU's memfd)");
    CHECK(info["NumaNode"].is_null());
    CHECK(info["LaunchMonotonicNs"]["FirstGuestIo"] == 0);
    CHECK(info["QemuPID"] == 1234);
    CHECK(info["VsockDevice"].dump() == R"({"Transport":"vhost-user","DriverOk":false,"Features":"0x0","Connections":0})");
}

TEST_CASE("guest-init's exit-status records become AppStatus")
{
    Json j = app_status_json(guest_init::status_exited(3));
    CHECK(j["Kind"] == "exited");
    CHECK(j["ExitCode"] == 3);
    CHECK(j.contains("Description"));

    j = app_status_json(guest_init::status_killed(9, true));
    CHECK(j["Kind"] == "killed");
    CHECK(j["Signal"] == 9);
    CHECK(j["CoreDumped"] == true);

    j = app_status_json(guest_init::status_init_error(static_cast<guest_init::InitError>(7), 2, "no /cmd"));
    CHECK(j["Kind"] == "init-error");
    CHECK(j["Errno"] == 2);
    CHECK(j["Reason"] == "no /cmd");
}

TEST_CASE("a guest's reason with invalid UTF-8 or escape sequences is sanitized: the JSON dump cannot throw")
{
    guest_init::StatusRecord r = guest_init::status_init_error(static_cast<guest_init::InitError>(7), 2, "bad \xff\xfe\x1b[2J end");
    Json j = app_status_json(r);
    std::string dumped;
    CHECK_NOTHROW(dumped = j.dump());
    CHECK(j["Reason"] == "bad \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD[2J end");
    CHECK(j["Description"].get<std::string>().find('\x1b') == std::string::npos);
    // The longest reason of all-invalid bytes still fits (each byte becomes three).
    std::string worst(guest_init::kStatusReasonSize - 1, '\xff');
    j = app_status_json(guest_init::status_init_error(static_cast<guest_init::InitError>(7), 2, worst.c_str()));
    CHECK(j["Reason"].get<std::string>().size() == 3 * worst.size());
    CHECK_NOTHROW(dumped = j.dump());
}

TEST_CASE("the vsock device's internals are shown for debug-mode enclaves only")
{
    EnclaveVmStatus s;
    s.vsock = { "virtio-mmio", true, 15, 0x120000000ull, 1, { "queue rx: size=128", "connection guest_port=5002" } };
    Json debug = daemon_fields();
    debug["LaunchMode"] = "debug";
    add_vm_status(debug, s);
    CHECK(debug["VsockDevice"]["Internals"].dump() == R"(["queue rx: size=128","connection guest_port=5002"])");
    Json production = daemon_fields();
    production["LaunchMode"] = "production";
    add_vm_status(production, s);
    CHECK_FALSE(production["VsockDevice"].contains("Internals"));
}
