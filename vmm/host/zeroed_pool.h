// vmm/host/zeroed_pool.h — the pre-zeroed hugepage pool: hugetlbfs files ("chunks") whose pages
// were faulted in (zeroed by the kernel) ahead of time by `qt-vmm allocator --prezero`, so that
// `enclave start` maps memory that is already zeroed instead of paying for it in its `Load` step.
//
// One pool per page size and NUMA node, a root-only directory on a hugetlbfs mount of that page
// size (<root>/<2M|1G>/node<N>, root = /run/qt-vmm-hugepages or QT_VMM_POOL_DIR) with two
// subdirectories; a chunk's state is where its file is and whether someone holds its flock:
//     ready/<name>            zeroed, nobody's: the only place claim() takes chunks from
//     used/<name>, locked     claimed by an enclave (its monitor and daemon hold the open file)
//     used/<name>, unlocked   dirty: its owner is gone (scrub pending, or the owner crashed)
// claim() locks a ready chunk, checks it is still the file at ready/<name> and renames it to
// used/ while holding the lock, so no two claimers ever get one chunk. Only scrubbing (zeroing
// through a mapping, under the lock) moves a chunk back to ready/. A crash at any point leaves
// chunks in used/ with no lock holder, i.e. dirty: never claimable until scrubbed again.
//
// Usage:
//     vmm::host::ZeroedPool pool(vmm::host::zeroed_pool_directory(root, kPageSize2M, 0), 128 << 20);
//     pool.add(4, 0);                                     // allocator: 4 chunks faulted in on node 0
//     vmm::host::ChunkClaim claim = pool.claim(256 << 20); // start: 2 chunks, or none if short
//     for (int fd : claim.fds()) ...                       // map them side by side (GuestMemory)
//     claim.scrub_and_return();                            // the monitor, after the enclave is gone
//     pool.scrub_leftovers();                              // allocator: what crashed owners left
#pragma once

#include "base/file.h"
#include "vmm/host/hugepage_pool.h"

#include <cstdint>
#include <string>
#include <vector>

namespace vmm::host {

// Chunk size per page size: 128 MiB of 2 MiB pages, 1 GiB of 1 GiB pages.
std::uint64_t zeroed_chunk_bytes(std::uint64_t page_size);
// QT_VMM_POOL_DIR, else /run/qt-vmm-hugepages.
std::string zeroed_pool_root();
// <root>/<2M|1G> (one hugetlbfs mount per page size).
std::string zeroed_pool_mount(const std::string& root, std::uint64_t page_size);
// <root>/<2M|1G>/node<N>.
std::string zeroed_pool_directory(const std::string& root, std::uint64_t page_size, int node);
// Whether `path` is a hugetlbfs mount whose page size is `page_size`.
bool is_hugetlbfs_of(const std::string& path, std::uint64_t page_size);

struct ZeroedPoolCounts {
    std::uint64_t ready { 0 };  // chunks
    std::uint64_t in_use { 0 };
    std::uint64_t dirty { 0 };
};

// The chunks one enclave holds, as open files that carry their flocks (inherited by the daemon
// and its monitor: the lock lasts until the last of them closes the files). Movable.
class ChunkClaim {
public:
    ChunkClaim() = default;
    ChunkClaim(ChunkClaim&&) noexcept = default;
    ChunkClaim& operator=(ChunkClaim&&) noexcept = default;

    bool empty() const { return m_fds.empty(); }
    const std::vector<std::string>& names() const { return m_names; }
    std::vector<int> fds() const;
    std::uint64_t chunk_bytes() const { return m_chunk_bytes; }

    // Once nothing maps the chunks any more: zeroes each (through a shared mapping) and renames
    // it back to ready/; a chunk that cannot be mapped is deleted (its pages go back to the
    // kernel). Returns how many went back to ready/. The claim is empty afterwards.
    std::size_t scrub_and_return();
    // Puts never-mapped chunks straight back to ready/ (a start that failed before mapping).
    void give_back_unused();

private:
    friend class ZeroedPool;
    std::string m_directory;
    std::uint64_t m_chunk_bytes { 0 };
    std::vector<std::string> m_names;
    std::vector<base::UniqueFd> m_fds;
};

class ZeroedPool {
public:
    ZeroedPool(std::string directory, std::uint64_t chunk_bytes);

    const std::string& directory() const { return m_directory; }
    std::uint64_t chunk_bytes() const { return m_chunk_bytes; }
    bool exists() const;

    // All or nothing: ready chunks covering `bytes` (rounded up to whole chunks), or an empty
    // claim when there are not enough ready ones (the caller falls back to fresh pages).
    ChunkClaim claim(std::uint64_t bytes) const;
    // Creates `count` chunks and faults their pages in (fallocate; the kernel zeroes them) on
    // `node` (-1: no binding), creating the directories (0700) if needed. Stops at the first
    // chunk the kernel cannot back (its file is removed) and returns how many were added.
    std::size_t add(std::size_t count, int node) const;
    // Deletes up to `count` ready chunks (their pages go back to the kernel's free pool).
    std::size_t remove_ready(std::size_t count) const;
    // Zeroes dirty chunks (in used/, no owner) and returns them to ready/; returns how many.
    std::size_t scrub_leftovers() const;
    ZeroedPoolCounts counts() const;

private:
    std::string m_directory;
    std::uint64_t m_chunk_bytes;
};

// What `enclave start` uses (as root). A pool counts only where its root is a directory of the
// caller's, open to nobody else, and its page-size directory is a hugetlbfs mount of that size;
// anywhere else these see no pool (fresh pages, still correct).
//
// Ready chunks for `bytes` of guest RAM on (page size, node), or an empty claim.
ChunkClaim claim_zeroed_memory(const std::string& root, std::uint64_t page_size, int node, std::uint64_t bytes);
// `pools` with each node's ready chunks counted as free pages where they alone cover `bytes` (a
// claim is all or nothing), so placement sees the memory a start can really use.
HugepagePools with_zeroed_as_free(const HugepagePools& pools, const std::string& root, std::uint64_t bytes);

} // namespace vmm::host
