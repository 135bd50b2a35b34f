// One vsock Connection on its own, without a muxer or a device: guest packets are built in
// memory, the parent's side is a socketpair, and the tests read the packets the connection
// writes for the guest. Covers both handshakes, data and credit both ways, the half-close and
// clean-close sequence, resets, and a local service.
#include "vmm/vsock/vsock_connection.h"
#include "vmm/vsock/vsock_services.h"

#include "base/file.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace vmm;
using namespace vmm::vsock;

namespace {

constexpr std::uint64_t kGuestCid = 16;
constexpr std::uint32_t kGuestPort = 5000;
constexpr std::uint32_t kHostPort = 1u << 30;

// Everything a connection needs around it, plus a parent-side socket.
struct Harness {
    base::UniqueFd epoll { ::epoll_create1(EPOLL_CLOEXEC) };
    VsockStats stats;
    std::vector<iovec> iov;
    ConnectionContext context { epoll.get(), kGuestCid, stats, iov };
    base::UniqueFd parent; // the parent's end; the connection gets the other
    base::UniqueFd ours;

    Harness()
    {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
        parent.reset(fds[0]);
        ours.reset(fds[1]);
    }

    std::string parent_reads()
    {
        char buffer[4096];
        ssize_t n = ::recv(parent.get(), buffer, sizeof buffer, MSG_DONTWAIT);
        return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : n == 0 ? "<EOF>" : "";
    }
};

// A guest packet: header then payload, as one readable segment.
struct GuestPacket {
    std::vector<std::uint8_t> bytes;
    std::vector<virtio::BufferSegment> segments;
    PacketHeader header;

    GuestPacket(std::uint16_t op, std::string payload = "", std::uint32_t flags = 0, std::uint32_t buf_alloc = 64 * 1024)
    {
        header = PacketHeader::stream(kGuestCid, kGuestPort, kParentCid, kHostPort, op);
        header.flags = flags;
        header.len = static_cast<std::uint32_t>(payload.size());
        header.buf_alloc = buf_alloc;
        bytes.resize(kHeaderSize + payload.size());
        header.encode(bytes.data());
        std::memcpy(bytes.data() + kHeaderSize, payload.data(), payload.size());
        segments.push_back({ bytes.data(), static_cast<std::uint32_t>(bytes.size()) });
    }
};

// An rx buffer of `size` bytes and what the connection wrote into it.
struct RxBuffer {
    std::vector<std::uint8_t> bytes;
    std::vector<virtio::BufferSegment> segments;
    std::size_t length { 0 };

    explicit RxBuffer(std::size_t size = 4096)
        : bytes(size)
    {
        segments.push_back({ bytes.data(), static_cast<std::uint32_t>(size) });
    }
    PacketHeader header() const { return PacketHeader::decode(bytes.data()); }
    std::string payload() const { return std::string(reinterpret_cast<const char*>(bytes.data()) + kHeaderSize, length - kHeaderSize); }
};

RxBuffer send(Connection& c, std::size_t size = 4096)
{
    RxBuffer rx(size);
    rx.length = c.send_pkt(rx.segments, size);
    return rx;
}

std::unique_ptr<Connection> from_guest(Harness& h)
{
    GuestPacket request(kOpRequest);
    return Connection::accepted_from_guest(h.context, request.header, 1024, std::move(h.ours), nullptr);
}

} // namespace

TEST_CASE("a guest's REQUEST is answered with RESPONSE and the connection is established")
{
    Harness h;
    auto c = from_guest(h);
    CHECK(c->state() == Connection::State::Established);
    CHECK(c->take_rx_request());
    CHECK_FALSE(c->take_rx_request()); // once
    RxBuffer rx = send(*c);
    REQUIRE(rx.length == kHeaderSize);
    CHECK(rx.header().op == kOpResponse);
    CHECK(rx.header().src_port == kHostPort);
    CHECK(rx.header().dst_port == kGuestPort);
    CHECK(rx.header().dst_cid == kGuestCid);
    CHECK(rx.header().buf_alloc == kConnectionBuffer);
    CHECK(h.stats.connections_total == 1);
    CHECK_FALSE(c->has_more_for_guest());
}

