// The vhost-user NSM backend against the in-process fake QEMU (vmm/testing/
// vhost_user_fake_frontend.h): the handshake of QEMU's vhost-user-device (one queue, no config),
// a request chain through the ring to the handler and its response back (used length, the
// interrupt on the call eventfd), an oversized request cut for the handler, and hostile
// frontends (a second or third ring, a ring outside guest RAM, an oversized message) ending
// only their own connection.
#include "vmm/testing/vhost_user_fake_frontend.h"
#include "vmm/vhost_user/nsm_backend.h"

#include <atomic>
#include <doctest/doctest.h>
#include <thread>

using namespace vmm;
using namespace vmm::vhost_user;

namespace {

constexpr std::uint64_t kRam = 16 << 20;
constexpr std::uint16_t kRingSize = 8;
constexpr std::uint64_t kDesc = 0x200000, kAvail = 0x201000, kUsed = 0x202000;
constexpr std::uint64_t kRequestAt = 0x210000, kResponseAt = 0x220000;
constexpr std::uint32_t kResponseRoom = nsm::kMaxResponseSize;
// What the test handler always answers: {"Error": "InvalidOperation"} in CBOR.
const std::string kErrorResponse = "\xa1\x65" "Error" "\x70" "InvalidOperation";

struct NsmBench {
    FakeFrontend fe { kRam };
    std::vector<std::string> seen; // requests the handler got
    std::unique_ptr<VhostUserNsmBackend> backend;
    std::uint16_t next_head { 0 };
    std::uint16_t avail_idx { 0 };

    NsmBench()
    {
        backend = VhostUserNsmBackend::create(fe.take_backend_socket(), [this](std::string_view request) {
            seen.emplace_back(request);
            return kErrorResponse;
        });
        fe.pump = [this](int ms) { backend->run_once(ms); };
    }
    void write(std::uint64_t gpa, const void* data, std::size_t size) { std::memcpy(fe.ram() + gpa, data, size); }
    template<typename T>
    T read(std::uint64_t gpa)
    {
        T v;
        std::memcpy(&v, fe.ram() + gpa, sizeof v);
        return v;
    }
    // QEMU's vhost-user-device: features, protocol features, owner, the queue count, memory.
    bool handshake()
    {
        auto features = fe.get_u64(request::kGetFeatures);
        auto protocol = fe.get_u64(request::kGetProtocolFeatures);
        if (!features || !protocol || *features != VhostUserNsmBackend::kFeatures)
            return false;
        if (!fe.send_u64(request::kSetProtocolFeatures, protocol::kReplyAck | protocol::kConfig) || !fe.send(request::kSetOwner))
            return false;
        if (fe.get_u64(request::kGetQueueNum) != 1u)
            return false;
        if (!fe.send_u64(request::kSetVringCall, 0, { fe.call_fd(0) }) || !fe.send_u64(request::kSetFeatures, VhostUserNsmBackend::kFeatures))
            return false;
        auto ack = fe.acked(request::kSetMemTable, encode_regions(fe.regions()), { fe.memfd(), fe.memfd() });
        return ack && *ack == 0;
    }
    // The driver's ring at kDesc/kAvail/kUsed, started and enabled.
    bool start_ring(std::uint64_t desc = kDesc)
    {
        VringAddress a { 0, 0, FakeFrontend::kUserBase + desc, FakeFrontend::kUserBase + kUsed, FakeFrontend::kUserBase + kAvail, 0 };
        return fe.send_state(request::kSetVringNum, 0, kRingSize) && fe.send_state(request::kSetVringBase, 0, 0)
            && fe.send(request::kSetVringAddr, encode_address(a)) && fe.send_u64(request::kSetVringKick, 0, { fe.kick_fd(0) })
            && fe.send_state(request::kSetVringEnable, 0, 1) && pump_until([this] { return backend->device_started(); });
    }
    bool pump_until(const std::function<bool()>& done, int rounds = 200)
    {
        for (int i = 0; i < rounds && !done(); ++i)
            backend->run_once(5);
        return done();
    }
    // One request chain: its bytes (device-readable), then room for the response.
    void post(const std::string& request)
    {
        std::uint16_t head = next_head;
        auto set_desc = [this](std::uint16_t i, std::uint64_t addr, std::uint32_t len, std::uint16_t flags, std::uint16_t next) {
            write(kDesc + 16ull * i, &addr, 8);
            write(kDesc + 16ull * i + 8, &len, 4);
            write(kDesc + 16ull * i + 12, &flags, 2);
            write(kDesc + 16ull * i + 14, &next, 2);
        };
        write(kRequestAt, request.data(), request.size());
        set_desc(head, kRequestAt, static_cast<std::uint32_t>(request.size()), virtio::kDescFlagNext, static_cast<std::uint16_t>(head + 1));
        set_desc(static_cast<std::uint16_t>(head + 1), kResponseAt, kResponseRoom, virtio::kDescFlagWrite, 0);
        next_head = static_cast<std::uint16_t>((head + 2) % kRingSize);
        write(kAvail + 4 + 2ull * (avail_idx % kRingSize), &head, 2);
        std::uint16_t used_event = avail_idx; // interrupt me for this one
        write(kAvail + 4 + 2ull * kRingSize, &used_event, 2);
        ++avail_idx;
        write(kAvail + 2, &avail_idx, 2);
        fe.kick(0);
    }
    std::uint16_t used_idx() { return read<std::uint16_t>(kUsed + 2); }
};

} // namespace

