// The whole EnclaveDaemon::run() on a fake back end (vmm/testing/fake_enclave_vm.h), with a run
// directory in a temp dir: what it reports on the ready pipe, what it answers on its control
// socket, and what it leaves behind when the enclave ends.
#include "vmm/enclave/enclave_daemon.h"

#include "vmm/testing/fake_enclave_vm.h"
#include "vmm/testing/vsock_test_sockets.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <poll.h>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace vmm;

namespace {

std::string file_text(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// One daemon for enclave 4 in its own run directory, run() on a thread.
struct DaemonRun {
    std::string dir = vsock_test::temp_dir("enclave-daemon-test");
    RunDir run_dir;
    EnclaveSettings settings;
    std::atomic<FakeEnclaveVm*> vm { nullptr };
    EnclaveVmFactory factory = FakeEnclaveVm::factory(&vm);
    base::UniqueFd ready;
    std::unique_ptr<EnclaveDaemon> daemon;
    std::thread thread;
    int status { -1 };
    std::weak_ptr<int> image_in_use; // alive while anything still holds the boot image

    DaemonRun()
    {
        ::setenv("QT_VMM_RUN_DIR", dir.c_str(), 1);
        run_dir = RunDir::open();
        settings.id = 4;
        settings.cid = 20;
        settings.owner_uid = ::getuid();
        settings.machine.vcpus = 1;
        settings.machine.memory_bytes = 64ull << 20;
    }
    ~DaemonRun()
    {
        if (thread.joinable()) { // a check failed before the enclave ended
            if (FakeEnclaveVm* v = vm.load())
                v->end(ExitKind::Stopped, "test over");
            thread.join();
        }
        std::filesystem::remove_all(dir);
    }
    void start()
    {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        ready.reset(fds[0]);
        daemon = std::make_unique<EnclaveDaemon>(run_dir, settings, factory);
        thread = std::thread([this, write_end = fds[1]] {
            RunDir::Lock lock { base::UniqueFd() };
            BootImage image;
            image.kernel.assign(4096, 0x90);
            {
                auto token = std::make_shared<int>(0);
                image_in_use = token;
                image.load_initrd = [token](std::uint8_t*) {};
            }
            status = daemon->run(write_end, lock, std::move(image));
        });
    }
    // Waits for the back end to be built and returns it.
    FakeEnclaveVm& guest()
    {
        for (int i = 0; i < 500 && !vm.load(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        REQUIRE(vm.load() != nullptr);
        return *vm.load();
    }
    bool reported_yet()
    {
        pollfd p { ready.get(), POLLIN, 0 };
        return ::poll(&p, 1, 100) == 1;
    }
    // The ready pipe's whole content (the daemon closes it after its one line).
    std::string report()
    {
        std::string text;
        char buffer[4096];
        ssize_t n;
        while ((n = ::read(ready.get(), buffer, sizeof buffer)) > 0)
            text.append(buffer, static_cast<std::size_t>(n));
        return text;
    }
    static Json body(const std::string& line, const std::string& kind)
    {
        REQUIRE(line.starts_with(kind + " "));
        REQUIRE(line.ends_with("\n"));
        return Json::parse(line.substr(kind.size() + 1));
    }
    int finished()
    {
        thread.join();
        vm = nullptr; // the daemon destroyed it
        return status;
    }
    std::string socket() const { return run_dir.socket_path(4); }
    Json record() const { return Json::parse(file_text(run_dir.record_path(4))); }
};

} // namespace

TEST_CASE("no heartbeat to wait for: ready at once, answers describe, a stop ends it without a record")
{
    DaemonRun d;
    d.start();
    Json ready = DaemonRun::body(d.report(), "ok");
    CHECK(ready["EnclaveID"] == 4);
    CHECK(ready["EnclaveCID"] == 20);
    CHECK(ready["State"] == "RUNNING");
    CHECK(ready["Heartbeat"] == false);
    CHECK(ready["VsockSocket"] == d.dir + "/4.vsock");
    CHECK(d.guest().started());

    Json reply = control_request(d.socket(), { { "op", "describe" } });
    CHECK(reply["ok"] == true);
    CHECK(reply["enclave"]["EnclaveID"] == 4);

    CHECK(control_request(d.socket(), { { "op", "stop" } }) == Json { { "ok", true } });
    CHECK(d.finished() == 0);
    CHECK_FALSE(std::filesystem::exists(d.socket()));
    CHECK_FALSE(std::filesystem::exists(d.run_dir.record_path(4)));
}

TEST_CASE("the daemon lets the boot image go once the VM is built (it lives as long as the enclave)")
{
    // Before: run() took the image by reference and the launcher's copy (kernel bytes, the sealed
    // EIF behind load_initrd) stayed in the daemon's heap for the enclave's whole life.
    DaemonRun d;
    d.start();
    DaemonRun::body(d.report(), "ok");
    CHECK(d.guest().started());
    CHECK(d.image_in_use.expired());
    CHECK(control_request(d.socket(), { { "op", "stop" } }) == Json { { "ok", true } });
    CHECK(d.finished() == 0);
}

TEST_CASE("ready once the heartbeat came; an enclave that ends on its own leaves a TERMINATED record")
{
    DaemonRun d;
    d.settings.heartbeat_timeout_s = 30;
    d.start();
    FakeEnclaveVm& guest = d.guest();
    CHECK_FALSE(d.reported_yet());
    guest.heartbeat();
    Json ready = DaemonRun::body(d.report(), "ok");
    CHECK(ready["Heartbeat"] == true);
    CHECK(ready["LaunchMonotonicNs"]["Heartbeat"] != 0);

    guest.app_status(guest_init::status_exited(3));
    Json described = control_request(d.socket(), { { "op", "describe" } })["enclave"];
    CHECK(described["AppStatus"]["ExitCode"] == 3);

    guest.end(ExitKind::GuestReset, "the guest reset");
    CHECK(d.finished() == 0);
    Json record = d.record();
    CHECK(record["State"] == "TERMINATED");
    CHECK(record["Reason"] == "guest-reset");
    CHECK(record["Detail"] == "the guest reset");
    CHECK(record["AppStatus"]["ExitCode"] == 3);
    CHECK(record.contains("EndTime"));
    CHECK_FALSE(std::filesystem::exists(d.socket()));
}

TEST_CASE("no heartbeat in time: the enclave is stopped and the start reports NO_HEARTBEAT")
{
    DaemonRun d;
    d.settings.heartbeat_timeout_s = 0.2;
    d.start();
    Json error = DaemonRun::body(d.report(), "error");
    CHECK(error["code"] == "NO_HEARTBEAT");
    CHECK(d.finished() == 0);
    Json record = d.record();
    CHECK(record["Reason"] == "no-heartbeat");
    CHECK(record["Detail"] == "no boot heartbeat within 0.2 s");
}

TEST_CASE("a debug-mode guest that ends before its heartbeat: ENDED_BEFORE_HEARTBEAT, its console kept")
{
    DaemonRun d;
    d.settings.heartbeat_timeout_s = 30;
    d.settings.debug_mode = true;
    d.start();
    FakeEnclaveVm& guest = d.guest();
    guest.print("init: /cmd missing\n");
    base::UniqueFd viewer = control_open(d.socket(), { { "op", "console" } });
    guest.end(ExitKind::TripleFault, "vCPU 0");
    Json error = DaemonRun::body(d.report(), "error");
    CHECK(error["code"] == "ENDED_BEFORE_HEARTBEAT");
    CHECK(error["message"]
        == "enclave 4 ended before its boot heartbeat (triple-fault: vCPU 0); its console: qt-vmm enclave console --enclave-id 4");
    CHECK(d.finished() == 0);
    CHECK(d.record()["Reason"] == "triple-fault");
    CHECK(file_text(d.run_dir.console_path(4)) == "init: /cmd missing\n");
    std::string seen;
    char buffer[256];
    ssize_t n;
    while ((n = ::read(viewer.get(), buffer, sizeof buffer)) > 0)
        seen.append(buffer, static_cast<std::size_t>(n));
    CHECK(seen == "init: /cmd missing\n");
}

TEST_CASE("a back end that cannot be built: the start reports its error and nothing is left behind")
{
    DaemonRun d;
    SUBCASE("a qt-vmm error")
    {
        d.factory = [](const EnclaveSettings&, const BootImage&, VsockConfig, EnclaveVm::OnExit) -> std::unique_ptr<EnclaveVm> {
            throw base::Error(base::ErrorKind::Vm, "KVM_UNAVAILABLE", "no /dev/kvm");
        };
        d.start();
        CHECK(d.report() == "error {\"code\":\"KVM_UNAVAILABLE\",\"kind\":7,\"message\":\"no /dev/kvm\"}\n");
    }
    SUBCASE("anything else")
    {
        d.factory = [](const EnclaveSettings&, const BootImage&, VsockConfig, EnclaveVm::OnExit) -> std::unique_ptr<EnclaveVm> {
            throw std::runtime_error("out of luck");
        };
        d.start();
        CHECK(d.report() == "error {\"code\":\"INTERNAL\",\"kind\":70,\"message\":\"out of luck\"}\n");
    }
    CHECK(d.finished() == 1);
    CHECK_FALSE(std::filesystem::exists(d.socket()));
}

TEST_CASE("the control socket removed: the daemon stops the orphan within 2 s and records why")
{
    DaemonRun d;
    d.start();
    DaemonRun::body(d.report(), "ok");
    ::unlink(d.socket().c_str());
    CHECK(d.finished() == 0);
    Json record = d.record();
    CHECK(record["Reason"] == "stopped");
    CHECK(record["Detail"] == "its control socket " + d.socket() + " was removed, so nobody could stop it any more");
}
