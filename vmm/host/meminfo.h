// vmm/host/meminfo.h — the host's total memory (MemTotal of /proc/meminfo), which the parent's
// memory minimum is counted from (vmm/placement/placement.h).
//
// Usage:
//     std::uint64_t mib = vmm::host::read_mem_total_mib();          // or read_mem_total_mib(fake_proc)
//     vmm::host::parse_mem_total_mib("MemTotal: 24575488 kB\n...");  // 23999
#pragma once

#include <cstdint>
#include <string>

namespace vmm::host {

// MemTotal in whole MiB (rounded down) from the text of /proc/meminfo; throws
// base::Error(Io, "MEMINFO_BAD") when the line is missing or malformed.
std::uint64_t parse_mem_total_mib(const std::string& meminfo);

// Reads <proc_root>/meminfo; throws base::Error naming the path when it cannot be read.
std::uint64_t read_mem_total_mib(const std::string& proc_root = "/proc");

} // namespace vmm::host
