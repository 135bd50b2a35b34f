// Split virtqueue over a fake guest memory: well-formed chains, every kind of malformed chain
// (dropped, returned with length 0, never a crash or hang), EVENT_IDX interrupt suppression.
#include "vmm/virtio/virtqueue.h"

#include <cstring>
#include <doctest/doctest.h>

using namespace vmm::virtio;

namespace {

constexpr std::uint64_t kDesc = 0x1000, kAvail = 0x2000, kUsed = 0x3000, kData = 0x8000;

struct Ring {
    vmm::GuestMemory ram = vmm::GuestMemory::create({ .size = 1 << 20, .page_size = 4096, .numa_node = -1, .lock = false });
    GuestMemoryRam view { ram };
    Virtqueue queue { 16 };
    std::uint16_t avail_idx = 0;

    explicit Ring(bool event_idx = false, std::uint16_t size = 16)
    {
        REQUIRE(queue.activate(view, { size, kDesc, kAvail, kUsed }, event_idx));
    }
    void desc(std::uint16_t i, std::uint64_t addr, std::uint32_t len, std::uint16_t flags, std::uint16_t next = 0)
    {
        std::uint8_t d[16];
        std::memcpy(d, &addr, 8);
        std::memcpy(d + 8, &len, 4);
        std::memcpy(d + 12, &flags, 2);
        std::memcpy(d + 14, &next, 2);
        ram.write(kDesc + 16 * i, d, 16);
    }
    void offer(std::uint16_t head)
    {
        ram.write(kAvail + 4 + 2 * (avail_idx % 16), &head, 2);
        ++avail_idx;
        ram.write(kAvail + 2, &avail_idx, 2);
    }
    std::uint16_t used_idx() { return ram.read_object<std::uint16_t>(kUsed + 2); }
    std::uint32_t used_len(std::uint16_t i) { return ram.read_object<std::uint32_t>(kUsed + 4 + 8 * i + 4); }
    std::uint32_t used_id(std::uint16_t i) { return ram.read_object<std::uint32_t>(kUsed + 4 + 8 * i); }
};

} // namespace

