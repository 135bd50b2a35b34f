// serve_nsm_queue() on a bare virtqueue: the per-round cap that keeps a flooding guest from
// holding the device thread, and the handler never called for a queue that is off.
#include "vmm/testing/nsm_test_driver.h"
#include "vmm/virtio/nsm_queue.h"

#include <doctest/doctest.h>

using namespace vmm::virtio;
using vmm::virtio::testing::NsmTestRing;

TEST_CASE("serve_nsm_queue serves at most kNsmChainsPerRound requests per call and says more are waiting")
{
    vmm::GuestMemory memory = vmm::GuestMemory::create({ .size = 8 << 20, .page_size = 4096, .numa_node = -1, .lock = false });
    GuestMemoryRam ram(memory);
    NsmTestRing ring(ram, 256);
    Virtqueue queue(256);
    REQUIRE(queue.activate(ram, ring.addresses(), true));
    unsigned calls = 0;
    vmm::nsm::RequestHandler handler = [&](std::string_view) { ++calls; return std::string("ok"); };
    for (unsigned i = 0; i < kNsmChainsPerRound + 36; ++i)
        ring.post_request("r", 16);
    NsmQueueRound first = serve_nsm_queue(queue, handler);
    CHECK(first.served == kNsmChainsPerRound);
    CHECK(first.more);
    CHECK(first.interrupt);
    NsmQueueRound second = serve_nsm_queue(queue, handler);
    CHECK(second.served == 36);
    CHECK_FALSE(second.more);
    CHECK(calls == kNsmChainsPerRound + 36);
    CHECK(ring.take_used().size() == 2 * (kNsmChainsPerRound + 36));
}

TEST_CASE("serve_nsm_queue leaves a queue that is not ready alone")
{
    Virtqueue queue(64);
    bool called = false;
    NsmQueueRound r = serve_nsm_queue(queue, [&](std::string_view) { called = true; return std::string(); });
    CHECK(r.served == 0);
    CHECK_FALSE(called);
}
