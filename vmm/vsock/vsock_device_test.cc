// The virtio-vsock device without a VM: a synthetic guest driver (vsock_test_driver.h) in a fake
// guest memory on one side, real Unix sockets on the parent side, the device loop run on the
// test's thread. Covers the hybrid-vsock handshakes, the VMM's services, credit in both
// directions, half-close, resets, malformed chains and 1,000 concurrent connections.
#include "vmm/vsock/vsock_device.h"
#include "vmm/testing/vsock_test_driver.h"
#include "vmm/testing/vsock_test_sockets.h"

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

using namespace vmm;
using namespace vmm::vsock;
using namespace vsock_test;

namespace {

constexpr std::uint64_t kCid = 16;

struct Bench {
    std::string dir = temp_dir("vsock-test");
    std::string uds = dir + "/1.vsock";
    GuestMemory ram = GuestMemory::create({ .size = 16 << 20, .page_size = 4096, .numa_node = -1, .lock = false });
    int heartbeats = 0;
    std::atomic<int> quiet_calls { 0 };
    std::vector<guest_init::StatusRecord> records;
    std::unique_ptr<VsockDevice> device;
    std::unique_ptr<TestDriver> guest;

    Bench()
    {
        VsockConfig c;
        c.guest_cid = kCid;
        c.uds_path = uds;
        c.on_heartbeat = [this] { ++heartbeats; };
        c.on_app_status = [this](const guest_init::StatusRecord& r) { records.push_back(r); };
        c.on_quiet = [this] { ++quiet_calls; };
        device = VsockDevice::create(std::make_unique<virtio::GuestMemoryRam>(ram), c);
        guest = std::make_unique<TestDriver>(*device, ram);
    }
    ~Bench()
    {
        guest.reset();
        device.reset();
        std::string cmd = "rm -rf " + dir;
        [[maybe_unused]] int rc = std::system(cmd.c_str());
    }
    // Guest connects to the parent (CID 3 unless told) and expects `op` back.
    std::uint16_t guest_connect(std::uint32_t local_port, std::uint32_t port, std::uint64_t cid = kParentCid)
    {
        guest->send(guest->header(kOpRequest, local_port, port, 0, cid));
        ReceivedPacket p;
        REQUIRE(guest->wait_for(local_port, p));
        return p.header.op;
    }
    // Parent does CONNECT <port>; returns the parent socket and the REQUEST the guest got.
    int parent_connect(std::uint32_t port, PacketHeader& request, const std::string& extra = {})
    {
        int fd = unix_connect(uds);
        send_text(fd, "CONNECT " + std::to_string(port) + "\n" + extra);
        ReceivedPacket p;
        REQUIRE(guest->wait_for(port, p));
        request = p.header;
        return fd;
    }
};

} // namespace

TEST_CASE("vsock: the Linux init order negotiates VERSION_1 and EVENT_IDX; config holds the CID")
{
    Bench b;
    REQUIRE(b.guest->init());
    CHECK(b.device->transport().negotiated_features() == (virtio::kFeatureVersion1 | virtio::kFeatureEventIdx));
    CHECK(b.guest->read_config64() == kCid);
    VirtioMmioWiring wiring = b.device->mmio_wiring();
    CHECK(wiring.registers == &b.device->transport());
    CHECK(wiring.queue_notify_fds == std::vector<int> { b.device->kick_fd(0), b.device->kick_fd(1), b.device->kick_fd(2) });
    CHECK(wiring.interrupt_fd == b.device->interrupt_fd());
    // And without EVENT_IDX too.
    REQUIRE(b.guest->init(false));
    CHECK(b.device->transport().negotiated_features() == virtio::kFeatureVersion1);
    CHECK(b.guest_connect(700, 9000) == kOpResponse);
}

TEST_CASE("vsock: reserved CIDs are refused")
{
    GuestMemory ram = GuestMemory::create({ .size = 1 << 20, .page_size = 4096, .numa_node = -1, .lock = false });
    for (std::uint64_t cid : { 0ull, 2ull, 3ull, 0xffff'ffffull }) {
        VsockConfig c;
        c.guest_cid = cid;
        CHECK_THROWS(VsockDevice::create(std::make_unique<virtio::GuestMemoryRam>(ram), c));
    }
}

TEST_CASE("vsock: heartbeat on 3:9000 answers 0xB7 and tells the daemon; CID 2 works too")
{
    Bench b;
    REQUIRE(b.guest->init());
    for (std::uint64_t cid : { kParentCid, kHostCid }) {
        std::uint32_t port = 1000 + static_cast<std::uint32_t>(cid);
        REQUIRE(b.guest_connect(port, 9000, cid) == kOpResponse);
        b.guest->send(b.guest->header(kOpRw, port, 9000, 1, cid), "\xB7");
        ReceivedPacket p;
        REQUIRE(b.guest->wait_for(port, p));
        CHECK(p.header.op == kOpRw);
        CHECK(p.header.src_cid == cid);
        CHECK(p.payload == "\xB7");
        PacketHeader sd = b.guest->header(kOpShutdown, port, 9000, 0, cid);
        sd.flags = kShutdownReceive | kShutdownSend;
        b.guest->send(sd);
        REQUIRE(b.guest->wait_for(port, p));
        CHECK(p.header.op == kOpRst); // the clean close ends with our RST
    }
    CHECK(b.heartbeats == 2);
    CHECK(b.device->stats().heartbeats == 2);
    CHECK(b.device->stats().connections == 0);
}

TEST_CASE("vsock: on_quiet runs once after a burst of work, once the loop is quiet; never for an idle device")
{
    Bench b;
    REQUIRE(b.guest->init());
    b.device->start(); // on_quiet belongs to the loop thread
    // Wait until whatever the initialisation stirred up has settled.
    auto settle = [&b] {
        for (int i = 0; i < 100; ++i) {
            int before = b.quiet_calls;
            std::this_thread::sleep_for(VsockCore::kQuietAfter * 3);
            if (b.quiet_calls == before)
                return;
        }
        FAIL("on_quiet keeps being called on an idle device");
    };
    settle();
    int idle = b.quiet_calls;
    std::this_thread::sleep_for(VsockCore::kQuietAfter * 5);
    CHECK(b.quiet_calls == idle); // idle: the loop waits without a timeout, nothing runs
    // A burst: a heartbeat exchange, driven by the guest's kicks alone (as a vCPU would: the
    // loop thread must see the work, so this thread runs no device rounds).
    ReceivedPacket p;
    b.guest->send(b.guest->header(kOpRequest, 1100, 9000));
    REQUIRE(b.guest->await(1100, p));
    CHECK(p.header.op == kOpResponse);
    b.guest->send(b.guest->header(kOpRw, 1100, 9000, 1), "\xB7");
    REQUIRE(b.guest->await(1100, p));
    CHECK(p.payload == "\xB7");
    for (int i = 0; i < 500 && b.quiet_calls == idle; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(b.quiet_calls == idle + 1);
    std::this_thread::sleep_for(VsockCore::kQuietAfter * 5);
    CHECK(b.quiet_calls == idle + 1); // once per burst
    b.device->stop();
}

TEST_CASE("vsock: a wrong heartbeat byte resets the connection")
{
    Bench b;
    REQUIRE(b.guest->init());
    REQUIRE(b.guest_connect(1200, 9000) == kOpResponse);
    b.guest->send(b.guest->header(kOpRw, 1200, 9000, 1), "\x01");
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(1200, p));
    CHECK(p.header.op == kOpRst);
    CHECK(b.heartbeats == 0);
}

TEST_CASE("vsock: the status record on 3:9001 is decoded, handed over and acknowledged with 0x06")
{
    Bench b;
    REQUIRE(b.guest->init());
    REQUIRE(b.guest_connect(1300, 9001) == kOpResponse);
    guest_init::StatusRecord r = guest_init::status_exited(3);
    std::uint8_t bytes[guest_init::kStatusRecordSize];
    guest_init::encode_status_record(&r, bytes);
    std::string record(reinterpret_cast<char*>(bytes), sizeof bytes);
    // In two packets, header and payload in separate descriptors.
    b.guest->send(b.guest->header(kOpRw, 1300, 9001, 20), record.substr(0, 20), true);
    b.guest->send(b.guest->header(kOpRw, 1300, 9001, 44), record.substr(20), true);
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(1300, p));
    CHECK(p.header.op == kOpRw);
    CHECK(p.payload == "\x06");
    REQUIRE(b.records.size() == 1);
    CHECK(b.records[0].kind == guest_init::StatusKind::Exited);
    CHECK(b.records[0].value == 3);
    CHECK(b.device->stats().status_records == 1);

    // A record that does not decode gets RST and is not handed over.
    REQUIRE(b.guest_connect(1301, 9001) == kOpResponse);
    std::string bad = record;
    bad[0] = 'X';
    b.guest->send(b.guest->header(kOpRw, 1301, 9001, 64), bad);
    REQUIRE(b.guest->wait_for(1301, p));
    CHECK(p.header.op == kOpRst);
    CHECK(b.records.size() == 1);
}

