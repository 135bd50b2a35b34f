#include "vmm/host/zeroed_pool.h"

#include "base/error.h"
#include "vmm/host/hugepage_pool.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mempolicy.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <ctime>
#include <unistd.h>

namespace vmm::host {

namespace {

std::vector<std::string> list(const std::string& directory)
{
    std::vector<std::string> names;
    DIR* d = ::opendir(directory.c_str());
    if (!d)
        return names;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name.rfind("chunk-", 0) == 0)
            names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

// The file at directory/name, opened and exclusively flock-ed without waiting, and checked to be
// still that file once locked (a claimer or scrubber may have renamed it meanwhile). Invalid if
// someone holds it or it moved.
base::UniqueFd lock_at(const std::string& directory, const std::string& name)
{
    std::string path = directory + "/" + name;
    base::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid() || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
        return {};
    struct stat held {}, now {};
    if (::fstat(fd.get(), &held) != 0 || ::lstat(path.c_str(), &now) != 0 || held.st_ino != now.st_ino || held.st_dev != now.st_dev
        || !S_ISREG(held.st_mode))
        return {};
    return fd;
}

// Zeroes a whole chunk through a shared mapping (the pages stay where they are: same node).
bool zero_chunk(int fd, std::uint64_t bytes)
{
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return false;
    std::memset(p, 0, bytes);
    ::munmap(p, bytes);
    return true;
}

// Zeroes the chunk held by `fd` at used/<name> and renames it to ready/; deletes it if it cannot
// be mapped (never leaves it claimable unscrubbed).
bool scrub_one(const std::string& directory, const std::string& name, int fd, std::uint64_t bytes)
{
    std::string used = directory + "/used/" + name;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) != bytes || !zero_chunk(fd, bytes)) {
        ::unlink(used.c_str());
        return false;
    }
    return ::rename(used.c_str(), (directory + "/ready/" + name).c_str()) == 0;
}

void bind_to_node(int node)
{
    if (node < 0) {
        ::syscall(SYS_set_mempolicy, MPOL_DEFAULT, nullptr, 0);
        return;
    }
    unsigned long mask[16] = {};
    if (node >= static_cast<int>(sizeof mask * 8))
        throw base::Error(base::ErrorKind::InvalidInput, "POOL_NUMA_NODE", "NUMA node " + std::to_string(node) + " is out of range");
    mask[node / 64] |= 1ul << (node % 64);
    if (::syscall(SYS_set_mempolicy, MPOL_BIND, mask, sizeof mask * 8 + 1) != 0)
        base::throw_errno("POOL_MEMPOLICY", "cannot bind to NUMA node " + std::to_string(node), "the pre-zeroed pool");
}

std::string unique_name()
{
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    char name[64];
    std::snprintf(name, sizeof name, "chunk-%lld%09ld-%d", static_cast<long long>(ts.tv_sec), ts.tv_nsec, static_cast<int>(::getpid()));
    return name;
}

// The pool root and its page-size mount are ours alone, and the mount is hugetlbfs of that size.
bool usable_pool(const std::string& root, std::uint64_t page_size)
{
    for (const std::string& path : { root, zeroed_pool_mount(root, page_size) }) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0)
            return false;
    }
    return is_hugetlbfs_of(zeroed_pool_mount(root, page_size), page_size);
}

} // namespace

ChunkClaim claim_zeroed_memory(const std::string& root, std::uint64_t page_size, int node, std::uint64_t bytes)
{
    if (!usable_pool(root, page_size))
        return {};
    return ZeroedPool(zeroed_pool_directory(root, page_size, node), zeroed_chunk_bytes(page_size)).claim(bytes);
}

HugepagePools with_zeroed_as_free(const HugepagePools& pools, const std::string& root, std::uint64_t bytes)
{
    std::vector<HugepagePool> counted = pools.pools();
    for (HugepagePool& pool : counted) {
        if (!usable_pool(root, pool.page_size))
            continue;
        const std::uint64_t chunk = zeroed_chunk_bytes(pool.page_size);
        const std::uint64_t ready = ZeroedPool(zeroed_pool_directory(root, pool.page_size, pool.node), chunk).counts().ready;
        if (ready * chunk >= bytes)
            pool.free += ready * (chunk / pool.page_size);
    }
    return HugepagePools::from_pools(std::move(counted));
}

std::uint64_t zeroed_chunk_bytes(std::uint64_t page_size) { return page_size >= kPageSize1G ? kPageSize1G : 128 * kMiB; }

std::string zeroed_pool_root()
{
    const char* env = std::getenv("QT_VMM_POOL_DIR");
    return env && *env ? env : "/run/qt-vmm-hugepages";
}

std::string zeroed_pool_mount(const std::string& root, std::uint64_t page_size) { return root + "/" + hugepage_size_name(page_size); }

std::string zeroed_pool_directory(const std::string& root, std::uint64_t page_size, int node)
{
    return zeroed_pool_mount(root, page_size) + "/node" + std::to_string(node);
}

bool is_hugetlbfs_of(const std::string& path, std::uint64_t page_size)
{
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && static_cast<unsigned long>(fs.f_type) == HUGETLBFS_MAGIC
        && static_cast<std::uint64_t>(fs.f_bsize) == page_size;
}