TEST_CASE("vhost-user NSM: a request chain goes to the handler, its response comes back with the used length and an interrupt")
{
    NsmBench b;
    REQUIRE(b.handshake());
    CHECK_FALSE(b.backend->device_started());
    REQUIRE(b.start_ring());
    const std::string request = "\xa1\x69" "GetRandom" "\xf6"; // any bytes: the handler decides
    b.post(request);
    REQUIRE(b.pump_until([&] { return b.used_idx() == 1; }));
    REQUIRE(b.seen.size() == 1);
    CHECK(b.seen[0] == request);
    CHECK(b.read<std::uint32_t>(kUsed + 4) == 0);                       // id: the head
    CHECK(b.read<std::uint32_t>(kUsed + 8) == kErrorResponse.size());   // len: what was written
    CHECK(std::string(reinterpret_cast<char*>(b.fe.ram() + kResponseAt), kErrorResponse.size()) == kErrorResponse);
    CHECK(b.fe.calls(0) > 0);
    CHECK(b.backend->requests() == 1);
    CHECK(b.backend->acked_features() == VhostUserNsmBackend::kFeatures);
    // A second one on the same ring.
    b.post("x");
    REQUIRE(b.pump_until([&] { return b.used_idx() == 2; }));
    CHECK(b.seen.size() == 2);
    CHECK_FALSE(b.backend->done());
}

TEST_CASE("vhost-user NSM: a request over 4 KiB reaches the handler cut at 4 KiB + 1 and the connection lives on")
{
    NsmBench b;
    REQUIRE(b.handshake());
    REQUIRE(b.start_ring());
    b.post(std::string(nsm::kMaxRequestSize * 2, 'A'));
    REQUIRE(b.pump_until([&] { return b.used_idx() == 1; }));
    REQUIRE(b.seen.size() == 1);
    CHECK(b.seen[0].size() == nsm::kMaxRequestSize + 1);
    CHECK(b.read<std::uint32_t>(kUsed + 8) == kErrorResponse.size());
    CHECK_FALSE(b.backend->done());
}

TEST_CASE("vhost-user NSM: the config space is empty, reads give zeroes")
{
    NsmBench b;
    REQUIRE(b.handshake());
    std::vector<std::uint8_t> config(kConfigHeaderSize + 8, 0xff);
    std::uint32_t header[3] = { 0, 8, 0 };
    std::memcpy(config.data(), header, sizeof header);
    REQUIRE(b.fe.send(request::kGetConfig, config));
    auto r = b.fe.read_reply();
    REQUIRE(r);
    REQUIRE(r->payload.size() == kConfigHeaderSize + 8);
    for (std::size_t i = kConfigHeaderSize; i < r->payload.size(); ++i)
        CHECK(r->payload[i] == 0);
}

TEST_CASE("vhost-user NSM: a hostile frontend ends its own connection, never the process or another connection")
{
    NsmBench other; // a second connection that must keep working
    REQUIRE(other.handshake());
    REQUIRE(other.start_ring());

    auto ended = [](NsmBench& b) {
        REQUIRE(b.pump_until([&] { return b.backend->done(); }));
        CHECK(b.fe.backend_closed());
        return b.backend->error();
    };
    SUBCASE("a third ring, as for a device with three queues")
    {
        NsmBench b;
        REQUIRE(b.handshake());
        REQUIRE(b.fe.send_state(request::kSetVringNum, 2, kRingSize));
        CHECK(ended(b).find("names ring 2; the NSM device has rings 0 to 0") != std::string::npos);
    }
    SUBCASE("a kick for ring 1")
    {
        NsmBench b;
        REQUIRE(b.handshake());
        REQUIRE(b.fe.send_u64(request::kSetVringKick, 1, { b.fe.kick_fd(1) }));
        CHECK(ended(b).find("names ring 1") != std::string::npos);
    }
    SUBCASE("a ring outside guest RAM")
    {
        NsmBench b;
        REQUIRE(b.handshake());
        CHECK_FALSE(b.start_ring(kRam + 0x1000));
        CHECK(ended(b).find("not inside the memory table") != std::string::npos);
    }
    SUBCASE("an oversized message")
    {
        NsmBench b;
        REQUIRE(b.handshake());
        REQUIRE(b.fe.send(request::kSetVringAddr, std::vector<std::uint8_t>(4096, 0)));
        CHECK(ended(b).find("SET_VRING_ADDR with a 4096-byte payload") != std::string::npos);
    }
    other.post("still here");
    REQUIRE(other.pump_until([&] { return other.used_idx() == 1; }));
    CHECK(other.seen.back() == "still here");
    CHECK_FALSE(other.backend->done());
}

TEST_CASE("vhost-user NSM: on its own thread; done_fd when QEMU goes away")
{
    FakeFrontend fe(kRam);
    std::atomic<int> handled { 0 };
    auto backend = VhostUserNsmBackend::create(fe.take_backend_socket(), [&](std::string_view) {
        ++handled;
        return kErrorResponse;
    });
    backend->start();
    REQUIRE(fe.get_u64(request::kGetFeatures) == VhostUserNsmBackend::kFeatures);
    fe.close_socket();
    pollfd p { backend->done_fd(), POLLIN, 0 };
    REQUIRE(::poll(&p, 1, 5000) == 1);
    CHECK(backend->done());
    CHECK(backend->error().empty()); // a clean close
    backend->stop();
}

TEST_CASE("vhost-user NSM: create() without a handler or a socket is refused")
{
    CHECK_THROWS(VhostUserNsmBackend::create(base::UniqueFd(), [](std::string_view) { return std::string(); }));
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ::close(sv[1]);
    CHECK_THROWS(VhostUserNsmBackend::create(base::UniqueFd(sv[0]), nullptr));
}
