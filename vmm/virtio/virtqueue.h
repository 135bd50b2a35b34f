// vmm/virtio/virtqueue.h — the device side of a virtio split virtqueue (virtio 1.2 §2.7) over
// guest memory that the guest may scribble on at any time.
//
// Everything the guest wrote is read once into locals and checked before use: ring addresses
// (alignment, inside RAM, at activation and again on every use), the available index (at most
// `size` ahead), every descriptor (index < size, address and length inside RAM, no INDIRECT —
// not offered —, no readable descriptor after a writable one, total < 4 GiB, at most `size`
// descriptors per chain so a cycle ends the walk). A malformed chain is handed back in the used
// ring with length 0 (when its head index is valid), counted, and skipped: never a crash, never
// a hang. Used entries are published with release ordering; interrupt suppression follows
// VIRTIO_F_EVENT_IDX (used_event / avail_event) with a full fence between publishing and
// reading the driver's event index, as the spec requires.
//
// Usage:
//     Virtqueue q(256);
//     if (!q.activate(ram, { .size = 256, .desc = d, .avail = a, .used = u }, event_idx)) ...
//     DescriptorChain chain;
//     do {
//         while (q.pop(chain)) { ...; q.add_used(chain.head, written); }
//     } while (q.enable_notifications());          // more arrived while we were busy?
//     if (q.needs_interrupt()) raise_irq();
#pragma once

#include "vmm/virtio/guest_ram.h"

#include <cstddef>
#include <cstdint>
#include <sys/uio.h>
#include <string>
#include <vector>

namespace vmm::virtio {

inline constexpr std::uint16_t kDescFlagNext = 1;
inline constexpr std::uint16_t kDescFlagWrite = 2;
inline constexpr std::uint16_t kDescFlagIndirect = 4;
inline constexpr std::uint16_t kAvailFlagNoInterrupt = 1;

struct QueueAddresses {
    std::uint16_t size { 0 };
    std::uint64_t desc { 0 };
    std::uint64_t avail { 0 };
    std::uint64_t used { 0 };
};

struct BufferSegment {
    std::uint8_t* data;
    std::uint32_t length;
};

// One available chain: device-readable segments first, then device-writable ones.
struct DescriptorChain {
    std::uint16_t head { 0 };
    std::vector<BufferSegment> readable;
    std::vector<BufferSegment> writable;
    std::uint64_t readable_bytes { 0 };
    std::uint64_t writable_bytes { 0 };
    void clear();
};

// Copies between a flat buffer and segments, starting `offset` bytes into the segments.
// Return the number of bytes copied (short if the segments end first).
std::size_t copy_from_segments(const std::vector<BufferSegment>& segments, std::size_t offset, void* out, std::size_t length);
std::size_t copy_to_segments(const std::vector<BufferSegment>& segments, std::size_t offset, const void* in, std::size_t length);
// iovecs covering at most `length` bytes of the segments from `offset`; returns the byte count.
std::size_t segments_to_iovecs(const std::vector<BufferSegment>& segments, std::size_t offset, std::size_t length, std::vector<iovec>& out);
// The same, appended to `out` (one scatter list over several chains).
std::size_t append_iovecs(const std::vector<BufferSegment>& segments, std::size_t offset, std::size_t length, std::vector<iovec>& out);

class Virtqueue {
public:
    static constexpr std::uint16_t kMaxSize = 32768;

    explicit Virtqueue(std::uint16_t max_size);

    std::uint16_t max_size() const { return m_max_size; }
    // Validates the driver's configuration (power-of-two size ≤ max_size, ring alignments, rings
    // inside RAM). On success the queue is ready and starts at index 0; on failure it stays off.
    bool activate(const GuestRam& ram, const QueueAddresses& addresses, bool event_idx);
    // Like activate(), for a ring the driver already used (vhost-user SET_VRING_BASE): the next
    // available entry to pop is `next_avail` and the used index is read back from the used ring.
    bool resume(const GuestRam& ram, const QueueAddresses& addresses, bool event_idx, std::uint16_t next_avail);
    void reset();
    bool ready() const { return m_ram != nullptr; }
    const QueueAddresses& addresses() const { return m_addresses; }

    // The next well-formed available chain (malformed ones are returned with length 0 and
    // skipped). False when none is available (or the queue is off or broken), or after
    // skipping a ring's worth of malformed entries in this call (has_available() is then true).
    bool pop(DescriptorChain& chain);
    // Publishes `head` as used with `written` bytes written into its writable part.
    void add_used(std::uint16_t head, std::uint32_t written);
    // Puts the chain popped last back (nothing was published for it): the next pop returns it.
    // undo_pop(n) puts back the last n chains; only for chains popped from consecutive
    // available entries (each pop advanced next_avail() by exactly one), else a malformed entry
    // skipped in between would be handed back twice.
    void undo_pop(std::uint16_t n = 1) { m_next_avail = static_cast<std::uint16_t>(m_next_avail - n); }
    // Whether the driver asked to be interrupted for what was added since the last call.
    bool needs_interrupt();
    // Re-arms driver notifications (avail_event with EVENT_IDX) after the device drained the
    // ring; returns true if buffers became available meanwhile (so the caller pops again).
    // A broken ring (see broken()) has nothing available: both return false.
    bool enable_notifications();
    // True if the available ring has entries not popped yet.
    bool has_available() const;
    // With EVENT_IDX: true if used buffers were published past the used_event the driver last
    // wrote, i.e. the driver asked to be interrupted for buffers it has not taken yet. `snapshot`
    // gets (used_event << 16 | used index), so a caller can tell whether either side moved.
    bool driver_behind(std::uint32_t& snapshot) const;

    // The index of the next available entry to pop (vhost-user GET_VRING_BASE).
    std::uint16_t next_avail() const { return m_next_avail; }
    std::uint64_t malformed_chains() const { return m_malformed; }
    // The driver moved avail.idx more than `size` ahead: the queue is ignored until reset.
    bool broken() const { return m_broken; }
    // For debugging a stalled queue: both sides' indices in one line, e.g. "size=128 avail=40
    // next_avail=40 avail_event=40 used=40 signalled=40 used_event=39 flags=0" ("off" if not ready).
    std::string describe() const;

private:
    struct Rings {
        std::uint8_t* desc;
        std::uint8_t* avail;
        std::uint8_t* used;
    };
    bool map_rings(Rings& rings) const;
    // EVENT_IDX fields after the rings: the driver's used_event, the device's avail_event.
    std::uint8_t* used_event_field(const Rings& rings) const { return rings.avail + 4 + 2ull * m_addresses.size; }
    std::uint8_t* avail_event_field(const Rings& rings) const { return rings.used + 4 + 8ull * m_addresses.size; }
    std::uint16_t read_avail_idx(const Rings& rings) const;
    void return_malformed(const Rings& rings, std::uint16_t head);
    void publish_used(const Rings& rings, std::uint16_t head, std::uint32_t written);

    std::uint16_t m_max_size;
    const GuestRam* m_ram { nullptr };
    QueueAddresses m_addresses;
    bool m_event_idx { false };
    bool m_broken { false };
    std::uint16_t m_next_avail { 0 };
    std::uint16_t m_next_used { 0 };
    std::uint16_t m_signalled_used { 0 };
    std::uint64_t m_malformed { 0 };
};

} // namespace vmm::virtio
