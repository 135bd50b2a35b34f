// The daemon's lifecycle pieces: the TERMINATED record, the heartbeat timer, the control-socket
// watchdog, and how times are written.
#include "vmm/enclave/enclave_lifecycle.h"

#include "vmm/testing/vsock_test_sockets.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <poll.h>

using namespace vmm;

TEST_CASE("the exit record: the description, State TERMINATED in place, then Reason, Detail, EndTime")
{
    Json description { { "EnclaveID", 2 }, { "State", "TERMINATING" }, { "Accel", "kvm" } };
    Json record = exit_record(description, ExitInfo { ExitKind::GuestReset, "the guest reset" }, false, "2026-01-31T12:00:00Z");
    CHECK(record.dump()
        == "{\"EnclaveID\":2,\"State\":\"TERMINATED\",\"Accel\":\"kvm\",\"Reason\":\"guest-reset\","
           "\"Detail\":\"the guest reset\",\"EndTime\":\"2026-01-31T12:00:00Z\"}");

    Json stopped = exit_record(description, ExitInfo { ExitKind::Stopped, "no boot heartbeat within 2 s" }, true, "t");
    CHECK(stopped["Reason"] == "no-heartbeat");
    CHECK(exit_record(description, ExitInfo { ExitKind::Stopped, "signal" }, false, "t")["Reason"] == "stopped");
}

TEST_CASE("times: seconds as the messages write them, UTC in ISO 8601, a monotonic clock")
{
    CHECK(seconds_text(2.5) == "2.5 s");
    CHECK(seconds_text(30) == "30 s");
    std::string now = utc_now();
    CHECK(now.size() == 20);
    CHECK(now[10] == 'T');
    CHECK(now.back() == 'Z');
    std::uint64_t a = monotonic_ns();
    CHECK(monotonic_ns() >= a);
}

TEST_CASE("the heartbeat timer fires once, after its time")
{
    base::UniqueFd timer = arm_heartbeat_timer(0.05);
    pollfd p { timer.get(), POLLIN, 0 };
    CHECK(::poll(&p, 1, 0) == 0);
    CHECK(::poll(&p, 1, 2000) == 1);
}

TEST_CASE("the watchdog notices when the control socket is removed or replaced")
{
    std::string dir = vsock_test::temp_dir("lifecycle-test");
    std::string path = dir + "/1.sock";
    int listener = vsock_test::unix_listen(path);
    SocketWatchdog watchdog(path);
    CHECK(watchdog.fd() >= 0);
    CHECK_FALSE(watchdog.check().has_value());

    SUBCASE("removed")
    {
        ::unlink(path.c_str());
    }
    SUBCASE("replaced by another file")
    {
        ::unlink(path.c_str());
        std::ofstream(path) << "x";
    }
    std::optional<std::string> why = watchdog.check();
    REQUIRE(why.has_value());
    CHECK(*why == "its control socket " + path + " was removed, so nobody could stop it any more");
    CHECK(watchdog.fd() == -1);
    ::close(listener);
    std::filesystem::remove_all(dir);
}
