// vmm/host/cpu_list.h — the kernel's CPU-list notation ("0-3,8,10-11"), as found in
// /sys/devices/system/cpu/online, nodeN/cpulist and thread_siblings_list.
//
// Usage:
//     std::vector<int> cpus = vmm::host::parse_cpu_list("0-3,8\n");   // {0,1,2,3,8}
//     std::string text = vmm::host::format_cpu_list({ 1, 2, 3, 7 });     // "1-3,7"
//
// parse_cpu_list accepts what the kernel prints (ranges, single CPUs, an empty list, a trailing
// newline) and returns the CPUs sorted without duplicates; anything else throws
// base::Error(InvalidInput, "CPU_LIST_INVALID").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vmm::host {

// Highest CPU number accepted (the kernel's NR_CPUS limit is 8192).
constexpr int kMaxCpu = 8191;

std::vector<int> parse_cpu_list(std::string_view text);
std::string format_cpu_list(std::vector<int> cpus);

} // namespace vmm::host
