// The vhost-user memory table over real memfds: translation by guest-physical and by frontend
// user address (inside, across regions, out of range, overflow), and every table it must refuse
// (overlaps in either space, empty or wrapping regions, ranges past the end of the file, fds
// that are not memory files or not sealed against shrinking, wrong counts) without touching the
// table in place.
#include "vmm/vhost_user/memory_table.h"

#include <cstring>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace vmm::vhost_user;

namespace {

constexpr std::uint64_t kUser = 0x7f00'0000'0000ull;

// A memfd as QEMU's memory-backend-memfd makes it: sealed against shrinking and growing.
base::UniqueFd memfd(std::uint64_t size, bool sealed = true)
{
    base::UniqueFd fd(::memfd_create("table-test", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    REQUIRE(fd.valid());
    REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
    if (sealed)
        REQUIRE(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0);
    return fd;
}

std::vector<base::UniqueFd> dup_n(const base::UniqueFd& fd, std::size_t n)
{
    std::vector<base::UniqueFd> out;
    for (std::size_t i = 0; i < n; ++i)
        out.emplace_back(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
    return out;
}

// QEMU microvm's layout of 4 MiB: [0, 0xf0000) and [1 MiB, 4 MiB), one memfd, offsets = gpa.
std::vector<MemoryRegion> microvm_layout()
{
    return { { 0, 0xf0000, kUser, 0 }, { 0x100000, 0x300000, kUser + 0x100000, 0x100000 } };
}

} // namespace

TEST_CASE("vhost-user memory: a QEMU-like table translates guest-physical and user addresses")
{
    base::UniqueFd fd = memfd(4 << 20);
    // Recognisable bytes at gpa 0x1000 and 0x200000 (file offsets equal gpa here).
    REQUIRE(::pwrite(fd.get(), "low", 3, 0x1000) == 3);
    REQUIRE(::pwrite(fd.get(), "high", 4, 0x200000) == 4);
    MemoryTable t;
    REQUIRE(t.set(microvm_layout(), dup_n(fd, 2)) == "");
    CHECK(t.region_count() == 2);
    CHECK(t.total_size() == 0xf0000 + 0x300000);
    REQUIRE(t.translate(0x1000, 3));
    CHECK(std::memcmp(t.translate(0x1000, 3), "low", 3) == 0);
    REQUIRE(t.translate(0x200000, 4));
    CHECK(std::memcmp(t.translate(0x200000, 4), "high", 4) == 0);
    // Writes are shared with the file (the frontend sees them).
    std::memcpy(t.translate(0x300000, 2), "ok", 2);
    char back[2];
    REQUIRE(::pread(fd.get(), back, 2, 0x300000) == 2);
    CHECK(std::memcmp(back, "ok", 2) == 0);

    CHECK(t.translate(0, 0xf0000));
    CHECK_FALSE(t.translate(0, 0xf0001));             // runs into the hole
    CHECK_FALSE(t.translate(0xf0000, 1));             // the hole
    CHECK_FALSE(t.translate(0xeffff, 0x20000));       // across the hole
    CHECK(t.translate(0x3fffff, 1));
    CHECK_FALSE(t.translate(0x3fffff, 2));            // past the end of RAM
    CHECK_FALSE(t.translate(0x400000, 1));
    CHECK_FALSE(t.translate(0xffff'ffff'ffff'f000ull, 0x2000)); // wraps
    CHECK_FALSE(t.translate(0x100000, 0xffff'ffff'ffff'ffffull));

    CHECK(t.user_to_guest(kUser + 0x1000, 16) == 0x1000u);
    CHECK(t.user_to_guest(kUser + 0x180000, 0x1000) == 0x180000u);
    CHECK_FALSE(t.user_to_guest(kUser + 0xf0000, 16));           // the hole
    CHECK_FALSE(t.user_to_guest(kUser + 0xeff00, 0x200));        // across it
    CHECK_FALSE(t.user_to_guest(kUser - 16, 32));                // before the table
    CHECK_FALSE(t.user_to_guest(kUser + 0x3ffff0, 32));          // past its end
    CHECK_FALSE(t.user_to_guest(0x1000, 16));                    // a guest-physical address is not a user one
    CHECK_FALSE(t.user_to_guest(~0ull - 8, 16));
    t.clear();
    CHECK(t.empty());
    CHECK_FALSE(t.translate(0x1000, 1));
}

TEST_CASE("vhost-user memory: an mmap_offset inside a page and regions in two files")
{
    base::UniqueFd a = memfd(1 << 20), b = memfd(1 << 20);
    REQUIRE(::pwrite(a.get(), "A", 1, 0x1800) == 1);
    REQUIRE(::pwrite(b.get(), "B", 1, 0x10) == 1);
    std::vector<base::UniqueFd> fds;
    fds.push_back(std::move(a));
    fds.push_back(std::move(b));
    MemoryTable t;
    REQUIRE(t.set({ { 0x10000, 0x1000, kUser, 0x1800 }, { 0x20000, 0x1000, kUser + 0x10000, 0 } }, fds) == "");
    CHECK(*t.translate(0x10000, 1) == 'A');
    CHECK(*t.translate(0x20010, 1) == 'B');
}

TEST_CASE("vhost-user memory: tables that must be refused leave the current one in place")
{
    base::UniqueFd fd = memfd(4 << 20);
    MemoryTable t;
    REQUIRE(t.set(microvm_layout(), dup_n(fd, 2)) == "");
    auto refused = [&](const std::vector<MemoryRegion>& regions, const char* why) {
        CAPTURE(why);
        std::string problem = t.set(regions, dup_n(fd, regions.size()));
        CHECK(problem.find(why) != std::string::npos);
        CHECK(t.region_count() == 2); // unchanged
        CHECK(t.translate(0x200000, 1));
    };
    refused({ { 0, 0x200000, kUser, 0 }, { 0x100000, 0x100000, kUser + 0x800000, 0x100000 } }, "guest-physical");
    refused({ { 0, 0x100000, kUser, 0 }, { 0x200000, 0x100000, kUser + 0x80000, 0x100000 } }, "frontend's address space");
    refused({ { 0, 0x100000, kUser, 0 }, { 0, 0x100000, kUser + 0x100000, 0 } }, "guest-physical"); // identical gpa
    refused({ { 0, 0, kUser, 0 } }, "empty");
    refused({ { 0xffff'ffff'ffff'f000ull, 0x2000, kUser, 0 } }, "wraps");
    refused({ { 0, 0x2000, 0xffff'ffff'ffff'f000ull, 0 } }, "wraps");
    refused({ { 0, 0x2000, kUser, 0xffff'ffff'ffff'f000ull } }, "wraps");
    refused({ { 0, 0x401000, kUser, 0 } }, "past the end");                // bigger than the file
    refused({ { 0, 0x1000, kUser, 0x400000 } }, "past the end");           // offset at its end
    refused({ { 0, 0x200000, kUser, 0x300000 } }, "past the end");         // tail outside
    refused({}, "0 regions");
    std::vector<MemoryRegion> nine;
    for (std::uint64_t i = 0; i < 9; ++i)
        nine.push_back({ i << 20, 0x1000, kUser + (i << 20), 0 });
    refused(nine, "9 regions");

    // Counts and fd kinds.
    CHECK(t.set(microvm_layout(), dup_n(fd, 1)).find("file descriptors") != std::string::npos);
    std::vector<base::UniqueFd> not_memory;
    not_memory.emplace_back(::eventfd(0, EFD_CLOEXEC));
    CHECK(t.set({ { 0, 0x1000, kUser, 0 } }, not_memory).find("not a memory file") != std::string::npos);
    std::vector<base::UniqueFd> closed(1);
    CHECK(t.set({ { 0, 0x1000, kUser, 0 } }, closed).find("cannot stat") != std::string::npos);
    CHECK(t.region_count() == 2);

    // A good table replaces it.
    REQUIRE(t.set({ { 0x1000'0000, 0x1000, kUser, 0 } }, dup_n(fd, 1)) == "");
    CHECK(t.region_count() == 1);
    CHECK_FALSE(t.translate(0x200000, 1));
    CHECK(t.translate(0x1000'0000, 0x1000));
}

TEST_CASE("vhost-user memory: a file that could shrink under us (no F_SEAL_SHRINK) is refused")
{
    MemoryTable t;
    // A memfd without seals: the frontend could truncate it after SET_MEM_TABLE and every access
    // past the new end would be SIGBUS in the backend.
    base::UniqueFd open_file = memfd(1 << 20, /*sealed=*/false);
    std::string problem = t.set({ { 0, 1 << 20, kUser, 0 } }, dup_n(open_file, 1));
    CHECK(problem.find("not sealed against shrinking (F_SEAL_SHRINK)") != std::string::npos);
    CHECK(problem.find("memory-backend-memfd") != std::string::npos);
    CHECK(t.empty());
    // Only growing sealed is not enough either.
    base::UniqueFd grow_only = memfd(1 << 20, /*sealed=*/false);
    REQUIRE(::fcntl(grow_only.get(), F_ADD_SEALS, F_SEAL_GROW) == 0);
    CHECK(t.set({ { 0, 1 << 20, kUser, 0 } }, dup_n(grow_only, 1)).find("F_SEAL_SHRINK") != std::string::npos);
    // Sealed as QEMU seals it: mapped, and the frontend can no longer shrink it.
    base::UniqueFd sealed = memfd(1 << 20);
    REQUIRE(t.set({ { 0, 1 << 20, kUser, 0 } }, dup_n(sealed, 1)) == "");
    CHECK(::ftruncate(sealed.get(), 0x1000) != 0);
    CHECK(t.translate(0xff000, 0x1000));
}
