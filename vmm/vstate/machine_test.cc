// vstate without a guest: the exit latch (first reason wins, wait wakes on it, from any thread),
// what Machine::create refuses before it reserves anything, and (with /dev/kvm) that start()
// refuses a vCPU it cannot pin instead of running it anywhere.
#include "vmm/vstate/machine.h"

#include "base/error.h"
#include "vmm/host/cpu_affinity.h"
#include "vmm/host/cpu_list.h"
#include "vmm/testing/fake_bzimage.h"

#include <doctest/doctest.h>

#include <thread>
#include <unistd.h>

using namespace vmm;

namespace {

std::string create_error(const MachineConfig& config, const BootImage& image)
{
    try {
        Machine::create(config, image);
    } catch (const base::Error& e) {
        return e.code();
    }
    return "";
}

} // namespace

TEST_CASE("ExitLatch: running until the first reason, which later ones never replace")
{
    ExitLatch latch;
    CHECK_FALSE(latch.ended());
    CHECK(latch.current().kind == ExitKind::Running);
    CHECK(latch.record(ExitKind::GuestReset, "reset"));
    CHECK_FALSE(latch.record(ExitKind::Stopped, "too late"));
    CHECK(latch.ended());
    CHECK(latch.current().kind == ExitKind::GuestReset);
    CHECK(latch.current().detail == "reset");
    CHECK(latch.wait().kind == ExitKind::GuestReset);
}

TEST_CASE("ExitLatch: wait() wakes when another thread records")
{
    ExitLatch latch;
    std::thread stopper([&] { latch.record(ExitKind::TripleFault, "vCPU 0"); });
    ExitInfo why = latch.wait();
    stopper.join();
    CHECK(why.kind == ExitKind::TripleFault);
    CHECK(std::string(exit_kind_name(why.kind)) == "triple-fault");
}

TEST_CASE("exit_kind_name gives the Reason strings of the enclave records")
{
    CHECK(std::string(exit_kind_name(ExitKind::Running)) == "running");
    CHECK(std::string(exit_kind_name(ExitKind::GuestReset)) == "guest-reset");
    CHECK(std::string(exit_kind_name(ExitKind::SystemEvent)) == "system-event");
    CHECK(std::string(exit_kind_name(ExitKind::VcpuError)) == "vcpu-error");
    CHECK(std::string(exit_kind_name(ExitKind::DeviceError)) == "device-error");
    CHECK(std::string(exit_kind_name(ExitKind::EmulatorError)) == "emulator-error");
    CHECK(std::string(exit_kind_name(ExitKind::Stopped)) == "stopped");
}

TEST_CASE("Machine::create refuses bad vCPU counts, pinning and kernels before reserving memory")
{
    BootImage image;
    image.kernel = std::vector<std::uint8_t>(4096, 0);
    MachineConfig config;
    config.memory_bytes = 16 << 20;
    config.page_size = 4096;
    config.vcpus = 0;
    CHECK(create_error(config, image) == "VCPU_COUNT");
    config.vcpus = 255;
    CHECK(create_error(config, image) == "VCPU_COUNT");
    config.vcpus = 2;
    config.host_cpus = { 1 };
    CHECK(create_error(config, image) == "VCPU_PINNING");
    config.host_cpus.clear();
    CHECK(create_error(config, image) == "KERNEL_BAD_BZIMAGE");
}

TEST_CASE("with /dev/kvm: a vCPU that cannot be pinned fails start() naming the vCPU and the CPU")
{
    if (::access("/dev/kvm", R_OK | W_OK) != 0) {
        MESSAGE("skipped: no /dev/kvm");
        return;
    }
    BootImage image;
    image.kernel = vmm::testing::fake_bzimage();
    MachineConfig config;
    config.memory_bytes = 16 << 20;
    config.page_size = 4096;
    config.vcpus = 2;
    config.host_cpus = { vmm::host::allowed_cpus().front(), vmm::host::kMaxCpu }; // CPU 8191: not on this host
    auto machine = Machine::create(config, image);
    std::string code, message;
    try {
        machine->start();
    } catch (const base::Error& e) {
        code = e.code();
        message = e.what();
    }
    CHECK(code == "CPU_PINNING");
    CHECK(message.find("cannot pin vCPU 1 to host CPU 8191") == 0);
}
