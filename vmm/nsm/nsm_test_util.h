// vmm/nsm/nsm_test_util.h — test-only helpers for the NSM unit tests: hex literals (the wire
// contract is written in hex in the tests) to bytes and back, and PCR digests from hex.
#pragma once

#include "base/hex.h"
#include "vmm/nsm/nsm_types.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>

namespace nsm_test {

inline std::string unhex(std::string_view hex)
{
    auto raw = base::from_hex(hex);
    if (!raw)
        throw std::invalid_argument("bad hex in a test: " + std::string(hex));
    return std::string(raw->begin(), raw->end());
}

inline std::string hex(std::string_view bytes)
{
    return base::to_hex(bytes.data(), bytes.size());
}

inline vmm::nsm::Digest digest(std::string_view hex_text)
{
    std::string raw = unhex(hex_text);
    vmm::nsm::Digest d {};
    if (raw.size() != d.size())
        throw std::invalid_argument("a digest is 48 bytes: " + std::string(hex_text));
    std::copy(raw.begin(), raw.end(), d.begin());
    return d;
}

// 0, 1, 2, ... 47: a recognisable PCR value.
inline vmm::nsm::Digest counting_digest()
{
    vmm::nsm::Digest d {};
    for (std::size_t i = 0; i < d.size(); ++i)
        d[i] = static_cast<std::uint8_t>(i);
    return d;
}

} // namespace nsm_test
