#include "vmm/virtio/virtqueue.h"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace vmm::virtio {

namespace {

// Guest memory is shared with vCPUs that change it concurrently: every access to ring indices
// goes through these (atomic, so neither the compiler nor the CPU invents or tears accesses).
std::uint16_t load_u16(const std::uint8_t* p, int order)
{
    return __atomic_load_n(reinterpret_cast<const std::uint16_t*>(p), order);
}

void store_u16(std::uint8_t* p, std::uint16_t value, int order)
{
    __atomic_store_n(reinterpret_cast<std::uint16_t*>(p), value, order);
}

void store_u32(std::uint8_t* p, std::uint32_t value)
{
    __atomic_store_n(reinterpret_cast<std::uint32_t*>(p), value, __ATOMIC_RELAXED);
}

struct Descriptor {
    std::uint64_t addr;
    std::uint32_t len;
    std::uint16_t flags;
    std::uint16_t next;
};
static_assert(sizeof(Descriptor) == 16);

std::uint64_t desc_table_size(std::uint16_t size) { return 16ull * size; }
std::uint64_t avail_ring_size(std::uint16_t size) { return 6ull + 2ull * size; }
std::uint64_t used_ring_size(std::uint16_t size) { return 6ull + 8ull * size; }

} // namespace

void DescriptorChain::clear()
{
    head = 0;
    readable.clear();
    writable.clear();
    readable_bytes = 0;
    writable_bytes = 0;
}

namespace {

// Walks `length` bytes of the segments from `offset`, calling copy(segment_bytes, done, n) for
// each contiguous piece; returns how many bytes the segments held.
template<typename Copy>
std::size_t for_each_piece(const std::vector<BufferSegment>& segments, std::size_t offset, std::size_t length, Copy copy)
{
    std::size_t done = 0;
    for (const BufferSegment& s : segments) {
        if (done == length)
            break;
        if (offset >= s.length) {
            offset -= s.length;
            continue;
        }
        std::size_t n = std::min<std::size_t>(s.length - offset, length - done);
        copy(s.data + offset, done, n);
        done += n;
        offset = 0;
    }
    return done;
}

} // namespace

std::size_t copy_from_segments(const std::vector<BufferSegment>& segments, std::size_t offset, void* out, std::size_t length)
{
    auto* dst = static_cast<std::uint8_t*>(out);
    return for_each_piece(segments, offset, length, [dst](const std::uint8_t* piece, std::size_t at, std::size_t n) {
        std::memcpy(dst + at, piece, n);
    });
}

std::size_t copy_to_segments(const std::vector<BufferSegment>& segments, std::size_t offset, const void* in, std::size_t length)
{
    const auto* src = static_cast<const std::uint8_t*>(in);
    return for_each_piece(segments, offset, length, [src](std::uint8_t* piece, std::size_t at, std::size_t n) {
        std::memcpy(piece, src + at, n);
    });
}

std::size_t segments_to_iovecs(const std::vector<BufferSegment>& segments, std::size_t offset, std::size_t length, std::vector<iovec>& out)
{
    out.clear();
    return append_iovecs(segments, offset, length, out);
}

std::size_t append_iovecs(const std::vector<BufferSegment>& segments, std::size_t offset, std::size_t length, std::vector<iovec>& out)
{
    return for_each_piece(segments, offset, length, [&out](std::uint8_t* piece, std::size_t, std::size_t n) {
        out.push_back({ piece, n });
    });
}

Virtqueue::Virtqueue(std::uint16_t max_size)
    : m_max_size(std::min(max_size, kMaxSize))
{
}

bool Virtqueue::activate(const GuestRam& ram, const QueueAddresses& addresses, bool event_idx)
{
    reset();
    std::uint16_t size = addresses.size;
    if (size == 0 || size > m_max_size || (size & (size - 1)) != 0)
        return false;
    if (addresses.desc % 16 || addresses.avail % 2 || addresses.used % 4)
        return false;
    if (!ram.translate(addresses.desc, desc_table_size(size)) || !ram.translate(addresses.avail, avail_ring_size(size))
        || !ram.translate(addresses.used, used_ring_size(size)))
        return false;
    m_ram = &ram;
    m_addresses = addresses;
    m_event_idx = event_idx;
    return true;
}

bool Virtqueue::resume(const GuestRam& ram, const QueueAddresses& addresses, bool event_idx, std::uint16_t next_avail)
{
    if (!activate(ram, addresses, event_idx))
        return false;
    Rings rings;
    if (!map_rings(rings)) {
        reset();
        return false;
    }
    m_next_avail = next_avail;
    m_next_used = load_u16(rings.used + 2, __ATOMIC_ACQUIRE);
    m_signalled_used = m_next_used;
    return true;
}

void Virtqueue::reset()
{
    m_ram = nullptr;
    m_addresses = {};
    m_event_idx = false;
    m_broken = false;
    m_next_avail = 0;
    m_next_used = 0;
    m_signalled_used = 0;
}

bool Virtqueue::map_rings(Rings& rings) const
{
    if (!m_ram || m_broken)
        return false;
    std::uint16_t size = m_addresses.size;
    rings.desc = m_ram->translate(m_addresses.desc, desc_table_size(size));
    rings.avail = m_ram->translate(m_addresses.avail, avail_ring_size(size));
    rings.used = m_ram->translate(m_addresses.used, used_ring_size(size));
    return rings.desc && rings.avail && rings.used;
}

std::uint16_t Virtqueue::read_avail_idx(const Rings& rings) const
{
    // Acquire: the ring entries and descriptors the driver wrote before bumping idx are visible.
    return load_u16(rings.avail + 2, __ATOMIC_ACQUIRE);
}

