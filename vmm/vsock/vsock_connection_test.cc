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

// --- several rx buffers filled by one parent read (send_pkts) ---------------------------------

namespace {

// Offers `buffers` to the connection at once; returns how many it filled.
std::size_t send_many(Connection& c, std::vector<RxBuffer>& buffers)
{
    std::vector<RxBufferView> views;
    for (RxBuffer& b : buffers)
        views.push_back({ &b.segments, b.bytes.size() });
    std::vector<std::uint32_t> lengths(buffers.size(), 0);
    std::size_t used = c.send_pkts(views, lengths);
    for (std::size_t i = 0; i < buffers.size(); ++i)
        buffers[i].length = i < used ? lengths[i] : 0;
    return used;
}

// `count` rx buffers of `size` bytes (built in place: each segment points into its own bytes).
std::vector<RxBuffer> rx_buffers(std::size_t count, std::size_t size = 4096)
{
    std::vector<RxBuffer> buffers;
    buffers.reserve(count);
    for (std::size_t i = 0; i < count; ++i)
        buffers.emplace_back(size);
    return buffers;
}

std::string pattern(std::size_t n)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    return s;
}

void parent_sends(Harness& h, const std::string& data)
{
    REQUIRE(::send(h.parent.get(), data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()));
}

} // namespace

TEST_CASE("one parent read fills several rx buffers, one RW packet each, and may end mid-buffer")
{
    Harness h;
    auto c = from_guest(h);
    send(*c); // RESPONSE
    std::string data = pattern(10000);
    parent_sends(h, data);
    c->notify(EPOLLIN);
    CHECK(c->data_wanted() == 1); // nothing read yet: one buffer's worth
    std::vector<RxBuffer> rx = rx_buffers(4);
    REQUIRE(send_many(*c, rx) == 3); // 4052 + 4052 + 1896: the fourth buffer is not touched
    std::string got;
    for (int i = 0; i < 3; ++i) {
        CHECK(rx[i].header().op == kOpRw);
        CHECK(rx[i].header().len == rx[i].length - kHeaderSize);
        CHECK(rx[i].header().src_port == kHostPort);
        CHECK(rx[i].header().dst_port == kGuestPort);
        got += rx[i].payload();
    }
    CHECK(rx[0].length == 4096);
    CHECK(rx[2].length == kHeaderSize + 1896);
    CHECK(rx[3].length == 0);
    CHECK(got == data);
    CHECK(h.stats.bytes_to_guest == data.size());
    // The socket is drained: nothing more until epoll says so.
    CHECK_FALSE(c->has_more_for_guest());
    CHECK(c->data_wanted() == 0);
}

TEST_CASE("the guest's credit ends the read mid-batch: the rest of the buffers stay unused, then CREDIT_REQUEST")
{
    Harness h;
    GuestPacket request(kOpRequest, "", 0, 5000); // the guest can take 5,000 bytes
    auto c = Connection::accepted_from_guest(h.context, request.header, 1024, std::move(h.ours), nullptr);
    send(*c);
    std::string data = pattern(12000);
    parent_sends(h, data);
    c->notify(EPOLLIN);
    std::vector<RxBuffer> rx = rx_buffers(4);
    REQUIRE(send_many(*c, rx) == 2);
    CHECK(rx[0].payload().size() + rx[1].payload().size() == 5000);
    CHECK(rx[0].payload() + rx[1].payload() == data.substr(0, 5000));
    CHECK(c->data_wanted() == 0); // no credit left
    std::vector<RxBuffer> more = rx_buffers(4);
    REQUIRE(send_many(*c, more) == 1);
    CHECK(more[0].header().op == kOpCreditRequest);
    // The guest consumed those 5,000: the next 5,000 (of 7,000 waiting) come in two buffers.
    GuestPacket credit(kOpCreditUpdate, "", 0, 5000);
    credit.header.fwd_cnt = 5000;
    c->recv_pkt(credit.header, credit.segments);
    CHECK(c->take_rx_request());
    std::vector<RxBuffer> rest = rx_buffers(4);
    REQUIRE(send_many(*c, rest) == 2);
    CHECK(rest[0].payload() + rest[1].payload() == data.substr(5000, 5000));
}

TEST_CASE("data_wanted grows while reads fill everything they are given, shrinks to what came, stops at the credit")
{
    Harness h;
    GuestPacket request(kOpRequest, "", 0, 20000); // the guest can take 20,000 bytes
    auto c = Connection::accepted_from_guest(h.context, request.header, 1024, std::move(h.ours), nullptr);
    send(*c);
    parent_sends(h, pattern(30000));
    c->notify(EPOLLIN);
    const std::size_t room = 4096 - kHeaderSize;
    std::vector<RxBuffer> one = rx_buffers(1);
    REQUIRE(send_many(*c, one) == 1); // filled: ask for twice as much
    CHECK(c->data_wanted() == 2 * room);
    std::vector<RxBuffer> two = rx_buffers(2);
    REQUIRE(send_many(*c, two) == 2);
    CHECK(c->data_wanted() == 20000 - 3 * room); // 4 * room would pass the guest's credit
    GuestPacket credit(kOpCreditUpdate, "", 0, 20000);
    credit.header.fwd_cnt = static_cast<std::uint32_t>(3 * room);
    c->recv_pkt(credit.header, credit.segments);
    CHECK(c->data_wanted() == 4 * room);
    std::vector<RxBuffer> many = rx_buffers(8);
    std::size_t used = send_many(*c, many); // 30,000 - 3 * room are left: a short read
    CHECK(used == 5);
    CHECK(c->data_wanted() == 0); // drained: epoll's turn
    parent_sends(h, "x");
    c->notify(EPOLLIN);
    CHECK(c->data_wanted() == std::min<std::size_t>(30000 - 3 * room, 20000 - (30000 - 3 * room)));
}

