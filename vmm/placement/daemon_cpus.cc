#include "vmm/placement/daemon_cpus.h"

#include <set>

namespace vmm::placement {

namespace {

std::vector<int> without(const std::vector<int>& cpus, const std::set<int>& taken)
{
    std::vector<int> left;
    for (int cpu : cpus)
        if (!taken.count(cpu))
            left.push_back(cpu);
    return left;
}

} // namespace

DaemonCpus daemon_cpus(const std::vector<int>& online, const std::vector<int>& allowed, const std::vector<int>& own,
    const std::vector<RunningEnclave>& running)
{
    const std::set<int> online_set(online.begin(), online.end());
    const std::set<int> allowed_set(allowed.begin(), allowed.end());
    std::vector<int> usable;
    for (int cpu : allowed_set)
        if (online_set.count(cpu))
            usable.push_back(cpu);
    if (usable.empty()) // online and affinity disagree (a fake sysfs root): trust the affinity
        usable.assign(allowed_set.begin(), allowed_set.end());

    std::set<int> mine(own.begin(), own.end());
    std::set<int> every_enclave = mine;
    for (const RunningEnclave& e : running)
        every_enclave.insert(e.cpus.begin(), e.cpus.end());

    if (std::vector<int> parent = without(usable, every_enclave); !parent.empty())
        return { parent, "parent-cpus" };
    if (std::vector<int> others = without(usable, mine); !others.empty())
        return { others, "shares-enclave-cpus" };
    return { usable, "shares-own-cpus" };
}

} // namespace vmm::placement
