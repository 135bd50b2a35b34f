#include "base/error.h"
#include "vmm/arch/x86/boot_setup.h"
#include "vmm/arch/x86/bzimage.h"
#include "vmm/arch/x86/layout.h"
#include "vmm/arch/x86/mptable.h"
#include "vmm/testing/fake_bzimage.h"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

using namespace vmm;
using namespace vmm::x86;
using vmm::testing::fake_bzimage;

namespace {

std::uint8_t sum(const std::uint8_t* p, std::size_t n)
{
    std::uint8_t s = 0;
    for (std::size_t i = 0; i < n; ++i)
        s = static_cast<std::uint8_t>(s + p[i]);
    return s;
}

} // namespace

TEST_CASE("bzImage: accepts a 64-bit image and rejects what the 64-bit protocol cannot boot")
{
    auto good = fake_bzimage();
    BzImage image = BzImage::parse(good);
    CHECK(image.protocol_version() == 0x020f);
    CHECK(image.protected_mode_size() == 8192);
    CHECK(image.cmdline_max() == 2047);

    auto old = fake_bzimage(0x020b);
    CHECK_THROWS_AS(BzImage::parse(old), base::Error);
    auto not64 = fake_bzimage(0x020f, 0);
    CHECK_THROWS_AS(BzImage::parse(not64), base::Error);
    auto bad = good;
    bad[0x1fe] = 0;
    CHECK_THROWS_AS(BzImage::parse(bad), base::Error);
    std::vector<std::uint8_t> tiny(100, 0);
    CHECK_THROWS_AS(BzImage::parse(tiny), base::Error);
}

TEST_CASE("boot layout: zero page, e820, command line, page tables; initrd high in low RAM")
{
    auto file = fake_bzimage();
    BzImage image = BzImage::parse(file);
    GuestMemory ram = GuestMemory::create({ 64ull << 20, 4096, -1, false });
    BootLayout layout = plan_boot(image, ram, 100000, "console=ttyS0");
    CHECK(layout.entry_point == kKernelLoadAddress + 0x200);
    CHECK(layout.initrd_address % 4096 == 0);
    CHECK(layout.initrd_address + 100000 <= ram.low_ram_end());
    CHECK(layout.initrd_address >= layout.kernel_end);
    write_boot_structures(ram, image, layout, "console=ttyS0", 2);

    const std::uint8_t* zp = ram.translate(kZeroPageAddress, 4096);
    REQUIRE(zp);
    CHECK(zp[0x210] == 0xff); // type_of_loader
    std::uint32_t v32;
    std::memcpy(&v32, zp + 0x228, 4);
    CHECK(v32 == kCmdlineAddress);
    CHECK(std::strcmp(reinterpret_cast<const char*>(ram.translate(kCmdlineAddress, 14)), "console=ttyS0") == 0);
    std::memcpy(&v32, zp + 0x218, 4);
    CHECK(v32 == layout.initrd_address);
    std::memcpy(&v32, zp + 0x21c, 4);
    CHECK(v32 == 100000);
    CHECK(zp[0x1e8] == 3);
    std::uint64_t addr, size;
    std::memcpy(&addr, zp + 0x2d0 + 2 * 20, 8);
    std::memcpy(&size, zp + 0x2d0 + 2 * 20 + 8, 8);
    CHECK(addr == 0x100000);
    CHECK(size == (64ull << 20) - 0x100000);
    // Page tables identity-map the first 4 GiB with 2 MiB pages.
    std::uint64_t pde;
    ram.read(kPageDirectoryAddress + 8 * 5, &pde, 8);
    CHECK(pde == ((5ull << 21) | 0x83));
    ram.read(kPageDirectoryAddress + 3 * 4096 + 8 * 511, &pde, 8);
    CHECK(pde == ((2047ull << 21) | 0x83));
    // The kernel code is at 1 MiB.
    CHECK(*ram.translate(kKernelLoadAddress, 1) == 0x90);
}

TEST_CASE("boot layout: too little memory and too long a command line are clear errors")
{
    auto file = fake_bzimage(0x020f, 1, 0x3000000);
    BzImage image = BzImage::parse(file);
    GuestMemory ram = GuestMemory::create({ 32ull << 20, 4096, -1, false });
    try {
        plan_boot(image, ram, 40ull << 20, "");
        FAIL("expected MEM_TOO_SMALL");
    } catch (const base::Error& e) {
        CHECK(e.code() == "MEM_TOO_SMALL");
    }
    CHECK_THROWS_AS(plan_boot(image, ram, 0, std::string(3000, 'x')), base::Error);
}

TEST_CASE("e820 covers RAM above 4 GiB when memory is larger than the 3 GiB below the hole")
{
    auto file = fake_bzimage();
    BzImage image = BzImage::parse(file);
    GuestMemory ram = GuestMemory::create({ 4ull << 30, 4096, -1, false });
    REQUIRE(ram.regions().size() == 2);
    CHECK(ram.regions()[1].guest_address == 4ull << 30);
    CHECK(ram.regions()[1].size == 1ull << 30);
    CHECK(ram.translate(0xC000'0000ull, 1) == nullptr); // the MMIO hole is not RAM
    CHECK(ram.translate((5ull << 30) - 8, 8) != nullptr);
    CHECK(ram.translate((5ull << 30) - 8, 9) == nullptr);
    CHECK(ram.translate(~0ull - 4, 16) == nullptr); // overflow-safe
    BootLayout layout = plan_boot(image, ram, 4096, "");
    write_boot_structures(ram, image, layout, "", 1);
    const std::uint8_t* zp = ram.translate(kZeroPageAddress, 4096);
    CHECK(zp[0x1e8] == 4);
    std::uint64_t addr, size;
    std::memcpy(&addr, zp + 0x2d0 + 3 * 20, 8);
    std::memcpy(&size, zp + 0x2d0 + 3 * 20 + 8, 8);
    CHECK(addr == 4ull << 30);
    CHECK(size == 1ull << 30);
}

TEST_CASE("MP table: valid checksums, one processor entry per vCPU, ISA interrupts routed")
{
    std::vector<std::uint8_t> t = build_mp_table(kMpTableAddress, 3);
    REQUIRE(t.size() > 16 + 44);
    CHECK(std::memcmp(t.data(), "_MP_", 4) == 0);
    CHECK(sum(t.data(), 16) == 0);
    std::uint32_t table_address;
    std::memcpy(&table_address, &t[4], 4);
    CHECK(table_address == kMpTableAddress + 16);
    const std::uint8_t* table = t.data() + 16;
    CHECK(std::memcmp(table, "PCMP", 4) == 0);
    std::uint16_t length, entries;
    std::memcpy(&length, table + 4, 2);
    std::memcpy(&entries, table + 34, 2);
    CHECK(length == t.size() - 16);
    CHECK(sum(table, length) == 0);
    CHECK(entries == 3 + 1 + 1 + 24 + 2);
    int processors = 0, bsp = 0;
    for (std::size_t off = 44; off < length;) {
        std::uint8_t type = table[off];
        if (type == 0) {
            ++processors;
            bsp += (table[off + 3] & 2) ? 1 : 0;
        }
        off += type == 0 ? 20 : 8;
    }
    CHECK(processors == 3);
    CHECK(bsp == 1);
    CHECK_THROWS_AS(build_mp_table(kMpTableAddress, 0), base::Error);
}
