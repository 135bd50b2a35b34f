// daemon_memory: which mappings the daemon may drop (never a written page), and that dropping
// them empties their RSS while what they read stays the file's bytes.
#include "vmm/enclave/daemon_memory.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace {

// One smaps entry: header fields and the few lines the parser reads.
std::string entry(const char* range, const char* perms, const char* inode, const char* path, int anonymous_kb,
    int page_kb = 4, const char* flags = "rd mr mw me")
{
    std::string text = std::string(range) + " " + perms + " 00000000 08:01 " + inode;
    if (*path)
        text += std::string("                    ") + path;
    text += "\nSize:                 16 kB\nKernelPageSize:     " + std::to_string(page_kb)
        + " kB\nRss:                  16 kB\nAnonymous:            " + std::to_string(anonymous_kb)
        + " kB\nLocked:                0 kB\nVmFlags: " + flags + "\n";
    return text;
}

// Rss (kB) of this process's mapping that starts at `address`; -1 if there is none.
long rss_kib_of(const void* address)
{
    char start[32];
    std::snprintf(start, sizeof start, "%lx-", reinterpret_cast<unsigned long>(address));
    FILE* f = std::fopen("/proc/self/smaps", "r");
    REQUIRE(f != nullptr);
    char line[512];
    bool in = false;
    long rss = -1;
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, start, std::strlen(start)) == 0)
            in = true;
        else if (in && std::sscanf(line, "Rss: %ld kB", &rss) == 1)
            break;
    }
    std::fclose(f);
    return rss;
}

} // namespace

TEST_CASE("read_only_file_mappings: read-only private file mappings without written pages, nothing else")
{
    std::string smaps = entry("1000-5000", "r--p", "11", "/usr/bin/qt-vmm", 0)
        + entry("5000-9000", "r-xp", "11", "/usr/bin/qt-vmm", 0)
        + entry("9000-a000", "r--p", "11", "/usr/bin/qt-vmm", 4)            // RELRO: written, then read-only
        + entry("a000-b000", "rw-p", "11", "/usr/bin/qt-vmm", 0)            // .data
        + entry("b000-c000", "rw-p", "0", "[heap]", 4)
        + entry("c000-d000", "r--s", "12", "/etc/some.db", 0)               // shared
        + entry("d000-e000", "r-xp", "0", "[vdso]", 0)
        + entry("e000-f000", "r--p", "0", "", 0)                            // anonymous
        + entry("f000-10000", "r--p", "13", "/memfd:eif (deleted)", 0)
        + entry("10000-11000", "r--p", "14", "/dev/mem", 0)
        + entry("11000-12000", "r--p", "15", "/lib/x86_64-linux-gnu/libc.so.6", 0, 4, "rd mr mw me io pf")
        + entry("12000-13000", "r--p", "15", "/lib/x86_64-linux-gnu/libc.so.6", 0, 4, "rd mr lo")
        + entry("200000-400000", "r--p", "16", "/dev/hugepages/x", 0, 2048, "rd mr ht")
        + entry("13000-14000", "r-xp", "15", "/lib/x86_64-linux-gnu/libc.so.6", 0);
    std::vector<vmm::MemoryRange> got = vmm::read_only_file_mappings(smaps);
    std::vector<vmm::MemoryRange> want { { 0x1000, 0x5000 }, { 0x5000, 0x9000 }, { 0x13000, 0x14000 } };
    CHECK(got == want);
}

TEST_CASE("read_only_file_mappings: an entry cut short (no Anonymous or VmFlags line) or garbage is kept")
{
    CHECK(vmm::read_only_file_mappings("1000-5000 r-xp 00000000 08:01 11 /usr/bin/x\nRss: 16 kB\n").empty());
    CHECK(vmm::read_only_file_mappings("not smaps\n\n::\n5000-1000 r-xp 0 08:01 11 /x\nAnonymous: 0 kB\n").empty());
    CHECK(vmm::read_only_file_mappings("").empty());
}

TEST_CASE("drop_file_pages empties a read-only file mapping's RSS, keeps its bytes and written pages")
{
    char path[] = "/tmp/daemon_memory_test.XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::unlink(path);
    const std::size_t size = 4 * 4096;
    std::string bytes(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        bytes[i] = static_cast<char>('a' + i % 26);
    REQUIRE(::write(fd, bytes.data(), size) == static_cast<ssize_t>(size));

    // Code-like: read-only, private, only read. RELRO-like: private, written, then read-only.
    auto* code = static_cast<char*>(::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0));
    auto* relro = static_cast<char*>(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
    REQUIRE(code != MAP_FAILED);
    REQUIRE(relro != MAP_FAILED);
    std::memset(relro, 'Z', size);
    REQUIRE(::mprotect(relro, size, PROT_READ) == 0);
    CHECK(std::memcmp(code, bytes.data(), size) == 0); // faults the pages in
    REQUIRE(rss_kib_of(code) == 16);

    base::UniqueFd smaps = vmm::open_own_smaps();
    REQUIRE(smaps.valid());
    std::vector<vmm::MemoryRange> ranges = vmm::read_only_file_mappings(smaps.get());
    auto listed = [&](const void* p) {
        auto a = reinterpret_cast<std::uintptr_t>(p);
        return std::find(ranges.begin(), ranges.end(), vmm::MemoryRange { a, a + size }) != ranges.end();
    };
    CHECK(listed(code));
    CHECK_FALSE(listed(relro));
    CHECK(vmm::drop_file_pages(ranges) == ranges.size());
    CHECK(rss_kib_of(code) == 0);
    CHECK(rss_kib_of(relro) == 16);
    CHECK(std::string(relro, size) == std::string(size, 'Z')); // a written page is never dropped
    CHECK(std::memcmp(code, bytes.data(), size) == 0);         // read back from the file
    CHECK(vmm::read_only_file_mappings(-1).empty());

    // Dropped again after use (the daemon does so after each burst of requests).
    CHECK(std::memcmp(code, bytes.data(), size) == 0);
    CHECK(rss_kib_of(code) == 16);
    CHECK(vmm::drop_file_pages(ranges) == ranges.size());
    CHECK(rss_kib_of(code) == 0);

    ::munmap(code, size);
    ::munmap(relro, size);
    ::close(fd);
}
