// vmm/memory/guest_memory.h — guest RAM: one host mapping, split into guest-physical regions
// around the 32-bit MMIO hole, with bounds-checked translation for everything the guest hands us.
//
// Backing: hugetlb pages (2 MiB or 1 GiB) reserved at mmap time (no MAP_NORESERVE, so a short
// pool fails here, never as a SIGBUS later), bound to one NUMA node with a strict mbind and left
// out of core dumps. Hugetlb pages are never swapped: each is pinned from its first fault, and
// nothing is prefaulted at launch (mlock would fault in all of RAM, see guest_memory.cc).
// Or: chunks of the pre-zeroed pool (vmm/host/zeroed_pool.h), hugetlbfs files whose pages are
// already faulted in and zeroed, mapped shared side by side into the same one contiguous range
// (the last one only as far as the size needs); then nothing is reserved or bound here (the
// allocator placed the pages on their node).
// Plain 4 KiB anonymous memory is available for unit tests and in-process benchmarks only.
//
// Usage:
//     vmm::GuestMemory ram = vmm::GuestMemory::create({ .size = 512 << 20, .page_size = 2 << 20, .numa_node = 0 });
//     if (std::uint8_t* p = ram.translate(gpa, len)) { ... }   // nullptr unless [gpa, gpa+len) is RAM
//     ram.write(0x7000, &boot_params, sizeof boot_params);     // throws if outside RAM
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vmm {

class GuestMemory {
public:
    struct Options {
        std::uint64_t size { 0 };       // bytes of guest RAM
        std::uint64_t page_size { 0 };  // 2 MiB or 1 GiB for hugetlb; 4096 = ordinary memory (tests)
        int numa_node { -1 };           // strict binding; -1 = none
        bool lock { true };             // 4 KiB memory only: mlock2(MLOCK_ONFAULT)
        // Where RAM starts in the guest. 0: from 0 up to the 32-bit MMIO hole, the rest from
        // 4 GiB (x86). Otherwise one region from there (arm64: devices sit below it).
        std::uint64_t guest_base { 0 };
    };
    struct Region {
        std::uint64_t guest_address;
        std::uint64_t size;
        std::uint64_t host_offset;      // offset into the one host mapping
    };

    // Guest RAM stops below this address; [kMmioHoleStart, 4 GiB) is for devices.
    static constexpr std::uint64_t kMmioHoleStart = 0xC000'0000ull;
    static constexpr std::uint64_t kFourGiB = 0x1'0000'0000ull;

    // Pre-zeroed pool chunks (vmm/host/zeroed_pool.h), in guest order: enough to cover the size.
    struct Chunks {
        std::vector<int> fds;
        std::uint64_t bytes { 0 };      // each chunk's size, a multiple of the page size
    };

    static GuestMemory create(const Options& options);
    static GuestMemory create(const Options& options, const Chunks& chunks);
    GuestMemory(GuestMemory&&) noexcept;
    GuestMemory& operator=(GuestMemory&&) noexcept;
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;
    ~GuestMemory();

    std::uint64_t size() const { return m_size; }
    std::uint64_t page_size() const { return m_page_size; }
    const std::vector<Region>& regions() const { return m_regions; }
    std::uint8_t* host_base() const { return m_base; }
    // Highest guest-physical address + 1 of RAM below the MMIO hole.
    std::uint64_t low_ram_end() const { return m_regions.front().size; }

    // Host pointer for [guest_address, guest_address + length), or nullptr if any byte of the
    // range is not RAM or the range spans two regions. Overflow-safe; length 0 is allowed.
    std::uint8_t* translate(std::uint64_t guest_address, std::uint64_t length) const;
    // Copies into/out of guest RAM; throws base::Error if the range is not RAM.
    void write(std::uint64_t guest_address, const void* data, std::size_t length);
    void read(std::uint64_t guest_address, void* data, std::size_t length) const;
    template<typename T>
    T read_object(std::uint64_t guest_address) const
    {
        T value;
        read(guest_address, &value, sizeof value);
        return value;
    }

private:
    GuestMemory() = default;
    void set_regions(std::uint64_t guest_base); // from m_size, see Options::guest_base
    std::uint8_t* m_base { nullptr };
    std::uint64_t m_size { 0 };
    std::uint64_t m_mapping_size { 0 };
    std::uint64_t m_page_size { 0 };
    std::vector<Region> m_regions;
};

} // namespace vmm