TEST_CASE("vsock: CONNECT <port> from the parent, OK <host-port> after RESPONSE, bytes both ways")
{
    Bench b;
    REQUIRE(b.guest->init(true, true)); // rx buffers as header + payload descriptors
    PacketHeader req;
    int parent = b.parent_connect(5000, req, "early");
    CHECK(req.op == kOpRequest);
    CHECK(req.src_cid == kParentCid);
    CHECK(req.dst_cid == kCid);
    CHECK(req.src_port >= (1u << 30));
    CHECK(req.src_port < (1u << 31));
    CHECK(read_now(parent).empty()); // no OK before the guest accepted
    PacketHeader resp = b.guest->header(kOpResponse, 5000, req.src_port);
    b.guest->send(resp);
    std::string got;
    b.guest->pump_until([&] { got += read_now(parent); return got.find('\n') != std::string::npos; });
    CHECK(got == "OK " + std::to_string(req.src_port) + "\n");
    // Bytes the parent sent right after its CONNECT line are part of the stream.
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(5000, p));
    CHECK(p.header.op == kOpRw);
    CHECK(p.payload == "early");
    send_text(parent, "ping");
    REQUIRE(b.guest->wait_for(5000, p));
    CHECK(p.payload == "ping");
    b.guest->send(b.guest->header(kOpRw, 5000, req.src_port, 4), "pong");
    got.clear();
    b.guest->pump_until([&] { got += read_now(parent); return got.size() >= 4; });
    CHECK(got == "pong");
    CHECK(b.device->stats().connections == 1);
    ::close(parent);
}

TEST_CASE("vsock: the parent's socket is closed when the guest refuses (RST) or the line is bad")
{
    Bench b;
    REQUIRE(b.guest->init());
    PacketHeader req;
    int parent = b.parent_connect(5001, req);
    b.guest->send(b.guest->header(kOpRst, 5001, req.src_port));
    std::string got;
    b.guest->pump_until([&] { got += read_now(parent); return got.find("<EOF>") != std::string::npos; });
    CHECK(got == "<EOF>");
    ::close(parent);

    for (std::string line : std::vector<std::string> { "HELLO 5\n", "CONNECT\n", "CONNECT x\n", "CONNECT 5 6\n", "CONNECT 99999999999\n",
             std::string(40, 'a') }) {
        int fd = unix_connect(b.uds);
        send_text(fd, line);
        got.clear();
        b.guest->pump_until([&] { got += read_now(fd); return got.find("<EOF>") != std::string::npos; });
        CHECK_MESSAGE(got.find("<EOF>") != std::string::npos, line); // closed (maybe reset: unread bytes)
        ::close(fd);
    }
    // Keyword case does not matter.
    int fd = unix_connect(b.uds);
    send_text(fd, "connect 5002\n");
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(5002, p));
    CHECK(p.header.op == kOpRequest);
    ::close(fd);
}

TEST_CASE("vsock: a guest connection to the parent goes to <uds>_<port>; nobody there gives RST")
{
    Bench b;
    REQUIRE(b.guest->init());
    CHECK(b.guest_connect(2000, 6000) == kOpRst); // nothing listens at <uds>_6000
    int listener = unix_listen(b.uds + "_6000");
    CHECK(b.guest_connect(2001, 6000) == kOpResponse);
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    b.guest->send(b.guest->header(kOpRw, 2001, 6000, 5), "hello");
    std::string got;
    b.guest->pump_until([&] { got += read_now(conn); return got.size() >= 5; });
    CHECK(got == "hello");
    send_text(conn, "world");
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(2001, p));
    CHECK(p.header.op == kOpRw);
    CHECK(p.payload == "world");
    CHECK(p.header.src_port == 6000);
    // The parent closes: the guest hears SHUTDOWN (no more data), closes too and gets the RST.
    ::close(conn);
    REQUIRE(b.guest->wait_for(2001, p));
    CHECK(p.header.op == kOpShutdown);
    CHECK((p.header.flags & kShutdownSend) != 0);
    PacketHeader sd = b.guest->header(kOpShutdown, 2001, 6000);
    sd.flags = kShutdownReceive | kShutdownSend;
    b.guest->send(sd);
    REQUIRE(b.guest->wait_for(2001, p));
    CHECK(p.header.op == kOpRst);
    CHECK(b.device->stats().connections == 0);
    ::close(listener);
}