TEST_CASE("the parent's CONNECT: REQUEST to the guest, then OK on RESPONSE; a second RESPONSE resets")
{
    Harness h;
    auto c = Connection::requested_by_parent(h.context, kGuestPort, kHostPort, 1024, std::move(h.ours));
    CHECK(c->state() == Connection::State::LocalInit);
    CHECK(c->has_deadline());
    CHECK(c->expired(std::chrono::steady_clock::now() + kConnectTimeout + std::chrono::milliseconds(1)));
    RxBuffer rx = send(*c);
    CHECK(rx.header().op == kOpRequest);
    GuestPacket response(kOpResponse);
    c->recv_pkt(response.header, response.segments);
    CHECK(c->state() == Connection::State::Established);
    CHECK_FALSE(c->has_deadline());
    CHECK(h.parent_reads() == "OK " + std::to_string(kHostPort) + "\n");
    c->recv_pkt(response.header, response.segments);
    CHECK(c->state() == Connection::State::Killed);
    CHECK(c->ended());
}

TEST_CASE("guest data reaches the parent; bytes beyond the advertised credit reset the connection")
{
    Harness h;
    auto c = from_guest(h);
    send(*c); // RESPONSE
    GuestPacket data(kOpRw, "hello");
    c->recv_pkt(data.header, data.segments);
    CHECK(h.parent_reads() == "hello");
    CHECK(h.stats.bytes_to_host == 5);
    CHECK(c->state() == Connection::State::Established);

    GuestPacket too_much(kOpRw, std::string(kConnectionBuffer, 'x'));
    ::shutdown(h.parent.get(), SHUT_RD); // the parent takes nothing more: bytes stay buffered
    c->recv_pkt(too_much.header, too_much.segments);
    CHECK(c->ended());
    CHECK(c->state() == Connection::State::Killed);
}

TEST_CASE("a guest that sends more than its credit allows is reset and counted")
{
    Harness h;
    auto c = from_guest(h);
    send(*c);
    // Fill the parent's socket so that nothing more is consumed.
    std::string chunk(64 * 1024, 'a');
    std::size_t sent = 0;
    for (int i = 0; i < 64; ++i) {
        GuestPacket p(kOpRw, chunk.substr(0, 16 * 1024));
        c->recv_pkt(p.header, p.segments);
        if (c->ended())
            break;
        sent += 16 * 1024;
    }
    CHECK(c->ended());
    CHECK(h.stats.credit_violations == 1);
    CHECK(sent >= kConnectionBuffer);
}

TEST_CASE("parent data goes to the guest as RW within its credit, EOF as SHUTDOWN, then a clean close")
{
    Harness h;
    auto c = from_guest(h);
    send(*c);
    REQUIRE(::send(h.parent.get(), "pong", 4, MSG_NOSIGNAL) == 4);
    c->notify(EPOLLIN);
    CHECK(c->take_rx_request());
    RxBuffer rx = send(*c);
    CHECK(rx.header().op == kOpRw);
    CHECK(rx.payload() == "pong");
    CHECK(h.stats.bytes_to_guest == 4);

    ::shutdown(h.parent.get(), SHUT_WR);
    c->notify(EPOLLIN);
    RxBuffer shutdown = send(*c); // the read finds EOF: SHUTDOWN in the same buffer
    CHECK(shutdown.length == kHeaderSize);
    CHECK(shutdown.header().op == kOpShutdown);
    CHECK(shutdown.header().flags == kShutdownSend);

    GuestPacket guest_done(kOpShutdown, "", kShutdownSend | kShutdownReceive);
    c->recv_pkt(guest_done.header, guest_done.segments);
    CHECK(h.parent_reads() == "<EOF>"); // SHUT_WR passed on
    CHECK(c->state() == Connection::State::Killed); // the final RST of a clean close
}

TEST_CASE("a guest with no credit left gets one CREDIT_REQUEST, and data once it grants credit")
{
    Harness h;
    GuestPacket request(kOpRequest, "", 0, 4);
    auto c = Connection::accepted_from_guest(h.context, request.header, 1024, std::move(h.ours), nullptr);
    send(*c);
    REQUIRE(::send(h.parent.get(), "abcdefgh", 8, MSG_NOSIGNAL) == 8);
    c->notify(EPOLLIN);
    CHECK(send(*c).payload() == "abcd");
    RxBuffer ask = send(*c);
    CHECK(ask.header().op == kOpCreditRequest);
    CHECK(send(*c).length == 0); // asked once
    GuestPacket credit(kOpCreditUpdate, "", 0, 8);
    c->recv_pkt(credit.header, credit.segments);
    CHECK(c->take_rx_request());
    CHECK(send(*c).payload() == "efgh");
}

