// libFuzzer target for the NSM device model (nsm_module.h): everything a guest can put on the
// NSM queue. The input is a sequence of requests, each a 2-byte big-endian length then that
// many bytes (the last one takes whatever is left), served in order by one fresh NsmModule, so
// sequences (extend, lock, extend again, attest) are explored too. Each response must be one
// well-formed CBOR item of 1..kMaxResponseSize bytes, and PCR0..15 must keep their boot values
// and stay locked. The fake signer also fails and returns oversized documents, on demand of the
// input (user_data starting with 'T' throws, 'B' is one byte too large), to reach those paths.
// Seeds: tests/fuzz-seeds/nsm_module_fuzz/ (`make fuzz`).
#include "eif-format/cbor_util.h"
#include "vmm/nsm/nsm_module.h"
#include "vmm/nsm/nsm_protocol.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

vmm::nsm::NsmModuleConfig fuzz_config()
{
    vmm::nsm::NsmModuleConfig c;
    c.module_id = "qt-fuzz-enc0";
    for (unsigned i = 0; i < vmm::nsm::kPcrsLockedAtBoot; ++i)
        c.boot_pcrs[i].fill(static_cast<std::uint8_t>(i + 1));
    c.now_ms = [] { return std::uint64_t { 1 }; };
    c.pace_sleep = [](std::uint64_t) {}; // the pace is not what is fuzzed: no real sleeps
    c.sign = [](const vmm::nsm::DocumentFields& f) {
        if (f.user_data && !f.user_data->empty() && (*f.user_data)[0] == 'T')
            throw std::runtime_error("fuzz: signer fails");
        if (f.user_data && !f.user_data->empty() && (*f.user_data)[0] == 'B')
            return std::string(vmm::nsm::max_document_size() + 1, 'B');
        std::string doc = f.module_id;
        for (const auto& [index, value] : f.pcrs)
            doc.append(reinterpret_cast<const char*>(value.data()), value.size());
        for (const auto* field : { &f.user_data, &f.nonce, &f.public_key })
            if (*field)
                doc += **field;
        return doc;
    };
    return c;
}

void check_response(const std::string& response)
{
    if (response.empty() || response.size() > vmm::nsm::kMaxResponseSize)
        std::abort();
    if (eif::cbor_check_shape(response, 3))
        std::abort();
    try {
        eif::cbor_parse(response, "NSM response");
    } catch (...) {
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    vmm::nsm::NsmModuleConfig config = fuzz_config();
    std::array<vmm::nsm::Digest, vmm::nsm::kPcrsLockedAtBoot> boot = config.boot_pcrs;
    vmm::nsm::NsmModule nsm(std::move(config));
    std::string_view input(reinterpret_cast<const char*>(data), size);
    while (!input.empty()) {
        std::size_t length = input.size();
        if (input.size() >= 2) {
            length = (static_cast<std::size_t>(static_cast<std::uint8_t>(input[0])) << 8) | static_cast<std::uint8_t>(input[1]);
            input.remove_prefix(2);
            length = std::min(length, input.size());
        }
        check_response(nsm.handle(input.substr(0, length)));
        input.remove_prefix(length);
    }
    for (const vmm::nsm::PcrState& pcr : nsm.pcrs())
        if (pcr.index < vmm::nsm::kPcrsLockedAtBoot && (!pcr.locked || pcr.value != boot[pcr.index]))
            std::abort();
    return 0;
}