TEST_CASE("a buffer with no room past the header ends the batch; as the first buffer it is reported")
{
    Harness h;
    auto c = from_guest(h);
    send(*c);
    std::string data = pattern(9000);
    parent_sends(h, data);
    c->notify(EPOLLIN);
    std::vector<RxBuffer> rx = rx_buffers(3);
    rx[1] = RxBuffer(kHeaderSize);
    REQUIRE(send_many(*c, rx) == 1); // only the first: the header-only one is never given data
    CHECK(rx[0].payload() == data.substr(0, 4096 - kHeaderSize));
    std::vector<RxBuffer> tiny_first = rx_buffers(2);
    tiny_first[0] = RxBuffer(kHeaderSize);
    CHECK(send_many(*c, tiny_first) == 0);
    CHECK(c->buffer_too_small());
    std::vector<RxBuffer> after = rx_buffers(2);
    REQUIRE(send_many(*c, after) == 2);
    CHECK(after[0].payload() + after[1].payload() == data.substr(4096 - kHeaderSize));
}

TEST_CASE("segments shorter than the capacity claimed end the read at that buffer: every byte lands where its header says")
{
    Harness h;
    auto c = from_guest(h);
    send(*c);
    std::string data = pattern(6000);
    parent_sends(h, data);
    c->notify(EPOLLIN);
    std::vector<RxBuffer> rx = rx_buffers(3);
    rx[0].segments[0].length = 100; // the view below claims 4,096 bytes
    std::vector<RxBufferView> views;
    for (RxBuffer& b : rx)
        views.push_back({ &b.segments, b.bytes.size() });
    std::vector<std::uint32_t> lengths(3, 0);
    REQUIRE(c->send_pkts(views, lengths) == 1);
    CHECK(lengths[0] == 100);
    rx[0].length = lengths[0];
    CHECK(rx[0].header().len == 100 - kHeaderSize);
    CHECK(rx[0].payload() == data.substr(0, 100 - kHeaderSize));
    CHECK(rx[1].bytes == std::vector<std::uint8_t>(4096, 0)); // untouched
}

TEST_CASE("a parent that closes mid-batch: its bytes fill what they fill, then SHUTDOWN, then the clean close")
{
    Harness h;
    auto c = from_guest(h);
    send(*c);
    std::string data = pattern(5000);
    parent_sends(h, data);
    h.parent.reset(); // gone: its bytes are still to be read, then end-of-file
    c->notify(EPOLLIN | EPOLLHUP);
    std::vector<RxBuffer> rx = rx_buffers(4);
    REQUIRE(send_many(*c, rx) == 2);
    CHECK(rx[0].payload() + rx[1].payload() == data);
    CHECK(c->has_more_for_guest()); // hung up: the end-of-file is read without epoll's help
    std::vector<RxBuffer> next = rx_buffers(4);
    REQUIRE(send_many(*c, next) == 1);
    CHECK(next[0].header().op == kOpShutdown);
    CHECK(next[0].header().flags == kShutdownSend);
    GuestPacket guest_done(kOpShutdown, "", kShutdownSend | kShutdownReceive);
    c->recv_pkt(guest_done.header, guest_done.segments);
    CHECK(c->state() == Connection::State::Killed); // the final RST of a clean close
}

TEST_CASE("control packets take one buffer of a batch; a local service's reply one buffer too")
{
    Harness h;
    GuestPacket request(kOpRequest);
    request.header.dst_port = kHeartbeatPort;
    auto c = Connection::accepted_from_guest(h.context, request.header, 1024, base::UniqueFd(),
        make_local_service(kHeartbeatPort, ServiceCallbacks {}));
    std::vector<RxBuffer> rx = rx_buffers(3);
    REQUIRE(send_many(*c, rx) == 1);
    CHECK(rx[0].header().op == kOpResponse);
    CHECK(rx[1].length == 0);
    GuestPacket beat(kOpRw, "\xb7");
    beat.header.dst_port = kHeartbeatPort;
    c->recv_pkt(beat.header, beat.segments);
    CHECK(c->data_wanted() == 0); // a service's reply is copied, not read from a socket
    std::vector<RxBuffer> reply = rx_buffers(3);
    REQUIRE(send_many(*c, reply) == 1);
    CHECK(reply[0].payload() == "\xb7");
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
