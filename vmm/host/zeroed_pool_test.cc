// The pre-zeroed pool's state machine on an ordinary temporary directory (the same file
// operations as on hugetlbfs, with 64 KiB chunks).
#include "vmm/host/zeroed_pool.h"
#include "vmm/host/hugepage_pool.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <set>
#include <sys/file.h>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

using namespace vmm::host;

namespace {

constexpr std::uint64_t kChunk = 64 * 1024;

struct TempPool {
    std::string dir;
    TempPool()
    {
        char tmpl[] = "/tmp/zeroed-pool-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
    }
    ~TempPool() { std::filesystem::remove_all(dir); }
    ZeroedPool pool() const { return ZeroedPool(dir + "/node0", kChunk); }
};

// Writes `byte` over a whole chunk, as an enclave's guest would.
void fill(int fd, unsigned char byte)
{
    void* p = ::mmap(nullptr, kChunk, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    std::memset(p, byte, kChunk);
    ::munmap(p, kChunk);
}

bool all_zero(int fd)
{
    void* p = ::mmap(nullptr, kChunk, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    const unsigned char* b = static_cast<const unsigned char*>(p);
    bool zero = std::all_of(b, b + kChunk, [](unsigned char c) { return c == 0; });
    ::munmap(p, kChunk);
    return zero;
}

} // namespace

TEST_CASE("zeroed pool: chunk size per page size, and paths")
{
    CHECK(zeroed_chunk_bytes(kPageSize2M) == 128 * kMiB);
    CHECK(zeroed_chunk_bytes(kPageSize1G) == kPageSize1G);
    CHECK(zeroed_pool_directory("/r", kPageSize1G, 1) == "/r/1G/node1");
    CHECK_FALSE(is_hugetlbfs_of("/tmp", kPageSize2M));
}

TEST_CASE("zeroed pool: claim is all or nothing and takes only ready chunks")
{
    TempPool t;
    ZeroedPool pool = t.pool();
    CHECK_FALSE(pool.exists());
    CHECK(pool.claim(kChunk).empty()); // no pool: nothing, no error
    REQUIRE(pool.add(3, -1) == 3);
    CHECK(pool.exists());
    CHECK(pool.counts().ready == 3);

    ChunkClaim two = pool.claim(kChunk + 1); // rounds up to 2 chunks
    REQUIRE(two.fds().size() == 2);
    CHECK(two.names()[0] != two.names()[1]);
    CHECK(all_zero(two.fds()[0]));
    ZeroedPoolCounts c = pool.counts();
    CHECK(c.ready == 1);
    CHECK(c.in_use == 2);
    CHECK(c.dirty == 0);

    ChunkClaim too_many = pool.claim(2 * kChunk); // only 1 ready
    CHECK(too_many.empty());
    CHECK(pool.counts().ready == 1); // the one it tried was put back
}

TEST_CASE("zeroed pool: a released chunk is dirty until scrubbed, and comes back zeroed")
{
    TempPool t;
    ZeroedPool pool = t.pool();
    REQUIRE(pool.add(1, -1) == 1);
    std::string name;
    {
        ChunkClaim claim = pool.claim(kChunk);
        REQUIRE_FALSE(claim.empty());
        name = claim.names()[0];
        fill(claim.fds()[0], 0xA5);
        // The owner ends without scrubbing (a killed daemon and monitor): the lock goes with it.
    }
    ZeroedPoolCounts c = pool.counts();
    CHECK(c.dirty == 1);
    CHECK(c.ready == 0);
    CHECK(pool.claim(kChunk).empty()); // dirty is never claimable

    CHECK(pool.scrub_leftovers() == 1);
    ChunkClaim again = pool.claim(kChunk);
    REQUIRE_FALSE(again.empty());
    CHECK(again.names()[0] == name);
    CHECK(all_zero(again.fds()[0]));

    fill(again.fds()[0], 0x5A);
    CHECK(again.scrub_and_return() == 1); // the monitor's way
    CHECK(again.empty());
    ChunkClaim third = pool.claim(kChunk);
    REQUIRE_FALSE(third.empty());
    CHECK(third.names()[0] == name);
    CHECK(all_zero(third.fds()[0]));
}

TEST_CASE("zeroed pool: a chunk scrubbed back to ready/ is claimable while the monitor scrubs the next")
{
    // The bug: scrub_and_return kept every chunk locked until the last was scrubbed, so a start
    // in that window found ready chunks it could not lock, claimed none, and fell back to fresh
    // pages the pool held (HUGEPAGES_SHORT). Chunks of 32 MiB on /dev/shm: scrubbing one takes
    // milliseconds, the window the claimer thread watches for.
    constexpr std::uint64_t kBig = 32ull << 20;
    char tmpl[] = "/dev/shm/zeroed-pool-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl;
    ZeroedPool pool(dir + "/node0", kBig);
    REQUIRE(pool.add(2, -1) == 2);
    bool observed = false;
    for (int attempt = 0; attempt < 20 && !observed; ++attempt) {
        ChunkClaim claim = pool.claim(2 * kBig);
        REQUIRE(claim.names().size() == 2);
        std::atomic<bool> done { false };
        bool claimed_in_window = false, in_window = false;
        std::thread claimer([&] {
            while (!done) {
                if (pool.counts().ready == 1 && !done) {
                    in_window = true;
                    ChunkClaim mine = pool.claim(kBig);
                    claimed_in_window = !mine.empty();
                    if (claimed_in_window)
                        mine.give_back_unused();
                    return;
                }
            }
        });
        claim.scrub_and_return();
        done = true;
        claimer.join();
        if (in_window) {
            observed = true;
            CHECK(claimed_in_window);
        }
        REQUIRE(pool.counts().ready == 2);
    }
    std::filesystem::remove_all(dir);
    REQUIRE(observed); // the claimer saw one chunk back while the other was being scrubbed
}

TEST_CASE("zeroed pool: a chunk in use is left alone by the scrubber and counted as in use")
{
    TempPool t;
    ZeroedPool pool = t.pool();
    REQUIRE(pool.add(1, -1) == 1);
    ChunkClaim claim = pool.claim(kChunk);
    REQUIRE_FALSE(claim.empty());
    fill(claim.fds()[0], 0x11);
    CHECK(pool.scrub_leftovers() == 0);
    CHECK(pool.counts().in_use == 1);
    // The enclave still sees its own data.
    void* p = ::mmap(nullptr, kChunk, PROT_READ, MAP_SHARED, claim.fds()[0], 0);
    REQUIRE(p != MAP_FAILED);
    CHECK(static_cast<unsigned char*>(p)[kChunk - 1] == 0x11);
    ::munmap(p, kChunk);
}

TEST_CASE("zeroed pool: crash leftovers are dirty, and odd files are never claimed")
{
    TempPool t;
    ZeroedPool pool = t.pool();
    REQUIRE(pool.add(1, -1) == 1);
    // A chunk a crashed allocator left half made (born in used/, its lock gone with the process).
    std::string leftover = pool.directory() + "/used/chunk-crashed";
    {
        base::UniqueFd fd(::open(leftover.c_str(), O_RDWR | O_CREAT, 0600));
        REQUIRE(fd.valid());
        REQUIRE(::ftruncate(fd.get(), kChunk) == 0);
        fill(fd.get(), 0xEE);
    }
    // A file of the wrong size in ready/ (not a chunk of this pool).
    {
        base::UniqueFd fd(::open((pool.directory() + "/ready/chunk-small").c_str(), O_RDWR | O_CREAT, 0600));
        REQUIRE(fd.valid());
        REQUIRE(::ftruncate(fd.get(), 4096) == 0);
    }
    CHECK(pool.counts().dirty == 1);
    ChunkClaim one = pool.claim(kChunk);
    REQUIRE_FALSE(one.empty());
    CHECK(one.names()[0] != "chunk-crashed");
    CHECK(one.names()[0] != "chunk-small");
    CHECK(pool.claim(kChunk).empty());
    CHECK(pool.scrub_leftovers() == 1);
    ChunkClaim scrubbed = pool.claim(kChunk);
    REQUIRE_FALSE(scrubbed.empty());
    CHECK(scrubbed.names()[0] == "chunk-crashed");
    CHECK(all_zero(scrubbed.fds()[0]));
}

TEST_CASE("zeroed pool: concurrent claims never share a chunk")
{
    TempPool t;
    ZeroedPool pool = t.pool();
    REQUIRE(pool.add(5, -1) == 5);
    std::mutex lock;
    std::vector<ChunkClaim> claims;
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&] {
            ChunkClaim c = pool.claim(kChunk);
            std::lock_guard guard(lock);
            claims.push_back(std::move(c));
        });
    for (auto& th : threads)
        th.join();
    std::set<std::string> names;
    std::size_t got = 0;
    for (const ChunkClaim& c : claims)
        for (const std::string& n : c.names()) {
            ++got;
            names.insert(n);
        }
    CHECK(names.size() == got); // no chunk twice
    CHECK(got <= 5);
    CHECK(pool.counts().ready == 5 - got);
    CHECK(pool.counts().in_use == got);
}

TEST_CASE("zeroed pool: remove_ready deletes ready chunks only")
{
    TempPool t;
    ZeroedPool pool = t.pool();
    REQUIRE(pool.add(3, -1) == 3);
    ChunkClaim held = pool.claim(kChunk);
    REQUIRE_FALSE(held.empty());
    CHECK(pool.remove_ready(5) == 2);
    ZeroedPoolCounts c = pool.counts();
    CHECK(c.ready == 0);
    CHECK(c.in_use == 1);
}