TEST_CASE("vsock: unknown CIDs, non-stream types and packets for no connection get RST")
{
    Bench b;
    REQUIRE(b.guest->init());
    CHECK(b.guest_connect(3000, 9000, 7) == kOpRst);
    CHECK(b.guest_connect(3001, 9000, 1) == kOpRst);
    PacketHeader h = b.guest->header(kOpRequest, 3002, 9000);
    h.type = 2; // SEQPACKET: not offered
    b.guest->send(h);
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(3002, p));
    CHECK(p.header.op == kOpRst);
    b.guest->send(b.guest->header(kOpRw, 3003, 9000, 3), "abc");
    REQUIRE(b.guest->wait_for(3003, p));
    CHECK(p.header.op == kOpRst);
    // An RST for nothing is not answered; a packet from another source CID is dropped.
    b.guest->send(b.guest->header(kOpRst, 3004, 9000));
    PacketHeader spoof = b.guest->header(kOpRequest, 3005, 9000);
    spoof.src_cid = 99;
    b.guest->send(spoof);
    b.guest->pump();
    CHECK_FALSE(b.guest->take(3004, p));
    CHECK_FALSE(b.guest->take(3005, p));
    CHECK(b.device->stats().malformed_packets >= 1);
}

TEST_CASE("vsock: parent → guest data stops at the guest's credit and resumes on CREDIT_UPDATE")
{
    Bench b;
    REQUIRE(b.guest->init());
    int listener = unix_listen(b.uds + "_6100");
    b.guest->buf_alloc = 16 * 1024;
    REQUIRE(b.guest_connect(2100, 6100) == kOpResponse);
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    std::string data(100 * 1024, 'x');
    REQUIRE(::send(conn, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT) > 50 * 1024);
    std::size_t received = 0;
    bool credit_request = false;
    b.guest->pump_until([&] {
        ReceivedPacket p;
        while (b.guest->take(2100, p)) {
            if (p.header.op == kOpRw)
                received += p.payload.size();
            if (p.header.op == kOpCreditRequest)
                credit_request = true;
        }
        return credit_request;
    });
    CHECK(received == 16 * 1024); // exactly the credit, not a byte more
    CHECK(credit_request);
    // The guest consumed it: its CREDIT_UPDATE lets the next 16 KiB through.
    b.guest->fwd_cnt = 16 * 1024;
    b.guest->send(b.guest->header(kOpCreditUpdate, 2100, 6100));
    b.guest->pump_until([&] {
        ReceivedPacket p;
        while (b.guest->take(2100, p))
            if (p.header.op == kOpRw)
                received += p.payload.size();
        return received >= 32 * 1024;
    });
    CHECK(received == 32 * 1024);
    ::close(conn);
    ::close(listener);
}

TEST_CASE("vsock: a parent that writes and closes at once: the guest gets every byte, then SHUTDOWN")
{
    // The close arrives as EPOLLHUP while the data waits for the guest's credit; the socket
    // leaves the epoll set then, so its end-of-file must be read without epoll's help.
    Bench b;
    REQUIRE(b.guest->init());
    int listener = unix_listen(b.uds + "_6150");
    b.guest->buf_alloc = 4 * 1024;
    REQUIRE(b.guest_connect(2150, 6150) == kOpResponse);
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    std::string data(10 * 1024, 'y');
    REQUIRE(::send(conn, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()));
    ::close(conn);
    std::size_t received = 0;
    bool shutdown_seen = false;
    b.guest->pump_until([&] {
        ReceivedPacket p;
        while (b.guest->take(2150, p)) {
            if (p.header.op == kOpRw) {
                received += p.payload.size();
                b.guest->fwd_cnt = static_cast<std::uint32_t>(received); // consumed: more credit
                b.guest->send(b.guest->header(kOpCreditUpdate, 2150, 6150));
            }
            if (p.header.op == kOpShutdown)
                shutdown_seen = true;
        }
        return shutdown_seen;
    });
    CHECK(received == data.size());
    CHECK(shutdown_seen);
    ::close(listener);
}

TEST_CASE("vsock: guest → parent credit: CREDIT_UPDATE as the parent reads, RST when the guest overruns")
{
    Bench b;
    REQUIRE(b.guest->init());
    int listener = unix_listen(b.uds + "_6200");
    REQUIRE(b.guest_connect(2200, 6200) == kOpResponse);
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    // Just over half our buffer taken by the parent's socket: the guest is told about the
    // freed space (not before: one update per half buffer).
    const std::uint32_t half = kConnectionBuffer / 2 + 1024;
    ReceivedPacket p;
    for (std::uint32_t sent = 0; sent < half;) {
        std::uint32_t n = std::min<std::uint32_t>(half - sent, kMaxPacketPayload);
        b.guest->send(b.guest->header(kOpRw, 2200, 6200, n), std::string(n, 'a'));
        b.guest->pump(2);
        sent += n;
        CHECK((sent == half || !b.guest->take(2200, p)));
    }
    REQUIRE(b.guest->wait_for(2200, p));
    CHECK(p.header.op == kOpCreditUpdate);
    CHECK(p.header.fwd_cnt == half);
    CHECK(p.header.buf_alloc == kConnectionBuffer);

    // The parent stops reading; a guest that ignores our credit gets reset, and we never hold
    // more than one connection buffer for it.
    int other = b.guest_connect(2201, 9000) == kOpResponse;
    CHECK(other);
    bool reset = false;
    std::size_t most_buffered = 0;
    for (int i = 0; i < 40 && !reset; ++i) {
        b.guest->send(b.guest->header(kOpRw, 2200, 6200, 60 * 1024), std::string(60 * 1024, 'b'));
        b.guest->pump(2);
        most_buffered = std::max(most_buffered, b.device->buffered_bytes());
        while (b.guest->take(2200, p))
            reset = reset || p.header.op == kOpRst;
    }
    CHECK(reset);
    CHECK(most_buffered <= kConnectionBuffer);
    CHECK(b.device->stats().credit_violations == 1);
    // Other connections were never blocked.
    b.guest->send(b.guest->header(kOpRw, 2201, 9000, 1), "\xB7");
    REQUIRE(b.guest->wait_for(2201, p));
    CHECK(p.payload == "\xB7");
    ::close(conn);
    ::close(listener);
}