TEST_CASE("a guest's RST closes the connection with nothing owed; an unknown op resets it")
{
    Harness h;
    auto c = from_guest(h);
    GuestPacket rst(kOpRst);
    c->recv_pkt(rst.header, rst.segments);
    CHECK(c->state() == Connection::State::Closed);

    Harness h2;
    auto d = from_guest(h2);
    GuestPacket bogus(42);
    d->recv_pkt(bogus.header, bogus.segments);
    CHECK(d->state() == Connection::State::Killed);
}

TEST_CASE("a buffer with no room past the header is reported, not retried")
{
    Harness h;
    auto c = from_guest(h);
    send(*c);
    REQUIRE(::send(h.parent.get(), "x", 1, MSG_NOSIGNAL) == 1);
    c->notify(EPOLLIN);
    RxBuffer tiny = send(*c, kHeaderSize);
    CHECK(tiny.length == 0);
    CHECK(c->buffer_too_small());
}

TEST_CASE("the heartbeat service answers 0xB7 and reports it")
{
    Harness h;
    int heartbeats = 0;
    ServiceCallbacks callbacks;
    callbacks.on_heartbeat = [&] { ++heartbeats; };
    GuestPacket request(kOpRequest);
    request.header.dst_port = kHeartbeatPort;
    auto c = Connection::accepted_from_guest(h.context, request.header, 1024, base::UniqueFd(),
        make_local_service(kHeartbeatPort, callbacks));
    send(*c);
    GuestPacket beat(kOpRw, "\xb7");
    beat.header.dst_port = kHeartbeatPort;
    c->recv_pkt(beat.header, beat.segments);
    CHECK(heartbeats == 1);
    CHECK(c->take_rx_request());
    RxBuffer reply = send(*c);
    CHECK(reply.header().op == kOpRw);
    CHECK(reply.payload() == "\xb7");
}

TEST_CASE("the status service records a valid reason, and refuses one that is not UTF-8 (nothing recorded)")
{
    std::vector<std::string> reasons;
    ServiceCallbacks callbacks;
    callbacks.on_app_status = [&](const guest_init::StatusRecord& r) { reasons.push_back(r.reason); };
    auto deliver = [&](const char* reason) {
        guest_init::StatusRecord r = guest_init::status_init_error(guest_init::InitError::CmdMissing, 2, "");
        std::memset(r.reason, 0, sizeof r.reason);
        std::memcpy(r.reason, reason, std::strlen(reason));
        std::uint8_t bytes[guest_init::kStatusRecordSize];
        guest_init::encode_status_record(&r, bytes);
        return make_local_service(kStatusPort, callbacks)->receive(bytes, sizeof bytes);
    };
    CHECK(deliver("/cmd: caf\xc3\xa9 not found"));
    REQUIRE(reasons.size() == 1);
    CHECK(reasons[0] == "/cmd: caf\xc3\xa9 not found");
    for (const char* bad : { "bad \xff\xfe", "truncated \xc3", "overlong \xc0\xaf", "surrogate \xed\xa0\x80", "\x80 lone continuation" })
        CHECK_MESSAGE(!deliver(bad), bad);
    CHECK(reasons.size() == 1);
}

TEST_CASE("a drained ByteQueue lets its storage go: an idle connection holds no buffer from a burst")
{
    // Before: the storage of a burst (up to 2 x kConnectionBuffer) stayed with the connection.
    ByteQueue q;
    CHECK(q.capacity() == 0); // nothing until data has to wait
    std::vector<std::uint8_t> burst(kConnectionBuffer, 0x5a);
    q.append(burst.data(), burst.size());
    CHECK(q.size() == burst.size());
    q.consume(1000);
    CHECK(q.capacity() >= burst.size()); // still holding what waits
    CHECK(q.data()[0] == 0x5a);
    q.consume(q.size());
    CHECK(q.empty());
    CHECK(q.capacity() <= kIdleQueueCapacity);
    const std::uint8_t small[3] = { 1, 2, 3 };
    q.append(small, sizeof small); // and it works again afterwards
    CHECK(q.size() == 3);
    CHECK(q.data()[2] == 3);
}