TEST_CASE("virtqueue: activation validates size, alignment and that the rings are RAM")
{
    vmm::GuestMemory ram = vmm::GuestMemory::create({ .size = 1 << 20, .page_size = 4096, .numa_node = -1, .lock = false });
    GuestMemoryRam view(ram);
    Virtqueue q(256);
    CHECK_FALSE(q.activate(view, { 0, kDesc, kAvail, kUsed }, false));
    CHECK_FALSE(q.activate(view, { 3, kDesc, kAvail, kUsed }, false));     // not a power of two
    CHECK_FALSE(q.activate(view, { 512, kDesc, kAvail, kUsed }, false));   // above max
    CHECK_FALSE(q.activate(view, { 16, kDesc + 8, kAvail, kUsed }, false)); // desc not 16-aligned
    CHECK_FALSE(q.activate(view, { 16, kDesc, kAvail + 1, kUsed }, false));
    CHECK_FALSE(q.activate(view, { 16, kDesc, kAvail, kUsed + 2 }, false));
    CHECK_FALSE(q.activate(view, { 16, (1 << 20) - 16, kAvail, kUsed }, false)); // runs off RAM
    CHECK_FALSE(q.activate(view, { 16, 0xffff'ffff'ffff'fff0ull, kAvail, kUsed }, false));
    CHECK_FALSE(q.ready());
    CHECK(q.activate(view, { 16, kDesc, kAvail, kUsed }, false));
    CHECK(q.ready());
}

TEST_CASE("virtqueue: a readable+writable chain is popped and published")
{
    Ring r;
    r.desc(0, kData, 44, kDescFlagNext, 1);
    r.desc(1, kData + 64, 100, kDescFlagNext, 2);
    r.desc(2, kData + 256, 3776, kDescFlagWrite);
    r.offer(0);
    DescriptorChain c;
    REQUIRE(r.queue.pop(c));
    CHECK(c.head == 0);
    CHECK(c.readable.size() == 2);
    CHECK(c.readable_bytes == 144);
    CHECK(c.writable_bytes == 3776);
    CHECK(c.writable[0].data == r.ram.translate(kData + 256, 1));
    CHECK_FALSE(r.queue.pop(c));
    r.queue.add_used(0, 12);
    CHECK(r.used_idx() == 1);
    CHECK(r.used_id(0) == 0);
    CHECK(r.used_len(0) == 12);
}

TEST_CASE("virtqueue: malformed chains are returned with length 0 and skipped")
{
    Ring r;
    r.desc(0, (1 << 20) - 8, 64, 0);                        // runs off the end of RAM
    r.desc(1, 0xffff'ffff'ffff'0000ull, 0x10000, 0);        // address overflow
    r.desc(2, kData, 0xffff'ffff, 0);                       // huge length
    r.desc(3, kData, 16, kDescFlagNext, 3);                 // loop onto itself
    r.desc(4, kData, 16, kDescFlagNext, 5);                 // two-descriptor cycle
    r.desc(5, kData, 16, kDescFlagNext, 4);
    r.desc(6, kData, 16, kDescFlagWrite | kDescFlagNext, 7); // readable after writable
    r.desc(7, kData, 16, 0);
    r.desc(8, kData, 16, kDescFlagIndirect);                // indirect: not offered
    r.desc(9, kData, 16, kDescFlagNext, 200);               // next out of the table
    r.desc(10, kData, 44, 0);                               // a good one at the end
    for (std::uint16_t h : { 0, 1, 2, 3, 4, 6, 8, 9 })
        r.offer(h);
    r.offer(999); // head index out of range: cannot be returned, only skipped
    r.offer(10);
    DescriptorChain c;
    REQUIRE(r.queue.pop(c));
    CHECK(c.head == 10);
    CHECK(r.queue.malformed_chains() == 9);
    CHECK(r.used_idx() == 8);
    for (std::uint16_t i = 0; i < 8; ++i)
        CHECK(r.used_len(i) == 0);
    CHECK_FALSE(r.queue.pop(c));
}

TEST_CASE("virtqueue: an avail index more than a ring ahead breaks the queue until reset")
{
    Ring r;
    std::uint16_t idx = 40;
    r.ram.write(kAvail + 2, &idx, 2);
    DescriptorChain c;
    CHECK_FALSE(r.queue.pop(c));
    CHECK(r.queue.broken());
    CHECK_FALSE(r.queue.pop(c));
}

TEST_CASE("virtqueue: without EVENT_IDX the driver's NO_INTERRUPT flag suppresses interrupts")
{
    Ring r(false);
    r.desc(0, kData, 44, 0);
    CHECK_FALSE(r.queue.needs_interrupt()); // nothing used yet
    r.offer(0);
    DescriptorChain c;
    REQUIRE(r.queue.pop(c));
    r.queue.add_used(c.head, 0);
    std::uint16_t flags = kAvailFlagNoInterrupt;
    r.ram.write(kAvail, &flags, 2);
    CHECK_FALSE(r.queue.needs_interrupt());
    flags = 0;
    r.ram.write(kAvail, &flags, 2);
    r.offer(0);
    REQUIRE(r.queue.pop(c));
    r.queue.add_used(c.head, 0);
    CHECK(r.queue.needs_interrupt());
}

TEST_CASE("virtqueue: EVENT_IDX interrupts only when used_event is crossed, and publishes avail_event")
{
    Ring r(true);
    r.desc(0, kData, 44, 0);
    DescriptorChain c;
    auto use_one = [&] {
        r.offer(0);
        REQUIRE(r.queue.pop(c));
        r.queue.add_used(c.head, 0);
    };
    std::uint16_t used_event = 2; // "interrupt me when entry 2 is used" (idx goes past 2)
    r.ram.write(kAvail + 4 + 2 * 16, &used_event, 2);
    use_one(); // used idx 1
    CHECK_FALSE(r.queue.needs_interrupt());
    use_one(); // 2
    CHECK_FALSE(r.queue.needs_interrupt());
    use_one(); // 3: crosses 2
    CHECK(r.queue.needs_interrupt());
    use_one(); // 4
    CHECK_FALSE(r.queue.needs_interrupt());

    CHECK_FALSE(r.queue.enable_notifications());
    CHECK(r.ram.read_object<std::uint16_t>(kUsed + 4 + 8 * 16) == 4); // avail_event = next to pop
    r.offer(0);
    CHECK(r.queue.enable_notifications()); // something arrived meanwhile
}

TEST_CASE("virtqueue: undo_pop hands the same chain out again; reset forgets everything")
{
    Ring r;
    r.desc(0, kData, 44, kDescFlagWrite);
    r.offer(0);
    DescriptorChain c;
    REQUIRE(r.queue.pop(c));
    r.queue.undo_pop();
    REQUIRE(r.queue.pop(c));
    CHECK(c.head == 0);
    r.queue.reset();
    CHECK_FALSE(r.queue.ready());
    CHECK_FALSE(r.queue.pop(c));
}

TEST_CASE("segment copies span descriptors and stop at the end")
{
    std::uint8_t a[3] = {}, b[5] = {};
    std::vector<BufferSegment> segs { { a, 3 }, { b, 5 } };
    const char* text = "abcdefgh";
    CHECK(copy_to_segments(segs, 2, text, 8) == 6);
    CHECK(a[2] == 'a');
    CHECK(b[0] == 'b');
    CHECK(b[4] == 'f');
    char out[8] = {};
    CHECK(copy_from_segments(segs, 1, out, 8) == 7);
    CHECK(out[1] == 'a');
    std::vector<iovec> iov;
    CHECK(segments_to_iovecs(segs, 4, 100, iov) == 4);
    REQUIRE(iov.size() == 1);
    CHECK(iov[0].iov_base == b + 1);
    // append_iovecs: one scatter list over several chains, earlier entries kept.
    CHECK(append_iovecs(segs, 1, 5, iov) == 5);
    REQUIRE(iov.size() == 3);
    CHECK(iov[0].iov_base == b + 1);
    CHECK(iov[1].iov_base == a + 1);
    CHECK(iov[1].iov_len == 2);
    CHECK(iov[2].iov_base == b);
    CHECK(iov[2].iov_len == 3);
}

TEST_CASE("virtqueue: undo_pop(n) hands the last n chains of consecutive entries out again, in order")
{
    Ring r;
    for (std::uint16_t i = 0; i < 4; ++i) {
        r.desc(i, kData + 64 * i, 44, kDescFlagWrite);
        r.offer(i);
    }
    DescriptorChain c;
    for (std::uint16_t i = 0; i < 4; ++i)
        REQUIRE(r.queue.pop(c));
    r.queue.undo_pop(3);
    CHECK(r.queue.next_avail() == 1);
    for (std::uint16_t i = 1; i < 4; ++i) {
        REQUIRE(r.queue.pop(c));
        CHECK(c.head == i);
    }
    CHECK_FALSE(r.queue.pop(c));
}

TEST_CASE("virtqueue: resume() continues a ring at the given avail index and the ring's used index")
{
    Ring r;
    r.desc(0, kData, 44, 0);
    r.desc(1, kData + 64, 44, 0);
    r.offer(0);
    r.offer(1);
    DescriptorChain c;
    REQUIRE(r.queue.pop(c));
    r.queue.add_used(c.head, 0);
    CHECK(r.queue.next_avail() == 1);
    // Stopped (vhost-user GET_VRING_BASE says 1), then started again from there.
    std::uint16_t base = r.queue.next_avail();
    r.queue.reset();
    REQUIRE(r.queue.resume(r.view, { 16, kDesc, kAvail, kUsed }, false, base));
    REQUIRE(r.queue.pop(c));
    CHECK(c.head == 1);
    r.queue.add_used(c.head, 0);
    CHECK(r.used_idx() == 2);
    CHECK(r.used_id(1) == 1);
    CHECK_FALSE(r.queue.resume(r.view, { 16, kDesc + 8, kAvail, kUsed }, false, 0)); // checked like activate()
    CHECK_FALSE(r.queue.ready());
}