TEST_CASE("vsock: guest → parent through a full parent socket: the stream resumes when the parent reads")
{
    // The parent's socket fills up, guest bytes wait in our buffer; when the parent reads again
    // the rest must go out (EPOLLOUT) and the guest must get its credit back, with no new guest
    // packet to wake us.
    Bench b;
    REQUIRE(b.guest->init());
    int listener = unix_listen(b.uds + "_6250");
    REQUIRE(b.guest_connect(2250, 6250) == kOpResponse);
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    int small = 4096;
    ::setsockopt(conn, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    const std::size_t total = 8 * 1024 * 1024;
    std::size_t sent = 0, received = 0;
    std::uint32_t peer_fwd = 0;
    std::uint32_t peer_buf = kConnectionBuffer;
    int idle_rounds = 0;
    for (int round = 0; round < 20000 && received < total && idle_rounds < 200; ++round) {
        // A driver that honours our credit: never more than buf_alloc - (sent - fwd_cnt) in flight.
        std::size_t credit = peer_buf - (sent - peer_fwd);
        if (sent < total && credit >= 16 * 1024) {
            b.guest->send(b.guest->header(kOpRw, 2250, 6250, 16 * 1024), std::string(16 * 1024, 'c'));
            sent += 16 * 1024;
        }
        b.guest->pump(1);
        ReceivedPacket p;
        while (b.guest->take(2250, p)) {
            REQUIRE(p.header.op != kOpRst);
            peer_fwd = p.header.fwd_cnt;
            peer_buf = p.header.buf_alloc;
        }
        // A slow parent: reads a little, every few rounds.
        std::size_t before = received;
        if (round % 4 == 0) {
            char buffer[8192];
            ssize_t n = ::recv(conn, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n > 0)
                received += static_cast<std::size_t>(n);
        }
        idle_rounds = received == before && sent == total ? idle_rounds + 1 : 0;
        if (idle_rounds > 0 && received < total) { // nothing new in the socket: let the device run
            char buffer[65536];
            b.guest->pump(5);
            ssize_t n = ::recv(conn, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n > 0) {
                received += static_cast<std::size_t>(n);
                idle_rounds = 0;
            }
        }
    }
    CHECK(sent == total);
    CHECK(received == total);
    ::close(conn);
    ::close(listener);
}

TEST_CASE("vsock: half-close in both directions")
{
    Bench b;
    REQUIRE(b.guest->init());
    int listener = unix_listen(b.uds + "_6300");
    REQUIRE(b.guest_connect(2300, 6300) == kOpResponse);
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    // Guest shuts its sending side: the parent reads EOF but can still send.
    b.guest->send(b.guest->header(kOpRw, 2300, 6300, 3), "abc");
    PacketHeader sd = b.guest->header(kOpShutdown, 2300, 6300);
    sd.flags = kShutdownSend;
    b.guest->send(sd);
    std::string got;
    b.guest->pump_until([&] { got += read_now(conn); return got.find("<EOF>") != std::string::npos; });
    CHECK(got == "abc<EOF>");
    send_text(conn, "reply");
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(2300, p));
    CHECK(p.payload == "reply");
    // Parent finishes too: SHUTDOWN then the final RST.
    ::shutdown(conn, SHUT_WR);
    REQUIRE(b.guest->wait_for(2300, p));
    CHECK(p.header.op == kOpShutdown);
    REQUIRE(b.guest->wait_for(2300, p));
    CHECK(p.header.op == kOpRst);
    ::close(conn);

    // Parent shuts its side first: the guest still sends, the parent still reads.
    REQUIRE(b.guest_connect(2301, 6300) == kOpResponse);
    conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    ::shutdown(conn, SHUT_WR);
    REQUIRE(b.guest->wait_for(2301, p));
    CHECK(p.header.op == kOpShutdown);
    b.guest->send(b.guest->header(kOpRw, 2301, 6300, 4), "more");
    got.clear();
    b.guest->pump_until([&] { got += read_now(conn); return got.size() >= 4; });
    CHECK(got == "more");
    ::close(conn);
    ::close(listener);
}

TEST_CASE("vsock: a device reset closes every connection; the guest initialises again")
{
    Bench b;
    REQUIRE(b.guest->init());
    PacketHeader req;
    int parent = b.parent_connect(5100, req);
    b.guest->send(b.guest->header(kOpResponse, 5100, req.src_port));
    std::string got;
    b.guest->pump_until([&] { got += read_now(parent); return got.find('\n') != std::string::npos; });
    REQUIRE(b.device->stats().connections == 1);
    b.guest->write32(virtio::mmio::kStatus, 0);
    CHECK(b.device->stats().connections == 0);
    got.clear();
    b.guest->pump_until([&] { got += read_now(parent); return got.find("<EOF>") != std::string::npos; });
    CHECK(got == "<EOF>");
    ::close(parent);
    CHECK(b.device->transport().resets() >= 1);
    REQUIRE(b.guest->init());
    CHECK(b.guest_connect(800, 9000) == kOpResponse);
}

TEST_CASE("vsock: no rx buffers (a guest that stops reading) blocks nothing; delivery resumes")
{
    Bench b;
    REQUIRE(b.guest->init(true, false, 2));
    // Two buffers: both used by the first two replies; the third waits.
    for (std::uint32_t port : { 4000u, 4001u, 4002u })
        b.guest->send(b.guest->header(kOpRequest, port, 9000));
    for (int i = 0; i < 5; ++i)
        b.device->run_once(0); // no collect(): the guest is not reading
    CHECK(b.guest->used_idx(kQueueTx) == 3); // tx still processed
    CHECK(b.guest->used_idx(kQueueRx) == 2);
    b.guest->collect(); // reads and reposts
    ReceivedPacket p;
    CHECK(b.guest->wait_for(4002, p));
    CHECK(p.header.op == kOpResponse);
}

