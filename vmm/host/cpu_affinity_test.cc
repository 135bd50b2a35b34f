// Pinning: applied to the calling thread only, and every failure an error naming the CPU.
#include "base/error.h"
#include "vmm/host/cpu_affinity.h"
#include "vmm/host/cpu_list.h"

#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <unistd.h>

using namespace vmm::host;

TEST_CASE("cpu affinity: a thread pins itself to one allowed CPU and reads it back")
{
    const std::vector<int> allowed = allowed_cpus();
    REQUIRE(!allowed.empty());
    std::vector<int> seen;
    std::thread([&] {
        pin_current_thread({ allowed.back() }, "a test thread");
        seen = allowed_cpus();
    }).join();
    CHECK(seen == std::vector<int> { allowed.back() });
    CHECK(allowed_cpus() == allowed); // the caller's own mask is untouched
}

TEST_CASE("cpu affinity: a CPU that does not exist is an error naming it, not ignored")
{
    std::string code, message;
    std::thread([&] {
        try {
            pin_current_thread({ kMaxCpu }, "vCPU 3");
        } catch (const base::Error& e) {
            code = e.code();
            message = e.what();
        }
    }).join();
    CHECK(code == "CPU_PINNING");
    CHECK(message.find("cannot pin vCPU 3 to host CPU 8191: ") == 0);
    CHECK(message.find("cpuset") != std::string::npos);
    CHECK(CpuMask({ kMaxCpu }).apply_to_current_thread() == EINVAL);
    CHECK(pinning_error("QEMU", { 0, 1, 2 }, EINVAL).find("cannot pin QEMU to host CPUs 0-2: Invalid argument") == 0);
}
