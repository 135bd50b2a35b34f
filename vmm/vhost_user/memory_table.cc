#include "vmm/vhost_user/memory_table.h"

#include "base/hex.h"
#include "vmm/vhost_user/fd_kind.h"

#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::vhost_user {

namespace {

std::string describe(std::size_t index, const MemoryRegion& r)
{
    return "memory region " + std::to_string(index) + " (guest " + base::hex_u64(r.guest_address) + " size " + base::hex_u64(r.size) + " user "
        + base::hex_u64(r.user_address) + " offset " + base::hex_u64(r.mmap_offset) + ")";
}

// [a, a + a_size) and [b, b + b_size) overlap (sizes > 0, no wrap: checked before).
bool overlaps(std::uint64_t a, std::uint64_t a_size, std::uint64_t b, std::uint64_t b_size)
{
    return a < b + b_size && b < a + a_size;
}

// Offset of [address, address + length) inside [base, base + size), if it is all inside.
std::optional<std::uint64_t> inside(std::uint64_t base, std::uint64_t size, std::uint64_t address, std::uint64_t length)
{
    if (address < base)
        return std::nullopt;
    std::uint64_t offset = address - base;
    if (offset > size || length > size - offset)
        return std::nullopt;
    return offset;
}

} // namespace

MemoryTable::~MemoryTable()
{
    clear();
}

void MemoryTable::unmap(std::vector<Mapped>& regions)
{
    for (Mapped& m : regions)
        if (m.map_base)
            ::munmap(m.map_base, m.map_length);
    regions.clear();
}

void MemoryTable::clear()
{
    unmap(m_regions);
}

std::uint64_t MemoryTable::total_size() const
{
    std::uint64_t total = 0;
    for (const Mapped& m : m_regions)
        total += m.region.size;
    return total;
}

std::string MemoryTable::set(const std::vector<MemoryRegion>& regions, const std::vector<base::UniqueFd>& fds)
{
    if (regions.empty() || regions.size() > kMaxRegions)
        return "SET_MEM_TABLE with " + std::to_string(regions.size()) + " regions (1 to " + std::to_string(kMaxRegions) + " allowed)";
    if (fds.size() != regions.size())
        return "SET_MEM_TABLE with " + std::to_string(regions.size()) + " regions but " + std::to_string(fds.size()) + " file descriptors";
    for (std::size_t i = 0; i < regions.size(); ++i) {
        const MemoryRegion& r = regions[i];
        if (r.size == 0)
            return describe(i, r) + " is empty";
        if (r.guest_address + r.size < r.guest_address || r.user_address + r.size < r.user_address || r.mmap_offset + r.size < r.mmap_offset)
            return describe(i, r) + " wraps around the address space";
        if (r.size > SIZE_MAX / 2)
            return describe(i, r) + " is too large to map";
        for (std::size_t j = 0; j < i; ++j) {
            const MemoryRegion& o = regions[j];
            if (overlaps(r.guest_address, r.size, o.guest_address, o.size))
                return describe(i, r) + " overlaps " + describe(j, o) + " in guest-physical space";
            if (overlaps(r.user_address, r.size, o.user_address, o.size))
                return describe(i, r) + " overlaps " + describe(j, o) + " in the frontend's address space";
        }
    }
    std::vector<Mapped> mapped;
    const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    for (std::size_t i = 0; i < regions.size(); ++i) {
        const MemoryRegion& r = regions[i];
        struct stat st {};
        if (::fstat(fds[i].get(), &st) != 0) {
            unmap(mapped);
            return describe(i, r) + ": cannot stat its file descriptor: " + std::strerror(errno);
        }
        if (!S_ISREG(st.st_mode)) {
            unmap(mapped);
            return describe(i, r) + ": its file descriptor is not a memory file (use memory-backend-memfd or -file with share=on)";
        }
        if (!sealed_against_shrinking(fds[i].get())) {
            unmap(mapped);
            return describe(i, r) + ": its file is not sealed against shrinking (F_SEAL_SHRINK), so truncating it would crash "
                                    "the backend (SIGBUS); use memory-backend-memfd with share=on (seal=on, QEMU's default)";
        }
        std::uint64_t file_size = static_cast<std::uint64_t>(st.st_size);
        if (r.mmap_offset > file_size || r.size > file_size - r.mmap_offset) {
            unmap(mapped);
            return describe(i, r) + " runs past the end of its " + base::hex_u64(file_size) + "-byte file";
        }
        // Map from an offset the file allows (hugetlbfs: a huge page boundary, its st_blksize).
        std::uint64_t align = page;
        std::uint64_t block = static_cast<std::uint64_t>(st.st_blksize);
        if (block > align && (block & (block - 1)) == 0 && block <= (1ull << 30))
            align = block;
        std::uint64_t map_offset = r.mmap_offset & ~(align - 1);
        std::uint64_t lead = r.mmap_offset - map_offset;
        std::size_t length = static_cast<std::size_t>(r.size + lead);
        void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i].get(), static_cast<off_t>(map_offset));
        if (base == MAP_FAILED) {
            int e = errno;
            unmap(mapped);
            return describe(i, r) + ": mmap failed: " + std::strerror(e);
        }
        ::madvise(base, length, MADV_DONTDUMP); // guest memory stays out of our core dumps
        mapped.push_back({ r, static_cast<std::uint8_t*>(base) + lead, base, length });
    }
    unmap(m_regions);
    m_regions = std::move(mapped);
    return {};
}

std::uint8_t* MemoryTable::translate(std::uint64_t gpa, std::uint64_t length) const
{
    for (const Mapped& m : m_regions) {
        if (auto offset = inside(m.region.guest_address, m.region.size, gpa, length))
            return m.host + *offset;
    }
    return nullptr;
}

std::optional<std::uint64_t> MemoryTable::user_to_guest(std::uint64_t user_address, std::uint64_t length) const
{
    for (const Mapped& m : m_regions) {
        if (auto offset = inside(m.region.user_address, m.region.size, user_address, length))
            return m.region.guest_address + *offset;
    }
    return std::nullopt;
}

} // namespace vmm::vhost_user