TEST_CASE("vsock: malformed chains are dropped without harm")
{
    Bench b;
    REQUIRE(b.guest->init());
    TestDriver& g = *b.guest;
    const std::uint64_t ram_end = 16 << 20;
    // tx: out of RAM, huge, a loop, a writable descriptor, too short for a header, len > data.
    g.set_desc(kQueueTx, 200, ram_end - 20, 44, 0, 0);
    g.set_desc(kQueueTx, 201, 0x200000, 0xffff'0000u, 0, 0);
    g.set_desc(kQueueTx, 202, 0x200000, 44, virtio::kDescFlagNext, 203);
    g.set_desc(kQueueTx, 203, 0x200000, 44, virtio::kDescFlagNext, 202);
    g.set_desc(kQueueTx, 204, 0x200000, 44, virtio::kDescFlagWrite, 0);
    g.set_desc(kQueueTx, 205, 0x200000, 10, 0, 0);
    std::uint8_t bytes[kHeaderSize];
    PacketHeader lying = g.header(kOpRw, 4100, 9000, 5000);
    lying.encode(bytes);
    b.ram.write(0x210000, bytes, sizeof bytes);
    g.set_desc(kQueueTx, 206, 0x210000, 44 + 10, 0, 0);
    for (std::uint16_t head : { 200, 201, 202, 204, 205, 206 })
        g.make_available(kQueueTx, head);
    g.kick(kQueueTx);
    // rx: a readable buffer, one too short, one out of RAM.
    g.set_desc(kQueueRx, 200, 0x1f0000, 3776, 0, 0);
    g.set_desc(kQueueRx, 201, 0x1f0000, 20, virtio::kDescFlagWrite, 0);
    g.set_desc(kQueueRx, 202, ram_end, 3776, virtio::kDescFlagWrite, 0);
    b.device->run_once(0);
    CHECK(g.used_idx(kQueueTx) == 6); // all returned
    CHECK(b.device->stats().malformed_chains >= 3);
    // The device still works.
    CHECK(b.guest_connect(4101, 9000) == kOpResponse);
    // An avail index far ahead breaks only that queue's current life; a reset repairs it.
    g.set_avail_idx(kQueueTx, static_cast<std::uint16_t>(g.avail_idx(kQueueTx) + 1000));
    g.kick(kQueueTx);
    b.device->run_once(0);
    REQUIRE(g.init());
    CHECK(b.guest_connect(4102, 9000) == kOpResponse);
}

TEST_CASE("vsock: 1,000 concurrent connections to the parent, then the bound")
{
    Bench b;
    REQUIRE(b.guest->init());
    int listener = unix_listen(b.uds + "_7000");
    std::vector<int> accepted;
    auto accept_all = [&] {
        for (;;) {
            int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0)
                return;
            accepted.push_back(fd);
        }
    };
    std::size_t responses = 0;
    auto drain = [&] {
        for (auto& p : b.guest->inbox)
            responses += p.header.op == kOpResponse;
        b.guest->inbox.clear();
    };
    for (std::uint32_t i = 0; i < 1000; ++i) {
        while (!b.guest->send(b.guest->header(kOpRequest, 10000 + i, 7000))) {
            b.guest->pump(1);
            drain();
        }
        if (i % 50 == 49) {
            b.guest->pump(2);
            drain();
            accept_all();
        }
    }
    b.guest->pump_until([&] { drain(); accept_all(); return responses == 1000; });
    CHECK(responses == 1000);
    CHECK(accepted.size() == 1000);
    CHECK(b.device->stats().connections == 1000);
    // describe() (query's Internals) stays short: a guest's 1,000 connections cannot make
    // query's reply too long to read.
    std::vector<std::string> described = b.device->describe();
    CHECK(described.size() < 64);
    CHECK(std::count(described.begin(), described.end(), "connections not shown: " + std::to_string(1000 - 32)) == 1);
    // Every connection carries bytes.
    for (std::uint32_t i = 0; i < 1000; ++i) {
        while (!b.guest->send(b.guest->header(kOpRw, 10000 + i, 7000, 8), "conn" + std::to_string(1000 + i)))
            b.guest->pump(1);
    }
    b.guest->pump(4);
    std::size_t bytes = 0;
    for (int fd : accepted) {
        std::string got = read_now(fd);
        bytes += got.size();
    }
    CHECK(bytes == 8000);
    CHECK(b.device->buffered_bytes() == 0);
    // Up to the bound (1,024) and one past it.
    for (std::uint32_t i = 1000; i < kMaxConnections; ++i)
        b.guest->send(b.guest->header(kOpRequest, 10000 + i, 9000));
    b.guest->pump(8);
    drain();
    CHECK(b.device->stats().connections == kMaxConnections);
    REQUIRE(b.guest_connect(20000, 9000) == kOpRst);
    CHECK(b.device->stats().refused_connections == 1);
    // A parent past the bound: its CONNECT line is refused (closed), nothing reaches the guest.
    int late = unix_connect(b.uds);
    send_text(late, "CONNECT 5000\n");
    std::string got;
    b.guest->pump_until([&] { got += read_now(late); return got.find("<EOF>") != std::string::npos; });
    CHECK(got == "<EOF>");
    CHECK(b.device->stats().refused_connections == 2);
    CHECK(b.device->stats().connections == kMaxConnections);
    ::close(late);
    for (int fd : accepted)
        ::close(fd);
    ::close(listener);
}

TEST_CASE("vsock: rx buffers with room for a header only carry control packets, never loop")
{
    Bench b;
    REQUIRE(b.guest->init(true, false, 0)); // no regular rx buffers
    TestDriver& g = *b.guest;
    for (std::uint16_t i = 0; i < 4; ++i) {
        g.set_desc(kQueueRx, static_cast<std::uint16_t>(200 + i), 0x1f0000 + 64ull * i, kHeaderSize, virtio::kDescFlagWrite, 0);
        g.make_available(kQueueRx, static_cast<std::uint16_t>(200 + i));
    }
    g.send(g.header(kOpRequest, 4200, 9000));
    g.send(g.header(kOpRw, 4200, 9000, 1), "\xB7");
    for (int i = 0; i < 5; ++i)
        b.device->run_once(0); // must return: the 0xB7 reply fits no 44-byte buffer
    // The RESPONSE used one; the others were handed back empty (data waits, they cannot carry it).
    REQUIRE(g.used_idx(kQueueRx) == 4);
    auto used_entry = [&](std::uint16_t i, std::uint32_t& id, std::uint32_t& len) {
        id = b.ram.read_object<std::uint32_t>(g.used(kQueueRx) + 4 + 8 * i);
        len = b.ram.read_object<std::uint32_t>(g.used(kQueueRx) + 8 + 8 * i);
    };
    std::uint32_t id, len;
    used_entry(0, id, len);
    CHECK(id == 200);
    CHECK(len == kHeaderSize);
    std::uint8_t bytes[kHeaderSize + 1];
    b.ram.read(0x1f0000, bytes, kHeaderSize);
    CHECK(PacketHeader::decode(bytes).op == kOpResponse);
    g.post_rx(1); // a real buffer (descriptor 0): now the reply fits
    for (int i = 0; i < 5; ++i)
        b.device->run_once(0);
    REQUIRE(g.used_idx(kQueueRx) == 5);
    for (std::uint16_t i = 1; i < 4; ++i) {
        used_entry(i, id, len);
        CHECK(id == 200u + i);
        CHECK(len == 0);
    }
    used_entry(4, id, len);
    CHECK(id == 0);
    CHECK(len == kHeaderSize + 1);
    b.ram.read(TestDriver::kRxArea, bytes, kHeaderSize + 1);
    CHECK(PacketHeader::decode(bytes).op == kOpRw);
    CHECK(bytes[kHeaderSize] == 0xB7);
}

