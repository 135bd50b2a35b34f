// GuestMemory with ordinary 4 KiB pages (what tests may use; enclaves get hugetlb): the regions
// around the 32-bit MMIO hole, bounds-checked translation, reads and writes, and refused sizes.
#include "vmm/memory/guest_memory.h"

#include "base/error.h"
#include "base/file.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

using namespace vmm;

namespace {

GuestMemory small_ram(std::uint64_t size)
{
    return GuestMemory::create({ .size = size, .page_size = 4096, .numa_node = -1, .lock = false });
}

std::string error_code_of(const GuestMemory::Options& options)
{
    try {
        GuestMemory::create(options);
    } catch (const base::Error& e) {
        return e.code();
    }
    return "";
}

} // namespace

TEST_CASE("RAM below the MMIO hole is one region starting at 0")
{
    GuestMemory ram = small_ram(16 << 20);
    CHECK(ram.size() == 16 << 20);
    CHECK(ram.page_size() == 4096);
    REQUIRE(ram.regions().size() == 1);
    CHECK(ram.regions()[0].guest_address == 0);
    CHECK(ram.regions()[0].size == 16 << 20);
    CHECK(ram.low_ram_end() == 16 << 20);
}

TEST_CASE("RAM larger than the hole's start continues at 4 GiB")
{
    std::uint64_t size = GuestMemory::kMmioHoleStart + (8 << 20);
    GuestMemory ram = small_ram(size);
    REQUIRE(ram.regions().size() == 2);
    CHECK(ram.regions()[0].size == GuestMemory::kMmioHoleStart);
    CHECK(ram.regions()[1].guest_address == GuestMemory::kFourGiB);
    CHECK(ram.regions()[1].size == 8 << 20);
    CHECK(ram.translate(GuestMemory::kMmioHoleStart, 1) == nullptr);        // the hole
    CHECK(ram.translate(GuestMemory::kFourGiB, 4096) != nullptr);
    CHECK(ram.translate(GuestMemory::kMmioHoleStart - 1, 2) == nullptr);    // spans RAM and hole
}

TEST_CASE("with a guest base, RAM is one region from there, whatever its size (arm64)")
{
    std::uint64_t size = GuestMemory::kMmioHoleStart + (8 << 20);
    GuestMemory ram = GuestMemory::create({ .size = size, .page_size = 4096, .lock = false, .guest_base = 0x8000'0000 });
    REQUIRE(ram.regions().size() == 1);
    CHECK(ram.regions()[0].guest_address == 0x8000'0000);
    CHECK(ram.regions()[0].size == size);
    CHECK(ram.translate(0x8000'0000 - 1, 1) == nullptr);
    CHECK(ram.translate(0x8000'0000, 4096) == ram.host_base());
    CHECK(ram.translate(0x8000'0000 + size - 1, 1) == ram.host_base() + size - 1);
    CHECK(ram.translate(0x8000'0000 + size, 1) == nullptr);
}

TEST_CASE("translate: every byte must be RAM, without overflow; length 0 is allowed")
{
    GuestMemory ram = small_ram(1 << 20);
    CHECK(ram.translate(0, 1 << 20) == ram.host_base());
    CHECK(ram.translate(0x1000, 0) != nullptr);
    CHECK(ram.translate((1 << 20) - 1, 1) != nullptr);
    CHECK(ram.translate((1 << 20) - 1, 2) == nullptr);
    CHECK(ram.translate(1 << 20, 1) == nullptr);
    CHECK(ram.translate(~0ull, 2) == nullptr);
    CHECK(ram.translate(0x10, ~0ull) == nullptr);
}

TEST_CASE("write and read copy through the translation and refuse ranges outside RAM")
{
    GuestMemory ram = small_ram(1 << 20);
    const char text[] = "boot params";
    ram.write(0x7000, text, sizeof text);
    char back[sizeof text] {};
    ram.read(0x7000, back, sizeof back);
    CHECK(std::memcmp(text, back, sizeof text) == 0);
    CHECK(ram.read_object<std::uint8_t>(0x7000) == 'b');
    CHECK_THROWS_AS(ram.write((1 << 20) - 4, text, sizeof text), base::Error);
    CHECK_THROWS_AS(ram.read(1 << 20, back, 1), base::Error);
}

TEST_CASE("page sizes other than 4K, 2M and 1G and sizes that are not whole pages are refused")
{
    CHECK(error_code_of({ .size = 1 << 20, .page_size = 8192, .numa_node = -1, .lock = false }) == "MEM_PAGE_SIZE");
    CHECK(error_code_of({ .size = 0, .page_size = 4096, .numa_node = -1, .lock = false }) == "MEM_SIZE");
    CHECK(error_code_of({ .size = 4097, .page_size = 4096, .numa_node = -1, .lock = false }) == "MEM_SIZE");
}

TEST_CASE("a moved-from GuestMemory gives its mapping to the new owner")
{
    GuestMemory a = small_ram(1 << 20);
    std::uint8_t* base = a.host_base();
    GuestMemory b = std::move(a);
    CHECK(b.host_base() == base);
    CHECK(b.translate(0, 1) == base);
}

TEST_CASE("pool chunks are mapped side by side, the last one only as far as the size needs")
{
    constexpr std::uint64_t chunk = 64 * 1024;
    std::vector<base::UniqueFd> files;
    std::vector<int> fds;
    for (int i = 0; i < 3; ++i) {
        files.emplace_back(::memfd_create("chunk", MFD_CLOEXEC));
        REQUIRE(files.back().valid());
        REQUIRE(::ftruncate(files.back().get(), chunk) == 0);
        fds.push_back(files.back().get());
    }
    GuestMemory::Options options { .size = 2 * chunk + 4096, .page_size = 4096, .numa_node = -1, .lock = false };
    GuestMemory::Chunks chunks { fds, chunk };
    GuestMemory ram = GuestMemory::create(options, chunks);
    CHECK(ram.size() == 2 * chunk + 4096);
    REQUIRE(ram.regions().size() == 1);
    const char marks[] = { 'a', 'b', 'c' };
    for (int i = 0; i < 3; ++i)
        ram.write(i * chunk + 7, &marks[i], 1);
    for (int i = 0; i < 3; ++i) {
        char got = 0;
        REQUIRE(::pread(fds[i], &got, 1, 7) == 1);
        CHECK(got == marks[i]); // chunk i backs guest bytes [i * chunk, (i + 1) * chunk)
    }
    CHECK(ram.translate(2 * chunk + 4096, 1) == nullptr);

    chunks.fds.pop_back(); // two chunks cannot make the size
    try {
        GuestMemory::create(options, chunks);
        FAIL("two chunks made three chunks' worth");
    } catch (const base::Error& e) {
        CHECK(e.code() == "MEM_CHUNKS");
    }
}
