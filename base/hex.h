// base/hex.h — lower-case hex encoding and decoding of byte strings (PCRs, digests).
//
// Usage:
//     std::string h = base::to_hex(digest.data(), digest.size());   // "6be47f83..."
//     std::optional<std::vector<uint8_t>> raw = base::from_hex(h); // nullopt on bad input
//     std::string a = base::hex_u64(0xd0000000);                  // "0xd0000000" (addresses, features)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace base {

std::string to_hex(const void* data, std::size_t size);
inline std::string to_hex(const std::vector<std::uint8_t>& bytes) { return to_hex(bytes.data(), bytes.size()); }
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);
// A number as C's "0x%llx" writes it: "0x" then lower-case digits without leading zeroes.
std::string hex_u64(std::uint64_t value);

} // namespace base