TEST_CASE("vsock: a driver left behind (a lost interrupt) is interrupted again until it catches up, then no more")
{
    Bench b;
    REQUIRE(b.guest->init());
    int irq = b.device->interrupt_fd();
    auto interrupts = [irq] {
        std::uint64_t n = 0;
        return ::read(irq, &n, sizeof n) == sizeof n ? n : 0;
    };
    auto run_for_ms = [&](int ms) {
        for (int waited = 0; waited < ms; waited += 20)
            b.device->run_once(20);
    };
    // The driver has taken everything and asks to be told about the next used buffer.
    b.guest->set_used_event(kQueueRx, b.guest->used_idx(kQueueRx));
    b.guest->set_used_event(kQueueTx, b.guest->used_idx(kQueueTx));
    run_for_ms(100);
    interrupts();
    // A REQUEST to a port nobody listens on: the device answers RST on rx and interrupts once.
    b.guest->send(b.guest->header(kOpRequest, 5555, 4444));
    b.device->run_once(0);
    CHECK(interrupts() == 1);
    // The driver never takes the RST (as if that interrupt was lost): after 200 ms, and again
    // after 400 ms more, the device interrupts again.
    run_for_ms(150);
    CHECK(interrupts() == 0);
    run_for_ms(700);
    CHECK(interrupts() >= 2);
    bool counted = false;
    for (const std::string& line : b.device->describe())
        counted = counted || line.find("interrupts raised again for a driver that stayed behind: ") == 0;
    CHECK(counted);
    // It catches up: nothing more.
    ReceivedPacket rst;
    REQUIRE(b.guest->wait_for(5555, rst));
    CHECK(rst.header.op == kOpRst);
    b.guest->set_used_event(kQueueRx, b.guest->used_idx(kQueueRx));
    b.guest->set_used_event(kQueueTx, b.guest->used_idx(kQueueTx));
    b.device->run_once(0);
    interrupts();
    run_for_ms(600);
    CHECK(interrupts() == 0);
}

namespace {

// Fills tx descriptors 0..count-1 with one header-only packet from a CID that is not the
// guest's (the device counts it as malformed and answers nothing) and makes them available.
void make_stray_packets_available(Bench& b, std::uint16_t count)
{
    PacketHeader stray = b.guest->header(kOpRw, 4300, 9000);
    stray.src_cid = kCid + 1;
    std::uint8_t bytes[kHeaderSize];
    stray.encode(bytes);
    b.ram.write(0x210000, bytes, sizeof bytes);
    for (std::uint16_t i = 0; i < count; ++i) {
        b.guest->set_desc(kQueueTx, i, 0x210000, kHeaderSize, 0, 0);
        b.guest->make_available(kQueueTx, i);
    }
}

// Runs `f` on another thread; true if it returned within `limit` (a hung call is left to
// finish once the test has released what it waits for: the caller must do so).
template <typename F>
bool returns_within(std::future<void>& pending, std::chrono::seconds limit, F f)
{
    pending = std::async(std::launch::async, std::move(f));
    return pending.wait_for(limit) == std::future_status::ready;
}

} // namespace

TEST_CASE("vsock: one round takes a bounded number of tx chains; the rest follow in the next rounds")
{
    Bench b;
    REQUIRE(b.guest->init());
    std::uint16_t start = b.guest->used_idx(kQueueTx);
    std::uint64_t malformed = b.device->stats().malformed_packets;
    make_stray_packets_available(b, 256); // a full ring
    b.guest->kick(kQueueTx);
    b.device->run_once(0);
    std::uint16_t first_round = static_cast<std::uint16_t>(b.guest->used_idx(kQueueTx) - start);
    CHECK(first_round > 0);
    CHECK(first_round < 256); // bounded: the lock is released before the ring is done
    // No further kick: the loop comes back for the rest by itself.
    for (int round = 0; round < 4; ++round)
        b.device->run_once(0);
    CHECK(static_cast<std::uint16_t>(b.guest->used_idx(kQueueTx) - start) == 256);
    CHECK(b.device->stats().malformed_packets - malformed == 256);
    CHECK(b.guest_connect(4301, 9000) == kOpResponse); // and the device still works
}

TEST_CASE("vsock: stats() and describe() answer while the device lock is held")
{
    Bench b;
    REQUIRE(b.guest->init());
    REQUIRE(b.guest_connect(4310, 9000) == kOpResponse);
    b.device->start();
    std::future<void> pending;
    std::uint64_t connections = 0;
    std::vector<std::string> lines;
    bool answered = false;
    {
        // As a loop thread in a long round would hold it.
        std::lock_guard hold(b.device->transport().lock());
        answered = returns_within(pending, std::chrono::seconds(2), [&] {
            connections = b.device->stats().connections;
            lines = b.device->describe();
        });
    }
    pending.wait();
    CHECK(answered);
    CHECK(connections == 1);
    CHECK(!lines.empty());
    // Once the loop is free again, describe() has the full lines (queues, connections).
    bool has_queue_line = false;
    for (const std::string& line : b.device->describe())
        has_queue_line = has_queue_line || line.rfind("queue tx: ", 0) == 0;
    CHECK(has_queue_line);
    b.device->stop();
}

TEST_CASE("vsock: a guest that keeps re-adding tx descriptors: describe(), stats() and stop() still answer")
{
    Bench b;
    REQUIRE(b.guest->init());
    make_stray_packets_available(b, 1);
    b.guest->kick(kQueueTx);
    b.device->start();
    std::atomic<bool> storming { true };
    std::thread storm([&] {
        // Re-adds descriptor 0 as fast as the device takes it, never more than a ring ahead.
        TestDriver& g = *b.guest;
        while (storming.load()) {
            bool added = false;
            while (static_cast<std::uint16_t>(g.avail_idx(kQueueTx) - g.used_idx(kQueueTx)) < 256) {
                g.make_available(kQueueTx, 0);
                added = true;
            }
            if (added) {
                std::uint64_t one = 1; // as KVM's ioeventfd does: no register access, no lock
                [[maybe_unused]] ssize_t n = ::write(b.device->kick_fd(kQueueTx), &one, sizeof one);
            }
        }
    });
    // The storm is on once the device has taken a few rings' worth.
    for (std::uint16_t start = b.guest->used_idx(kQueueTx), taken = 0; taken < 2048;)
        taken = static_cast<std::uint16_t>(taken + static_cast<std::uint16_t>(b.guest->used_idx(kQueueTx) - start)), start = b.guest->used_idx(kQueueTx);
    std::future<void> pending;
    std::vector<std::string> lines;
    bool answered = returns_within(pending, std::chrono::seconds(3), [&] {
        for (int i = 0; i < 5; ++i) {
            lines = b.device->describe();
            b.device->stats();
        }
    });
    CHECK(answered);
    bool has_queue_line = false;
    for (const std::string& line : lines)
        has_queue_line = has_queue_line || line.rfind("queue tx: ", 0) == 0;
    CHECK(has_queue_line); // served by the loop between two rounds, not a fallback
    if (answered) {
        pending.wait();
        CHECK(returns_within(pending, std::chrono::seconds(3), [&] { b.device->stop(); }));
    }
    storming.store(false);
    storm.join();
    pending.wait();
    b.device->stop();
    CHECK(b.device->stats().malformed_packets > 256);
}

