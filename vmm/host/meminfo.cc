#include "vmm/host/meminfo.h"

#include "base/error.h"
#include "vmm/host/sysfs.h"

#include <sstream>

namespace vmm::host {

std::uint64_t parse_mem_total_mib(const std::string& meminfo)
{
    std::istringstream lines(meminfo);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind("MemTotal:", 0) != 0)
            continue;
        std::istringstream fields(line.substr(9));
        std::uint64_t value = 0;
        std::string unit;
        if (fields >> value >> unit && unit == "kB")
            return value / 1024;
        break;
    }
    throw base::Error(base::ErrorKind::Io, "MEMINFO_BAD", "/proc/meminfo has no readable \"MemTotal: N kB\" line");
}

std::uint64_t read_mem_total_mib(const std::string& proc_root)
{
    return parse_mem_total_mib(read_sysfs_text(proc_root + "/meminfo"));
}

} // namespace vmm::host
