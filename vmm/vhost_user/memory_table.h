// vmm/vhost_user/memory_table.h — guest RAM as a vhost-user frontend shares it (SET_MEM_TABLE):
// each region is a file descriptor (QEMU: memory-backend-memfd/-file with share=on) mapped here
// at its mmap_offset, and named three ways: by guest-physical address (descriptors, packets),
// by the frontend's user virtual address (SET_VRING_ADDR ring addresses) and by our pointer.
//
// set() validates the whole table before it replaces the old one: 1..8 regions, one fd each,
// no empty region, no address arithmetic that wraps, no two regions overlapping in guest-
// physical or in user space, the fd a regular file sealed against shrinking (F_SEAL_SHRINK: a
// memfd, as QEMU's memory-backend-memfd seals by default) that really holds
// [mmap_offset, mmap_offset + size) — so no access can fault past its end (SIGBUS), now or after
// the frontend tries to truncate it. Unsealed files (memory-backend-file) are refused.
// Mappings are shared, read-write, left out of core dumps, unmapped on replacement/clear().
//
// translate() implements virtio::GuestRam: nullptr unless [gpa, gpa + length) lies inside one
// region (overflow-safe). user_to_guest() does the same for a frontend user address range.
//
// Threads: not thread-safe; the backend calls it under its lock.
//
// Usage:
//     vmm::vhost_user::MemoryTable ram;
//     std::string problem = ram.set(*decode_regions(message), message.fds);  // "" = mapped
//     auto gpa = ram.user_to_guest(address.desc, 16 * queue_size);          // nullopt: outside
//     vmm::virtio::Virtqueue q(256); q.activate(ram, { 256, *gpa, ... }, true);
#pragma once

#include "vmm/vhost_user/message.h"
#include "vmm/virtio/guest_ram.h"

#include <optional>
#include <vector>

namespace vmm::vhost_user {

class MemoryTable final : public virtio::GuestRam {
public:
    MemoryTable() = default;
    ~MemoryTable() override;
    MemoryTable(const MemoryTable&) = delete;
    MemoryTable& operator=(const MemoryTable&) = delete;

    // Maps the regions (fds[i] backs regions[i]); on success replaces the current table and
    // returns "", else returns the problem and leaves the current table as it was. The fds may
    // be closed afterwards.
    std::string set(const std::vector<MemoryRegion>& regions, const std::vector<base::UniqueFd>& fds);
    void clear();
    bool empty() const { return m_regions.empty(); }
    std::size_t region_count() const { return m_regions.size(); }
    std::uint64_t total_size() const;

    std::uint8_t* translate(std::uint64_t gpa, std::uint64_t length) const override;
    // Guest-physical address of [user_address, user_address + length) if it lies in one region.
    std::optional<std::uint64_t> user_to_guest(std::uint64_t user_address, std::uint64_t length) const;

private:
    struct Mapped {
        MemoryRegion region;
        std::uint8_t* host { nullptr };   // region byte 0
        void* map_base { nullptr };        // what mmap returned (page-aligned, before host)
        std::size_t map_length { 0 };
    };
    static void unmap(std::vector<Mapped>& regions);

    std::vector<Mapped> m_regions;
};

} // namespace vmm::vhost_user