TEST_CASE("vsock: a CONNECT line that arrives in pieces is buffered; the loop does not spin on it")
{
    Bench b;
    REQUIRE(b.guest->init());
    int fd = unix_connect(b.uds);
    b.device->run_once(0); // accepted
    send_text(fd, "CONN");
    CHECK(b.device->run_once(0) == 1); // the four bytes are read
    int events = 0;
    for (int round = 0; round < 10; ++round)
        events += b.device->run_once(0);
    CHECK(events == 0); // nothing new arrived: no event, no spinning
    send_text(fd, "ECT 50");
    b.device->run_once(0);
    send_text(fd, "10\nearly");
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(5010, p));
    CHECK(p.header.op == kOpRequest);
    b.guest->send(b.guest->header(kOpResponse, 5010, p.header.src_port));
    std::string got;
    b.guest->pump_until([&] { got += read_now(fd); return got.find('\n') != std::string::npos; });
    CHECK(got == "OK " + std::to_string(p.header.src_port) + "\n");
    ReceivedPacket data;
    REQUIRE(b.guest->wait_for(5010, data));
    CHECK(data.payload == "early"); // the bytes after the line are the stream's
    // 32 bytes in pieces without a newline: closed.
    int long_line = unix_connect(b.uds);
    for (int piece = 0; piece < 4; ++piece) {
        send_text(long_line, "CONNECT ");
        b.device->run_once(0);
    }
    got.clear();
    b.guest->pump_until([&] { got += read_now(long_line); return got.find("<EOF>") != std::string::npos; });
    CHECK(got.find("<EOF>") != std::string::npos);
    ::close(long_line);
    ::close(fd);
}

TEST_CASE("vsock: out of file descriptors, the parent listener pauses instead of spinning; parents get in afterwards")
{
    Bench b;
    REQUIRE(b.guest->init());
    int parent = unix_connect(b.uds); // waits in the listener's backlog
    rlimit saved {};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    int highest = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(highest >= 0);
    int highest_keep = highest; // duplicated until EMFILE
    rlimit low = saved;
    low.rlim_cur = static_cast<rlim_t>(highest) + 8;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::vector<int> fillers;
    for (int fd; (fd = ::dup(highest_keep)) >= 0;)
        fillers.push_back(fd);
    b.device->run_once(0); // accept fails with EMFILE
    int events = 0;
    for (int round = 0; round < 10; ++round)
        events += b.device->run_once(0);
    for (int fd : fillers)
        ::close(fd);
    ::close(highest_keep);
    ::setrlimit(RLIMIT_NOFILE, &saved);
    CHECK(events == 0); // the listener waits (before: the same event every round, a core spinning)
    send_text(parent, "CONNECT 5020\n");
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(5020, p)); // resumed by itself
    CHECK(p.header.op == kOpRequest);
    ::close(parent);
}

TEST_CASE("vsock: run_in_loop_thread runs a task on the loop thread, between rounds, and only while it runs")
{
    Bench b;
    REQUIRE(b.guest->init());
    std::atomic<int> runs { 0 };
    auto task = [&] { ++runs; };
    CHECK(!b.device->run_in_loop_thread(task)); // not started: nothing runs
    CHECK(runs == 0);
    b.device->start();
    pid_t caller = ::gettid();
    pid_t runner = 0;
    char name[16] = {};
    REQUIRE(b.device->run_in_loop_thread([&] {
        runner = ::gettid();
        pthread_getname_np(pthread_self(), name, sizeof name);
    }));
    CHECK(runner != caller);
    CHECK(std::string(name) == "vsock");
    // The loop goes on after it: a guest connection is still answered.
    REQUIRE(b.guest_connect(4311, 9000) == kOpResponse);
    // An exception from the task reaches the caller.
    CHECK_THROWS_AS(b.device->run_in_loop_thread([] { throw std::runtime_error("task failed"); }), std::runtime_error);
    CHECK(b.device->run_in_loop_thread(task));
    CHECK(runs == 1);
    b.device->stop();
    CHECK(!b.device->run_in_loop_thread(task)); // stopped: nothing runs
    CHECK(runs == 1);
}

namespace {

std::string stream_pattern(std::size_t n)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>((i * 131 + i / 4093) & 0xff);
    return s;
}

} // namespace

TEST_CASE("vsock: a parent's burst reaches the guest byte-exact through batched reads, never past its credit")
{
    Bench b;
    REQUIRE(b.guest->init());
    TestDriver& g = *b.guest;
    int listener = unix_listen(b.uds + "_6300");
    g.buf_alloc = 64 * 1024;
    REQUIRE(b.guest_connect(2300, 6300) == kOpResponse);
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    REQUIRE(conn >= 0);
    const std::string data = stream_pattern(1 << 20);
    std::size_t written = 0;
    std::string got;
    bool too_long = false, past_credit = false;
    g.pump_until(
        [&] {
            if (written < data.size()) {
                ssize_t n = ::send(conn, data.data() + written, data.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n > 0)
                    written += static_cast<std::size_t>(n);
            }
            ReceivedPacket p;
            while (g.take(2300, p)) {
                if (p.header.op != kOpRw)
                    continue;
                too_long = too_long || p.payload.size() > TestDriver::kRxBufferSize - kHeaderSize;
                got += p.payload;
                // In flight (sent, not yet acknowledged by our fwd_cnt) never beyond buf_alloc.
                past_credit = past_credit || got.size() - g.fwd_cnt > g.buf_alloc;
            }
            if (got.size() - g.fwd_cnt >= 16 * 1024) { // consumed: tell the device
                g.fwd_cnt = static_cast<std::uint32_t>(got.size());
                g.send(g.header(kOpCreditUpdate, 2300, 6300));
            }
            return got.size() >= data.size();
        },
        20000);
    CHECK(got.size() == data.size());
    CHECK(got == data);
    CHECK_FALSE(too_long);
    CHECK_FALSE(past_credit);
    CHECK(b.device->stats().bytes_to_guest == data.size());
    ::close(conn);
    ::close(listener);
}

