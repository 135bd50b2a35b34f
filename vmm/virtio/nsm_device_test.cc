// The NSM virtio-mmio device with a synthetic guest driver: identity, the Linux driver's
// two-chain requests and one-chain requests, request and response limits, a response buffer
// posted late, malformed chains, reset mid-way, and the device thread.
#include "vmm/testing/nsm_test_driver.h"
#include "vmm/virtio/nsm_queue.h"

#include <cstring>
#include <doctest/doctest.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

using namespace vmm::virtio;
using vmm::virtio::testing::NsmTestDriver;
using vmm::virtio::testing::UsedEntry;

namespace {

struct Fixture {
    vmm::GuestMemory ram = vmm::GuestMemory::create({ .size = 8 << 20, .page_size = 4096, .numa_node = -1, .lock = false });
    std::vector<std::string> requests;
    std::string reply_prefix = "answer to ";
    std::unique_ptr<NsmDevice> dev = NsmDevice::create(std::make_unique<GuestMemoryRam>(ram), [this](std::string_view r) {
        requests.emplace_back(r);
        return reply_prefix + std::string(r);
    });
    NsmTestDriver guest { *dev, ram };

    // Whether the device raised its interrupt since the last call (reads the eventfd).
    bool interrupted()
    {
        std::uint64_t count = 0;
        return ::read(dev->interrupt_fd(), &count, sizeof count) == sizeof count && count > 0;
    }
};

} // namespace

TEST_CASE("the NSM device is virtio device 33 with one queue, no feature bits and no config space")
{
    Fixture f;
    CHECK(f.guest.read32(mmio::kDeviceId) == 33);
    f.guest.write32(mmio::kDeviceFeaturesSel, 0);
    CHECK(f.guest.read32(mmio::kDeviceFeatures) == kFeatureEventIdx);
    f.guest.write32(mmio::kDeviceFeaturesSel, 1);
    CHECK(f.guest.read32(mmio::kDeviceFeatures) == (kFeatureVersion1 >> 32));
    CHECK(f.guest.read32(mmio::kConfig) == 0);
    REQUIRE(f.guest.init());
    f.guest.write32(mmio::kQueueSel, 1);
    CHECK(f.guest.read32(mmio::kQueueNumMax) == 0);
    f.guest.write32(mmio::kQueueSel, 0);
    CHECK(f.guest.read32(mmio::kQueueNumMax) == NsmDevice::kQueueSize);
}

TEST_CASE("a request in the Linux driver's layout gets the handler's bytes, the right used lengths and an interrupt")
{
    for (bool event_idx : { true, false }) {
        CAPTURE(event_idx);
        Fixture f;
        REQUIRE(f.guest.init(event_idx));
        std::uint16_t d = f.guest.post_request("\xa1\x66nonce!");
        f.guest.kick();
        CHECK(f.dev->run_once(0) == 1);
        REQUIRE(f.requests.size() == 1);
        CHECK(f.requests[0] == "\xa1\x66nonce!");
        std::vector<UsedEntry> used = f.guest.take_used();
        REQUIRE(used.size() == 2);
        CHECK(used[0].head == d);
        CHECK(used[0].length == 0);
        CHECK(used[1].head == d + 1);
        CHECK(used[1].length == 18);
        CHECK(f.guest.response(static_cast<std::uint16_t>(d + 1), 18) == "answer to \xa1\x66nonce!");
        CHECK(f.interrupted());
        CHECK((f.guest.read32(mmio::kInterruptStatus) & kInterruptUsedBuffer) != 0);
        CHECK(f.dev->requests_served() == 1);
    }
}

TEST_CASE("a request in one chain (readable, then writable) is answered into the same chain")
{
    Fixture f;
    REQUIRE(f.guest.init());
    std::uint16_t head = f.guest.post_one_chain("ping");
    f.guest.kick();
    CHECK(f.dev->run_once(0) == 1);
    std::vector<UsedEntry> used = f.guest.take_used();
    REQUIRE(used.size() == 1);
    CHECK(used[0].head == head);
    CHECK(used[0].length == 14);
    CHECK(f.guest.response(static_cast<std::uint16_t>(head + 1), 14, true) == "answer to ping");
}

TEST_CASE("requests are answered in order, several per kick")
{
    Fixture f;
    REQUIRE(f.guest.init());
    for (int i = 0; i < 5; ++i)
        f.guest.post_request("req" + std::to_string(i));
    f.guest.kick();
    CHECK(f.dev->run_once(0) == 5);
    REQUIRE(f.requests.size() == 5);
    for (int i = 0; i < 5; ++i)
        CHECK(f.requests[i] == "req" + std::to_string(i));
    CHECK(f.guest.take_used().size() == 10);
}