std::vector<int> ChunkClaim::fds() const
{
    std::vector<int> out;
    for (const auto& fd : m_fds)
        out.push_back(fd.get());
    return out;
}

std::size_t ChunkClaim::scrub_and_return()
{
    std::size_t returned = 0;
    for (std::size_t i = 0; i < m_fds.size(); ++i) {
        returned += scrub_one(m_directory, m_names[i], m_fds[i].get(), m_chunk_bytes) ? 1 : 0;
        // Unlocked as soon as it is back in ready/ (renamed under the lock): held until the last
        // chunk was scrubbed, it was "ready" but unclaimable meanwhile, and a start then fell
        // back to fresh pages the pool holds.
        m_fds[i].reset();
    }
    m_fds.clear();
    m_names.clear();
    return returned;
}

void ChunkClaim::give_back_unused()
{
    for (std::size_t i = 0; i < m_fds.size(); ++i)
        ::rename((m_directory + "/used/" + m_names[i]).c_str(), (m_directory + "/ready/" + m_names[i]).c_str());
    m_fds.clear();
    m_names.clear();
}

ZeroedPool::ZeroedPool(std::string directory, std::uint64_t chunk_bytes)
    : m_directory(std::move(directory))
    , m_chunk_bytes(chunk_bytes)
{
}

bool ZeroedPool::exists() const
{
    struct stat st {};
    return ::stat((m_directory + "/ready").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

ChunkClaim ZeroedPool::claim(std::uint64_t bytes) const
{
    ChunkClaim claim;
    claim.m_directory = m_directory;
    claim.m_chunk_bytes = m_chunk_bytes;
    const std::uint64_t wanted = (bytes + m_chunk_bytes - 1) / m_chunk_bytes;
    if (wanted == 0)
        return claim;
    const std::string ready = m_directory + "/ready";
    for (const std::string& name : list(ready)) {
        base::UniqueFd fd = lock_at(ready, name);
        struct stat st {};
        if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) != m_chunk_bytes)
            continue;
        if (::rename((ready + "/" + name).c_str(), (m_directory + "/used/" + name).c_str()) != 0)
            continue;
        claim.m_names.push_back(name);
        claim.m_fds.push_back(std::move(fd));
        if (claim.m_fds.size() == wanted)
            return claim;
    }
    claim.give_back_unused(); // too few: all or nothing
    return claim;
}

std::size_t ZeroedPool::add(std::size_t count, int node) const
{
    for (const char* sub : { "", "/ready", "/used" })
        if (::mkdir((m_directory + sub).c_str(), 0700) != 0 && errno != EEXIST)
            base::throw_errno("POOL_DIR", "cannot create", m_directory + sub);
    std::size_t added = 0;
    bind_to_node(node);
    try {
        for (; added < count; ++added) {
            // Born in used/ and locked: a crash before the rename leaves a dirty chunk, not a
            // half-faulted ready one.
            std::string name = unique_name();
            std::string used = m_directory + "/used/" + name;
            base::UniqueFd fd(::open(used.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
            if (!fd.valid())
                base::throw_errno("POOL_CHUNK", "cannot create", used);
            ::flock(fd.get(), LOCK_EX);
            if (::ftruncate(fd.get(), static_cast<off_t>(m_chunk_bytes)) != 0 || ::fallocate(fd.get(), 0, 0, static_cast<off_t>(m_chunk_bytes)) != 0) {
                ::unlink(used.c_str());
                break; // the kernel has no more pages for it
            }
            if (::rename(used.c_str(), (m_directory + "/ready/" + name).c_str()) != 0) {
                ::unlink(used.c_str());
                base::throw_errno("POOL_CHUNK", "cannot make ready", used);
            }
        }
    } catch (...) {
        bind_to_node(-1);
        throw;
    }
    bind_to_node(-1);
    return added;
}

std::size_t ZeroedPool::remove_ready(std::size_t count) const
{
    std::size_t removed = 0;
    const std::string ready = m_directory + "/ready";
    for (const std::string& name : list(ready)) {
        if (removed == count)
            break;
        base::UniqueFd fd = lock_at(ready, name); // not one a claimer is taking right now
        if (fd.valid() && ::unlink((ready + "/" + name).c_str()) == 0)
            ++removed;
    }
    return removed;
}

std::size_t ZeroedPool::scrub_leftovers() const
{
    std::size_t scrubbed = 0;
    const std::string used = m_directory + "/used";
    for (const std::string& name : list(used)) {
        base::UniqueFd fd = lock_at(used, name);
        if (fd.valid() && scrub_one(m_directory, name, fd.get(), m_chunk_bytes))
            ++scrubbed;
    }
    return scrubbed;
}

ZeroedPoolCounts ZeroedPool::counts() const
{
    ZeroedPoolCounts counts;
    counts.ready = list(m_directory + "/ready").size();
    const std::string used = m_directory + "/used";
    for (const std::string& name : list(used)) {
        base::UniqueFd fd(::open((used + "/" + name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (!fd.valid())
            continue;
        // A lock someone holds is an owner; ours is dropped at once (closing the file).
        if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0)
            ++counts.dirty;
        else
            ++counts.in_use;
    }
    return counts;
}

} // namespace vmm::host
