#include "vmm/memory/guest_memory.h"

#include "base/error.h"

#include <cerrno>
#include <cstring>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <utility>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

namespace vmm {

namespace {

std::string mib(std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

int log2_exact(std::uint64_t value)
{
    int shift = 0;
    while ((1ull << shift) < value)
        ++shift;
    return shift;
}

// Maps the chunks side by side into one range aligned to the page size; returns its start.
std::uint8_t* map_chunks(const GuestMemory::Options& options, const GuestMemory::Chunks& chunks)
{
    if (chunks.bytes == 0 || chunks.bytes % options.page_size != 0
        || chunks.fds.size() != (options.size + chunks.bytes - 1) / chunks.bytes)
        throw base::Error(base::ErrorKind::Internal, "MEM_CHUNKS",
            std::to_string(chunks.fds.size()) + " pool chunks of " + std::to_string(chunks.bytes) + " bytes do not make "
                + mib(options.size) + " of hugepage memory");
    // An address range aligned to the page size, then each chunk fixed into its place.
    const std::uint64_t span = options.size + options.page_size;
    void* area = ::mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (area == MAP_FAILED)
        throw base::Error(base::ErrorKind::Resource, "MEM_MMAP", "cannot reserve " + mib(options.size) + " of address space: " + std::strerror(errno));
    const auto start = reinterpret_cast<std::uintptr_t>(area);
    const std::uintptr_t aligned = (start + options.page_size - 1) & ~(options.page_size - 1);
    if (aligned > start)
        ::munmap(area, aligned - start);
    if (const std::uintptr_t end = aligned + options.size; start + span > end)
        ::munmap(reinterpret_cast<void*>(end), start + span - end);
    auto* base = reinterpret_cast<std::uint8_t*>(aligned);
    for (std::size_t i = 0; i < chunks.fds.size(); ++i) {
        const std::uint64_t offset = i * chunks.bytes;
        const std::uint64_t length = std::min(chunks.bytes, options.size - offset);
        if (::mmap(base + offset, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, chunks.fds[i], 0) == MAP_FAILED) {
            int saved = errno;
            ::munmap(base, options.size);
            throw base::Error(base::ErrorKind::Resource, "MEM_MMAP", "cannot map pre-zeroed pool chunk " + std::to_string(i) + ": " + std::strerror(saved));
        }
    }
    return base;
}

} // namespace

GuestMemory GuestMemory::create(const Options& options) { return create(options, Chunks {}); }

GuestMemory GuestMemory::create(const Options& options, const Chunks& chunks)
{
    if (options.page_size != 4096 && options.page_size != (2ull << 20) && options.page_size != (1ull << 30))
        throw base::Error(base::ErrorKind::InvalidInput, "MEM_PAGE_SIZE", "unsupported page size " + std::to_string(options.page_size) + "; use 2M or 1G");
    if (options.size == 0 || options.size % options.page_size != 0)
        throw base::Error(base::ErrorKind::InvalidInput, "MEM_SIZE",
            "guest memory " + std::to_string(options.size) + " bytes is not a non-zero multiple of the page size " + std::to_string(options.page_size));

    GuestMemory memory;
    memory.m_size = options.size;
    memory.m_page_size = options.page_size;
    memory.m_mapping_size = options.size;

    if (!chunks.fds.empty()) {
        memory.m_base = map_chunks(options, chunks);
        ::madvise(memory.m_base, options.size, MADV_DONTDUMP);
        memory.set_regions(options.guest_base);
        return memory;
    }

    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    if (options.page_size != 4096)
        flags |= MAP_HUGETLB | (log2_exact(options.page_size) << MAP_HUGE_SHIFT);
    else
        flags |= MAP_NORESERVE;
    void* p = ::mmap(nullptr, options.size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED) {
        int saved = errno;
        if (options.page_size != 4096)
            throw base::Error(base::ErrorKind::Resource, "HUGEPAGES_SHORT",
                "cannot reserve " + mib(options.size) + " of " + (options.page_size == (1ull << 30) ? "1G" : "2M") + " hugepages: "
                    + std::strerror(saved) + "; reserve them with: qt-vmm allocator --mem " + std::to_string(options.size >> 20)
                    + " --hugepage-size " + (options.page_size == (1ull << 30) ? "1G" : "2M")
                    + (options.numa_node >= 0 ? " --numa-node " + std::to_string(options.numa_node) : std::string()));
        throw base::Error(base::ErrorKind::Resource, "MEM_MMAP", "cannot map " + mib(options.size) + " of guest memory: " + std::strerror(saved));
    }
    memory.m_base = static_cast<std::uint8_t*>(p);

    if (options.numa_node >= 0) {
        unsigned long mask[16] = {};
        if (options.numa_node >= static_cast<int>(sizeof mask * 8))
            throw base::Error(base::ErrorKind::InvalidInput, "MEM_NUMA_NODE", "NUMA node " + std::to_string(options.numa_node) + " is out of range");
        mask[options.numa_node / 64] |= 1ul << (options.numa_node % 64);
        // maxnode is node count + 1 because the kernel drops the last bit (see mbind(2) notes).
        long rc = ::syscall(SYS_mbind, p, options.size, MPOL_BIND, mask, sizeof mask * 8 + 1, MPOL_MF_STRICT);
        if (rc != 0)
            throw base::Error(base::ErrorKind::Resource, "MEM_MBIND",
                "cannot bind guest memory to NUMA node " + std::to_string(options.numa_node) + ": " + std::strerror(errno));
    }
    ::madvise(p, options.size, MADV_DONTDUMP);
    // Hugetlb pages are never swapped, so they are pinned as soon as they are faulted in.
    // mlock2(MLOCK_ONFAULT) would add nothing for them, and Linux ignores ONFAULT on hugetlb
    // VMAs and populates the whole range instead (measured: 164 ms per 128 MiB here), so
    // only ordinary memory is locked.
    if (options.lock && options.page_size == 4096 && ::syscall(SYS_mlock2, p, options.size, MLOCK_ONFAULT) != 0)
        throw base::Error(base::ErrorKind::Resource, "MEM_LOCK",
            "cannot lock " + mib(options.size) + " of guest memory: " + std::strerror(errno) + "; raise RLIMIT_MEMLOCK (ulimit -l) or run as root");

    memory.set_regions(options.guest_base);
    return memory;
}

void GuestMemory::set_regions(std::uint64_t guest_base)
{
    if (guest_base) {
        m_regions.push_back({ guest_base, m_size, 0 });
        return;
    }
    std::uint64_t low = std::min(m_size, kMmioHoleStart);
    m_regions.push_back({ 0, low, 0 });
    if (m_size > low)
        m_regions.push_back({ kFourGiB, m_size - low, low });
}

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : m_base(std::exchange(other.m_base, nullptr))
    , m_size(other.m_size)
    , m_mapping_size(other.m_mapping_size)
    , m_page_size(other.m_page_size)
    , m_regions(std::move(other.m_regions))
{
}

GuestMemory& GuestMemory::operator=(GuestMemory&& other) noexcept
{
    if (this != &other) {
        if (m_base)
            ::munmap(m_base, m_mapping_size);
        m_base = std::exchange(other.m_base, nullptr);
        m_size = other.m_size;
        m_mapping_size = other.m_mapping_size;
        m_page_size = other.m_page_size;
        m_regions = std::move(other.m_regions);
    }
    return *this;
}

GuestMemory::~GuestMemory()
{
    if (m_base)
        ::munmap(m_base, m_mapping_size);
}

std::uint8_t* GuestMemory::translate(std::uint64_t guest_address, std::uint64_t length) const
{
    for (const Region& r : m_regions) {
        if (guest_address < r.guest_address)
            continue;
        std::uint64_t offset = guest_address - r.guest_address;
        if (offset > r.size || length > r.size - offset)
            continue;
        return m_base + r.host_offset + offset;
    }
    return nullptr;
}

void GuestMemory::write(std::uint64_t guest_address, const void* data, std::size_t length)
{
    std::uint8_t* p = translate(guest_address, length);
    if (!p)
        throw base::Error(base::ErrorKind::Vm, "MEM_OUT_OF_RANGE",
            "write of " + std::to_string(length) + " bytes at guest address " + std::to_string(guest_address) + " is outside guest RAM");
    std::memcpy(p, data, length);
}

void GuestMemory::read(std::uint64_t guest_address, void* data, std::size_t length) const
{
    std::uint8_t* p = translate(guest_address, length);
    if (!p)
        throw base::Error(base::ErrorKind::Vm, "MEM_OUT_OF_RANGE",
            "read of " + std::to_string(length) + " bytes at guest address " + std::to_string(guest_address) + " is outside guest RAM");
    std::memcpy(data, p, length);
}

} // namespace vmm
