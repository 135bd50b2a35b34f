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

TEST_CASE("cpu affinity: thread_affinities lists each thread by id with its name and CPUs")
{
    const std::vector<int> allowed = allowed_cpus();
    std::mutex lock;
    std::condition_variable changed;
    bool pinned = false, done = false;
    int tid = 0;
    std::thread worker([&] {
        pthread_setname_np(pthread_self(), "pin-probe");
        pin_current_thread({ allowed.front() }, "a test thread");
        std::unique_lock guard(lock);
        tid = static_cast<int>(::gettid());
        pinned = true;
        changed.notify_all();
        changed.wait(guard, [&] { return done; });
    });
    {
        std::unique_lock guard(lock);
        changed.wait(guard, [&] { return pinned; });
    }
    std::vector<ThreadAffinity> threads = thread_affinities();
    {
        std::lock_guard guard(lock);
        done = true;
        changed.notify_all();
    }
    worker.join();
    bool found = false;
    for (const ThreadAffinity& t : threads) {
        if (t.tid == tid) {
            found = true;
            CHECK(t.name == "pin-probe");
            CHECK(t.cpus == std::vector<int> { allowed.front() });
        }
    }
    CHECK(found);
    REQUIRE(!threads.empty());
    CHECK(threads.front().tid == ::getpid()); // the main thread first, with the caller's mask
    CHECK(threads.front().cpus == allowed);
}
