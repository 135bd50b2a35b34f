// Where the daemon's own threads go: the parent's CPUs (online ∩ allowed minus every enclave's),
// then the documented fallbacks on hosts with none to spare.
#include "vmm/host/cpu_list.h"
#include "vmm/host/cpu_topology.h"
#include "vmm/placement/daemon_cpus.h"
#include "vmm/testing/fake_sysfs.h"

#include <doctest/doctest.h>

using namespace vmm::placement;
using vmm::host::FakeSysfs;
using vmm::host::parse_cpu_list;

namespace {

RunningEnclave enclave_on(const char* cpus)
{
    RunningEnclave e;
    e.cpus = parse_cpu_list(cpus);
    return e;
}

} // namespace

TEST_CASE("daemon CPUs: the online, allowed CPUs no enclave uses")
{
    const auto online = parse_cpu_list("0-7");
    DaemonCpus d = daemon_cpus(online, online, parse_cpu_list("2-3"), { enclave_on("4-5") });
    CHECK(d.cpus == parse_cpu_list("0-1,6-7"));
    CHECK(d.isolation == "parent-cpus");
    // A narrower cpuset/affinity and offline CPUs are left out.
    d = daemon_cpus(parse_cpu_list("0-5"), parse_cpu_list("1-3,6-7"), parse_cpu_list("2-3"), {});
    CHECK(d.cpus == parse_cpu_list("1"));
    // tcg: no CPUs of its own, still none of a KVM enclave's.
    d = daemon_cpus(online, online, {}, { enclave_on("2-3"), enclave_on("4-7") });
    CHECK(d.cpus == parse_cpu_list("0-1"));
    CHECK(d.isolation == "parent-cpus");
}

TEST_CASE("daemon CPUs on this host's shape (fake sysfs, 2 CPUs) with --allow-shared-cpus")
{
    FakeSysfs sys;
    sys.make_two_cpu_host();
    const auto online = vmm::host::CpuTopology::read(sys.root()).online_cpus();
    // One vCPU on CPU 1: the daemon keeps CPU 0.
    DaemonCpus d = daemon_cpus(online, online, { 1 }, {});
    CHECK(d.cpus == std::vector<int> { 0 });
    CHECK(d.isolation == "parent-cpus");
    // A second enclave on CPU 0 while the first holds CPU 1: share the other enclave's CPU.
    d = daemon_cpus(online, online, { 0 }, { enclave_on("1") });
    CHECK(d.cpus == std::vector<int> { 1 });
    CHECK(d.isolation == "shares-enclave-cpus");
    // Two vCPUs on both CPUs: nothing else exists, so everything (its own vCPUs' CPUs too).
    d = daemon_cpus(online, online, { 0, 1 }, {});
    CHECK(d.cpus == parse_cpu_list("0-1"));
    CHECK(d.isolation == "shares-own-cpus");
}

TEST_CASE("daemon CPUs: an affinity outside the online list (fake sysfs root) is trusted")
{
    DaemonCpus d = daemon_cpus(parse_cpu_list("8-9"), parse_cpu_list("0-1"), { 1 }, {});
    CHECK(d.cpus == std::vector<int> { 0 });
    d = daemon_cpus(parse_cpu_list("0-1"), {}, {}, {});
    CHECK(d.cpus.empty());
}
