// vmm/testing/vsock_fuzz_input.h — what the vsock fuzzers (vsock_device_fuzz, vhost_user_fuzz) share:
// a reader that turns libFuzzer's bytes into little-endian integers and byte strings (zeroes
// once the input is used up), and where their synthetic driver puts each queue's rings.
//
// Usage:
//     vsock_fuzz::Input in { data, size };
//     while (!in.empty()) switch (in.u8() % 4) { ... in.u32() ... }
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vsock_fuzz {

struct Input {
    const std::uint8_t* data;
    std::size_t size;
    std::size_t pos = 0;
    bool empty() const { return pos >= size; }
    std::uint8_t u8() { return pos < size ? data[pos++] : 0; }
    std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
    std::uint32_t u32() { return u16() | (std::uint32_t(u16()) << 16); }
    std::uint64_t u64() { return u32() | (std::uint64_t(u32()) << 32); }
    std::vector<std::uint8_t> bytes(std::size_t n)
    {
        n = std::min(n, size - std::min(pos, size));
        std::vector<std::uint8_t> out(data + pos, data + pos + n);
        pos += n;
        return out;
    }
};

// Queue q's descriptor table, driver (avail) and device (used) rings in guest memory.
inline std::uint64_t desc_area(std::uint16_t q) { return 0x1000 + 0x2000ull * q; }
inline std::uint64_t avail_area(std::uint16_t q) { return desc_area(q) + 0x800; }
inline std::uint64_t used_area(std::uint16_t q) { return desc_area(q) + 0xc00; }

} // namespace vsock_fuzz
