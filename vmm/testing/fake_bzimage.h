// vmm/testing/fake_bzimage.h — a minimal, valid 64-bit bzImage for tests that need a kernel
// KVM can be set up with but that never has to boot anything (setup header + NOPs).
//
// Usage:
//     BootImage image { vmm::testing::fake_bzimage() };
//     auto old = vmm::testing::fake_bzimage(0x020b);   // a boot protocol too old for 64-bit
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

namespace vmm::testing {

// A minimal, valid bzImage: setup header + a few KiB of "protected-mode code".
inline std::vector<std::uint8_t> fake_bzimage(std::uint16_t version = 0x020f, std::uint16_t xloadflags = 1, std::uint32_t init_size = 0x200000)
{
    std::vector<std::uint8_t> f(5 * 512 + 8192, 0x90);
    f[0x1f1] = 4; // setup_sects
    auto put16 = [&](std::size_t o, std::uint16_t v) { std::memcpy(&f[o], &v, 2); };
    auto put32 = [&](std::size_t o, std::uint32_t v) { std::memcpy(&f[o], &v, 4); };
    put16(0x1fe, 0xaa55);
    f[0x200] = 0xeb;
    f[0x201] = 0x6a; // header ends at 0x26c
    put32(0x202, 0x53726448);
    put16(0x206, version);
    f[0x211] = 0x01; // LOADED_HIGH
    put32(0x22c, 0x7fffffff);
    put16(0x236, xloadflags);
    put32(0x238, 2047);
    put32(0x260, init_size);
    return f;
}

} // namespace vmm::testing