TEST_CASE("an oversize request reaches the handler cut at 4097 bytes; a long response is cut to the writable room")
{
    Fixture f;
    REQUIRE(f.guest.init());
    f.guest.post_request(std::string(5000, 'x'), 0x3000);
    std::uint16_t d = f.guest.post_request("short", 8);
    f.guest.kick();
    CHECK(f.dev->run_once(0) == 2);
    REQUIRE(f.requests.size() == 2);
    CHECK(f.requests[0] == std::string(vmm::nsm::kMaxRequestSize + 1, 'x'));
    std::vector<UsedEntry> used = f.guest.take_used();
    REQUIRE(used.size() == 4);
    CHECK(used[1].length == 10 + vmm::nsm::kMaxRequestSize + 1);
    CHECK(used[3].head == d + 1);
    CHECK(used[3].length == 8);
    CHECK(f.guest.response(static_cast<std::uint16_t>(d + 1), 8) == "answer t");
}

TEST_CASE("a request whose response buffer is not posted yet waits for it")
{
    Fixture f;
    REQUIRE(f.guest.init());
    f.guest.post_request("first");
    f.guest.kick();
    CHECK(f.dev->run_once(0) == 1);
    CHECK(f.guest.take_used().size() == 2);
    std::uint16_t d = f.guest.post_request("later", 0x3000, false); // avail index 2
    f.guest.kick();
    CHECK(f.dev->run_once(0) == 0);
    CHECK(f.requests.size() == 1);
    CHECK(f.guest.take_used().empty());
    // EVENT_IDX: avail_event names the waiting request, so the Linux driver's kick after it
    // adds the response buffer (old avail index 2, new 4) is not suppressed.
    std::uint16_t avail_event;
    std::memcpy(&avail_event, f.guest.at(NsmTestDriver::kUsed + 4 + 8 * NsmDevice::kQueueSize, 2), 2);
    CHECK(avail_event == 2);
    f.guest.post_response(static_cast<std::uint16_t>(d + 1));
    f.guest.kick();
    CHECK(f.dev->run_once(0) == 1);
    REQUIRE(f.requests.size() == 2);
    CHECK(f.requests[1] == "later");
    std::vector<UsedEntry> used = f.guest.take_used();
    REQUIRE(used.size() == 2);
    CHECK(used[0].head == d);
    CHECK(used[1].length == 15);
}

TEST_CASE("a request followed by another request is returned unanswered; the second is served")
{
    Fixture f;
    REQUIRE(f.guest.init());
    std::uint16_t first = f.guest.post_request("lost", 0x3000, false);
    f.guest.post_request("kept");
    f.guest.kick();
    f.dev->run_once(0);
    REQUIRE(f.requests.size() == 1);
    CHECK(f.requests[0] == "kept");
    std::vector<UsedEntry> used = f.guest.take_used();
    REQUIRE(used.size() == 3);
    CHECK(used[0].head == first);
    CHECK(used[0].length == 0);
    CHECK(used[2].length == 14);
}

TEST_CASE("malformed chains are returned with length 0 and the next request is still served")
{
    Fixture f;
    REQUIRE(f.guest.init());
    // A request outside guest RAM, then a response buffer pointing nowhere, then a good request.
    f.guest.set_desc(40, 0xffff0000, 64, 0);
    f.guest.make_available(40);
    f.guest.set_desc(41, 0x7fff0000, 0x3000, kDescFlagWrite);
    f.guest.make_available(41);
    f.guest.post_request("fine");
    f.guest.kick();
    CHECK_NOTHROW(f.dev->run_once(0));
    CHECK(f.requests == std::vector<std::string> { "fine" });
    for (const UsedEntry& e : f.guest.take_used())
        CHECK((e.length == 0 || e.length == 14));
}

TEST_CASE("a reset between the kick and the device's round drops the request; the driver can start again")
{
    Fixture f;
    REQUIRE(f.guest.init());
    f.guest.post_request("before reset");
    f.guest.kick();
    f.guest.write32(mmio::kStatus, 0);
    CHECK(f.dev->run_once(0) == 0);
    CHECK(f.requests.empty());
    REQUIRE(f.guest.init());
    f.guest.post_request("after reset");
    f.guest.kick();
    CHECK(f.dev->run_once(0) == 1);
    CHECK(f.requests == std::vector<std::string> { "after reset" });
}

TEST_CASE("the device thread \"nsm\" serves kicks, runs posted tasks and stops")
{
    Fixture f;
    CHECK_FALSE(f.dev->run_in_thread([] {}));
    REQUIRE(f.guest.init());
    f.dev->start();
    std::string thread_name;
    CHECK(f.dev->run_in_thread([&] {
        char name[16] = {};
        pthread_getname_np(pthread_self(), name, sizeof name);
        thread_name = name;
    }));
    CHECK(thread_name == "nsm");
    f.guest.post_request("threaded");
    f.guest.kick();
    // The interrupt eventfd is the device's answer; the timeout only guards against a hang.
    pollfd p { f.dev->interrupt_fd(), POLLIN, 0 };
    REQUIRE(::poll(&p, 1, 60000) == 1);
    f.dev->stop();
    CHECK(f.requests == std::vector<std::string> { "threaded" });
    CHECK(f.guest.take_used().size() == 2);
    CHECK_FALSE(f.dev->run_in_thread([] {}));
}
