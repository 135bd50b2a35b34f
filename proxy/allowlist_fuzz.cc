// libFuzzer target for the egress proxy's allowlist (untrusted YAML from the user's --config):
// any input either parses into entries with a port 1..65535 and a non-empty address, or is one
// base::Error; nothing else may escape and nothing may crash.
#include "base/error.h"
#include "proxy/allowlist.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string text(reinterpret_cast<const char*>(data), size);
    try {
        proxy::Allowlist list = proxy::Allowlist::parse(text, "fuzz.yaml");
        for (const proxy::AllowEntry& e : list.entries()) {
            if (e.port == 0 || e.address.empty())
                std::abort();
            if (!list.allows_name(e.address, e.port))
                std::abort();
        }
    } catch (const base::Error& e) {
        if (e.code() != "PROXY_ALLOWLIST" || std::string(e.what()).find('\n') != std::string::npos)
            std::abort();
    }
    return 0;
}