bool Virtqueue::has_available() const
{
    Rings rings;
    if (m_broken || !map_rings(rings))
        return false;
    return read_avail_idx(rings) != m_next_avail;
}

void Virtqueue::publish_used(const Rings& rings, std::uint16_t head, std::uint32_t written)
{
    std::uint16_t size = m_addresses.size;
    std::uint8_t* entry = rings.used + 4 + 8ull * (m_next_used % size);
    store_u32(entry, head);
    store_u32(entry + 4, written);
    ++m_next_used;
    // Release: the entry (and the data written into the buffer) before the index.
    store_u16(rings.used + 2, m_next_used, __ATOMIC_RELEASE);
}

void Virtqueue::return_malformed(const Rings& rings, std::uint16_t head)
{
    ++m_malformed;
    publish_used(rings, head, 0);
}

bool Virtqueue::pop(DescriptorChain& chain)
{
    Rings rings;
    if (!map_rings(rings))
        return false;
    std::uint16_t size = m_addresses.size;
    // A driver that keeps adding malformed entries must not keep us here: after a ring's worth
    // of them, return (has_available() still says more wait).
    for (std::uint32_t skipped = 0; skipped < size; ++skipped) {
        std::uint16_t avail_idx = read_avail_idx(rings);
        std::uint16_t pending = static_cast<std::uint16_t>(avail_idx - m_next_avail);
        if (pending == 0)
            return false;
        if (pending > size) {
            // The driver claims more buffers than the ring holds: nothing it says can be trusted.
            m_broken = true;
            ++m_malformed;
            return false;
        }
        std::uint16_t head = load_u16(rings.avail + 4 + 2ull * (m_next_avail % size), __ATOMIC_RELAXED);
        ++m_next_avail;
        if (head >= size) {
            ++m_malformed; // cannot even be returned: there is no such descriptor
            continue;
        }
        chain.clear();
        chain.head = head;
        bool ok = true;
        std::uint16_t index = head;
        std::uint32_t count = 0;
        for (;;) {
            if (++count > size) {
                ok = false; // longer than the table: a cycle
                break;
            }
            Descriptor d;
            std::memcpy(&d, rings.desc + 16ull * index, sizeof d); // one snapshot; the guest may change it
            if (d.flags & kDescFlagIndirect) {
                ok = false;
                break;
            }
            std::uint8_t* data = m_ram->translate(d.addr, d.len);
            if (!data) {
                ok = false;
                break;
            }
            if (d.flags & kDescFlagWrite) {
                chain.writable.push_back({ data, d.len });
                chain.writable_bytes += d.len;
            } else {
                if (!chain.writable.empty()) {
                    ok = false; // readable after writable
                    break;
                }
                chain.readable.push_back({ data, d.len });
                chain.readable_bytes += d.len;
            }
            if (chain.readable_bytes + chain.writable_bytes > 0xffff'ffffull) {
                ok = false;
                break;
            }
            if (!(d.flags & kDescFlagNext))
                break;
            index = d.next;
            if (index >= size) {
                ok = false;
                break;
            }
        }
        if (ok)
            return true;
        return_malformed(rings, head);
    }
    return false;
}

void Virtqueue::add_used(std::uint16_t head, std::uint32_t written)
{
    Rings rings;
    if (!map_rings(rings) || head >= m_addresses.size)
        return;
    publish_used(rings, head, written);
}

bool Virtqueue::needs_interrupt()
{
    Rings rings;
    if (!map_rings(rings))
        return false;
    std::uint16_t old_used = m_signalled_used;
    std::uint16_t new_used = m_next_used;
    if (old_used == new_used)
        return false;
    m_signalled_used = new_used;
    // Full fence: the used index must be visible before we read what the driver wants.
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!m_event_idx)
        return !(load_u16(rings.avail, __ATOMIC_RELAXED) & kAvailFlagNoInterrupt);
    std::uint16_t used_event = load_u16(used_event_field(rings), __ATOMIC_RELAXED);
    return static_cast<std::uint16_t>(new_used - used_event - 1) < static_cast<std::uint16_t>(new_used - old_used);
}

bool Virtqueue::driver_behind(std::uint32_t& snapshot) const
{
    Rings rings;
    if (!m_event_idx || !map_rings(rings))
        return false;
    std::uint16_t used_event = load_u16(used_event_field(rings), __ATOMIC_ACQUIRE);
    snapshot = (std::uint32_t(used_event) << 16) | m_next_used;
    // used_event = the last used index the driver had seen when it re-enabled interrupts.
    return used_event != m_next_used;
}

std::string Virtqueue::describe() const
{
    Rings rings;
    if (!map_rings(rings))
        return m_broken ? "broken" : "off";
    std::uint16_t size = m_addresses.size;
    std::string text = "size=" + std::to_string(size) + " avail=" + std::to_string(read_avail_idx(rings))
        + " next_avail=" + std::to_string(m_next_avail) + " used=" + std::to_string(m_next_used)
        + " signalled=" + std::to_string(m_signalled_used)
        + " flags=" + std::to_string(load_u16(rings.avail, __ATOMIC_RELAXED));
    if (m_event_idx)
        text += " used_event=" + std::to_string(load_u16(used_event_field(rings), __ATOMIC_RELAXED))
            + " avail_event=" + std::to_string(load_u16(avail_event_field(rings), __ATOMIC_RELAXED));
    return text;
}

bool Virtqueue::enable_notifications()
{
    Rings rings;
    if (m_broken || !map_rings(rings))
        return false;
    if (m_event_idx)
        store_u16(avail_event_field(rings), m_next_avail, __ATOMIC_RELAXED);
    // Full fence: avail_event must be visible before we look at avail.idx again, or a kick
    // the driver decided to skip could be lost.
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return read_avail_idx(rings) != m_next_avail;
}

} // namespace vmm::virtio