TEST_CASE("vsock: unusable and malformed rx chains among good ones are returned once, empty; the data skips them")
{
    Bench b;
    REQUIRE(b.guest->init(true, false, 0)); // no regular rx buffers: this test lays them out
    TestDriver& g = *b.guest;
    int listener = unix_listen(b.uds + "_6400");
    // One buffer for the RESPONSE.
    g.set_desc(kQueueRx, 100, 0x1e0000, TestDriver::kRxBufferSize, virtio::kDescFlagWrite, 0);
    g.make_available(kQueueRx, 100);
    g.send(g.header(kOpRequest, 2400, 6400));
    for (int i = 0; i < 5 && g.used_idx(kQueueRx) < 1; ++i)
        b.device->run_once(0);
    REQUIRE(g.used_idx(kQueueRx) == 1);
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    const std::string data = stream_pattern(10000);
    REQUIRE(::send(conn, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()));
    // 200 good, 201 readable (wrong direction), 202 outside RAM (malformed), 203 and 204 good.
    auto at = [](std::uint16_t id) { return 0x1f0000ull + 4096ull * (id - 200); };
    for (std::uint16_t id = 200; id <= 204; ++id) {
        std::uint16_t flags = id == 201 ? 0 : virtio::kDescFlagWrite;
        std::uint64_t address = id == 202 ? (16ull << 20) : at(id);
        g.set_desc(kQueueRx, id, address, TestDriver::kRxBufferSize, flags, 0);
        g.make_available(kQueueRx, id);
    }
    g.kick(kQueueRx);
    for (int i = 0; i < 20 && g.used_idx(kQueueRx) < 6; ++i)
        b.device->run_once(i < 4 ? 0 : 5);
    REQUIRE(g.used_idx(kQueueRx) == 6); // each of the five exactly once
    std::string got;
    std::vector<std::uint32_t> ids;
    for (std::uint16_t i = 1; i < 6; ++i) {
        auto id = b.ram.read_object<std::uint32_t>(g.used(kQueueRx) + 4 + 8 * i);
        auto len = b.ram.read_object<std::uint32_t>(g.used(kQueueRx) + 8 + 8 * i);
        ids.push_back(id);
        if (id == 201 || id == 202) {
            CHECK(len == 0);
            continue;
        }
        REQUIRE(len > kHeaderSize);
        std::string packet(len, '\0');
        b.ram.read(at(static_cast<std::uint16_t>(id)), packet.data(), len);
        PacketHeader h = PacketHeader::decode(reinterpret_cast<const std::uint8_t*>(packet.data()));
        CHECK(h.op == kOpRw);
        CHECK(h.len == len - kHeaderSize);
        got += packet.substr(kHeaderSize);
    }
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::uint32_t> { 200, 201, 202, 203, 204 });
    CHECK(got == data);
    ::close(conn);
    ::close(listener);
}

TEST_CASE("vsock: EVENT_IDX: a device still working asks for no kick; once drained it asks again")
{
    Bench b;
    REQUIRE(b.guest->init());
    TestDriver& g = *b.guest;
    b.guest->pump(); // the device drains whatever init made available and re-arms avail_event
    std::uint64_t saved = g.kicks_saved(kQueueTx);
    // Two packets before the device runs: the first kicks (avail_event names it), the second
    // does not (the device has not reached the first yet) — what Linux's driver decides too.
    g.send(g.header(kOpRequest, 2400, 9000));
    g.send(g.header(kOpRequest, 2401, 9000));
    CHECK(g.kicks_saved(kQueueTx) == saved + 1);
    ReceivedPacket p;
    REQUIRE(g.wait_for(2400, p));
    CHECK(p.header.op == kOpResponse);
    REQUIRE(g.wait_for(2401, p));
    CHECK(p.header.op == kOpResponse);
    // Drained: the device asked again, so the next packet kicks.
    g.send(g.header(kOpRw, 2400, 9000, 1), "\xB7");
    CHECK(g.kicks_saved(kQueueTx) == saved + 1);
    REQUIRE(g.wait_for(2400, p));
    CHECK(p.payload == "\xB7");
}

TEST_CASE("vsock: streams both ways on the loop thread, woken only by kicks the guest did not skip")
{
    Bench b;
    REQUIRE(b.guest->init());
    TestDriver& g = *b.guest;
    int listener = unix_listen(b.uds + "_6500");
    b.device->start();
    g.send(g.header(kOpRequest, 2500, 6500));
    ReceivedPacket p;
    REQUIRE(g.await(2500, p));
    REQUIRE(p.header.op == kOpResponse);
    std::uint32_t peer_alloc = p.header.buf_alloc, peer_fwd = p.header.fwd_cnt;
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    const std::string data = stream_pattern(4 << 20);
    // Guest → parent in 4 KiB packets within the device's credit; the parent reads on a thread.
    std::future<std::string> parent_got = std::async(std::launch::async, [&] {
        std::string got(data.size(), '\0');
        std::size_t n = 0;
        while (n < got.size()) {
            ssize_t r = ::read(conn, got.data() + n, got.size() - n);
            if (r <= 0)
                break;
            n += static_cast<std::size_t>(r);
        }
        got.resize(n);
        return got;
    });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::uint32_t sent = 0;
    while (sent < data.size() && std::chrono::steady_clock::now() < deadline) {
        g.collect();
        while (g.take(2500, p)) {
            peer_alloc = p.header.buf_alloc;
            peer_fwd = p.header.fwd_cnt;
        }
        std::uint32_t credit = peer_alloc - (sent - peer_fwd);
        std::uint32_t n = std::min<std::uint32_t>({ credit, 4096, static_cast<std::uint32_t>(data.size() - sent) });
        if (n == 0 || !g.send(g.header(kOpRw, 2500, 6500, n), data.substr(sent, n)))
            std::this_thread::yield();
        else
            sent += n;
    }
    CHECK(parent_got.get() == data);
    // Parent → guest: the parent writes it all; the guest reads and returns credit.
    std::thread writer([&] {
        std::size_t n = 0;
        while (n < data.size()) {
            ssize_t w = ::write(conn, data.data() + n, data.size() - n);
            if (w <= 0)
                break;
            n += static_cast<std::size_t>(w);
        }
    });
    std::string got;
    while (got.size() < data.size() && std::chrono::steady_clock::now() < deadline) {
        g.collect();
        bool any = false;
        while (g.take(2500, p))
            if (p.header.op == kOpRw) {
                got += p.payload;
                any = true;
            }
        if (got.size() - g.fwd_cnt >= 32 * 1024) {
            g.fwd_cnt = static_cast<std::uint32_t>(got.size());
            g.send(g.header(kOpCreditUpdate, 2500, 6500));
        }
        if (!any)
            std::this_thread::yield();
    }
    CHECK(got == data);
    ::shutdown(conn, SHUT_RDWR);
    writer.join();
    MESSAGE("kicks the guest skipped: tx " << g.kicks_saved(kQueueTx) << ", rx " << g.kicks_saved(kQueueRx));
    b.device->stop();
    ::close(conn);
    ::close(listener);
}
