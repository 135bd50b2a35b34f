// RunDir::list_enclaves in a temp run directory: a daemon that is alive but does not answer is
// listed from its reservation (State NOT-RESPONDING, its CID and CPUs still counted); only a
// socket nobody listens on is a dead daemon, whose socket and reservation are cleaned up.
#include "vmm/enclave/run_dir.h"

#include "vmm/enclave/control_protocol.h"
#include "vmm/testing/vsock_test_sockets.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

using namespace vmm;

namespace {

struct TempRunDir {
    std::string path = vsock_test::temp_dir("run-dir-test");
    TempRunDir() { ::setenv("QT_VMM_RUN_DIR", path.c_str(), 1); }
    ~TempRunDir()
    {
        ::unsetenv("QT_VMM_RUN_DIR");
        std::filesystem::remove_all(path);
    }
};

const Json kReservation { { "EnclaveID", 3 }, { "EnclaveCID", 20 }, { "NumberOfCPUs", 2 }, { "CPUIDs", { 1, 3 } },
    { "MemoryMiB", 256 }, { "Accel", "kvm" }, { "ProcessID", 4242 } };

} // namespace

TEST_CASE("a live daemon that refuses to describe is listed from its reservation, NOT-RESPONDING")
{
    TempRunDir tmp;
    RunDir dir = RunDir::open();
    dir.write_reservation(3, kReservation);
    base::UniqueFd listener(vsock_test::unix_listen(dir.socket_path(3)));
    std::thread busy_daemon([&] {
        base::UniqueFd client(::accept(listener.get(), nullptr, nullptr));
        std::string line = encode_line(error_reply("DAEMON_BUSY", 6, "too many control connections"));
        [[maybe_unused]] ssize_t n = ::write(client.get(), line.data(), line.size());
    });
    std::vector<Json> all = dir.list_enclaves();
    busy_daemon.join();
    REQUIRE(all.size() == 1);
    CHECK(all[0]["State"] == "NOT-RESPONDING");
    CHECK(all[0]["EnclaveCID"] == 20);
    CHECK(all[0]["CPUIDs"] == Json::array({ 1, 3 }));
    CHECK(all[0]["Detail"].get<std::string>().find("(process 4242) is alive but did not answer: too many control connections; its CID, CPUs and memory stay reserved") != std::string::npos);
    CHECK(std::filesystem::exists(dir.socket_path(3)));
    CHECK(std::filesystem::exists(dir.reservation_path(3)));
}

TEST_CASE("a daemon that closes the connection while it ends is listed from the record it then writes")
{
    // Seen in CI: `query` right after a start whose app exited at once met the daemon between
    // closing its control connections and writing its record, and said NOT-RESPONDING.
    TempRunDir tmp;
    RunDir dir = RunDir::open();
    base::UniqueFd listener(vsock_test::unix_listen(dir.socket_path(6)));
    std::thread ending_daemon([&] {
        base::UniqueFd client(::accept(listener.get(), nullptr, nullptr));
        client.reset(); // closed unanswered
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        dir.write_record(6, Json { { "EnclaveID", 6 }, { "State", "TERMINATED" }, { "Reason", "guest-reset" } });
        ::unlink(dir.socket_path(6).c_str());
    });
    std::vector<Json> all = dir.list_enclaves();
    ending_daemon.join();
    REQUIRE(all.size() == 1);
    CHECK(all[0]["EnclaveID"] == 6);
    CHECK(all[0]["State"] == "TERMINATED");
    CHECK(all[0]["Reason"] == "guest-reset");
}

TEST_CASE("stop of an enclave that is ending on its own waits for its record and clears it")
{
    // Seen in the nested benchmark: `stop` right after the app's first connection met an enclave
    // whose app had just exited; the daemon closed the stop request unanswered, stop failed, and
    // the record written just after kept EnclaveID 0 taken, so the next start got 1.
    TempRunDir tmp;
    RunDir dir = RunDir::open();
    base::UniqueFd listener(vsock_test::unix_listen(dir.socket_path(4)));
    std::thread ending_daemon([&] {
        base::UniqueFd client(::accept(listener.get(), nullptr, nullptr));
        client.reset(); // the stop request, closed unanswered
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        dir.write_record(4, Json { { "EnclaveID", 4 }, { "State", "TERMINATED" }, { "Reason", "app-exited" } });
        ::unlink(dir.socket_path(4).c_str());
    });
    CHECK(dir.stop_enclave(4));
    ending_daemon.join();
    CHECK_FALSE(std::filesystem::exists(dir.record_path(4)));
    CHECK(dir.next_free_id() == 0);
    CHECK(dir.list_enclaves().empty());
}

TEST_CASE("stop: a record alone is cleared; nothing at all is no such enclave")
{
    TempRunDir tmp;
    RunDir dir = RunDir::open();
    dir.write_record(2, Json { { "EnclaveID", 2 }, { "State", "TERMINATED" } });
    CHECK(dir.stop_enclave(2));
    CHECK_FALSE(std::filesystem::exists(dir.record_path(2)));
    CHECK_FALSE(dir.stop_enclave(2));
    CHECK_FALSE(dir.stop_enclave(9));
}

TEST_CASE("a live daemon without a reservation is still listed, without a CID")
{
    TempRunDir tmp;
    RunDir dir = RunDir::open();
    base::UniqueFd listener(vsock_test::unix_listen(dir.socket_path(5)));
    std::thread busy_daemon([&] {
        base::UniqueFd client(::accept(listener.get(), nullptr, nullptr));
        std::string line = encode_line(error_reply("DAEMON_BUSY", 6, "busy"));
        [[maybe_unused]] ssize_t n = ::write(client.get(), line.data(), line.size());
    });
    std::vector<Json> all = dir.list_enclaves();
    busy_daemon.join();
    REQUIRE(all.size() == 1);
    CHECK(all[0]["EnclaveID"] == 5);
    CHECK(all[0]["State"] == "NOT-RESPONDING");
    CHECK_FALSE(all[0].contains("EnclaveCID"));
}

TEST_CASE("a socket nobody listens on is a dead daemon: socket and reservation removed, a record left")
{
    TempRunDir tmp;
    RunDir dir = RunDir::open();
    dir.write_reservation(3, kReservation);
    {
        base::UniqueFd bound(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un address = vsock_test::unix_address(dir.socket_path(3));
        REQUIRE(::bind(bound.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    } // closed without listening: connect() gets ECONNREFUSED
    std::vector<Json> all = dir.list_enclaves();
    REQUIRE(all.size() == 1);
    CHECK(all[0]["State"] == "TERMINATED");
    CHECK(all[0]["Reason"] == "daemon-killed");
    CHECK_FALSE(std::filesystem::exists(dir.socket_path(3)));
    CHECK_FALSE(std::filesystem::exists(dir.reservation_path(3)));
}
