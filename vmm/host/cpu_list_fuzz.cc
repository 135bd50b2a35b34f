// libFuzzer target: parse_cpu_list never crashes on any text, and whatever it accepts
// round-trips through format_cpu_list unchanged.
#include "base/error.h"
#include "vmm/host/cpu_list.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<int> cpus;
    try {
        cpus = vmm::host::parse_cpu_list(text);
    } catch (const base::Error&) {
        return 0;
    }
    if (vmm::host::parse_cpu_list(vmm::host::format_cpu_list(cpus)) != cpus)
        std::abort();
    return 0;
}
