// The vhost-user vsock backend against an in-process fake QEMU (fake_frontend.h): memfd guest
// RAM shared through SET_MEM_TABLE, kick/call eventfds, QEMU's message order, and the synthetic
// guest driver of the vsock tests on top — so the device model is the same as the MMIO one.
// Covers the handshake and replies, the heartbeat and both directions of hybrid vsock,
// interrupts on the call fds, ring stop/resume (GET_VRING_BASE), disabled rings, polled rings,
// the threaded loop and done_fd, and every kind of bad input ending the connection only.
#include "vmm/testing/vhost_user_fake_frontend.h"
#include "vmm/vhost_user/vsock_backend.h"
#include "vmm/testing/vsock_test_sockets.h"

#include <atomic>
#include <cstdlib>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace vmm;
using namespace vmm::vhost_user;
using namespace vmm::vsock;
using namespace vsock_test;

namespace {

constexpr std::uint64_t kCid = 16;
constexpr std::uint64_t kRam = 16 << 20;

struct Bench {
    std::string dir = temp_dir("vhost-user-test");
    std::string uds = dir + "/1.vsock";
    FakeFrontend fe { kRam, kCid };
    std::atomic<int> heartbeats { 0 };
    std::unique_ptr<VhostUserVsockBackend> backend;
    std::unique_ptr<TestDriver> guest;

    explicit Bench(bool threaded = false)
    {
        VsockConfig c;
        c.guest_cid = kCid;
        c.uds_path = uds;
        c.on_heartbeat = [this] { ++heartbeats; };
        backend = VhostUserVsockBackend::create(fe.take_backend_socket(), c);
        if (threaded)
            backend->start();
        else
            fe.pump = [this](int ms) { backend->run_once(ms); };
        guest = std::make_unique<TestDriver>(fe, fe.guest_ram());
    }
    ~Bench()
    {
        guest.reset();
        backend.reset();
        std::string cmd = "rm -rf " + dir;
        [[maybe_unused]] int rc = std::system(cmd.c_str());
    }
    std::uint16_t guest_connect(std::uint32_t local_port, std::uint32_t port)
    {
        guest->send(guest->header(kOpRequest, local_port, port));
        ReceivedPacket p;
        REQUIRE(guest->wait_for(local_port, p));
        return p.header.op;
    }
    // The heartbeat exchange of guest-init: 0xB7 out, 0xB7 back.
    void heartbeat(std::uint32_t local_port)
    {
        REQUIRE(guest_connect(local_port, 9000) == kOpResponse);
        guest->send(guest->header(kOpRw, local_port, 9000, 1), "\xB7");
        ReceivedPacket p;
        REQUIRE(guest->wait_for(local_port, p));
        CHECK(p.header.op == kOpRw);
        CHECK(p.payload == "\xB7");
    }
    // Runs the backend until the connection ended; returns its error.
    std::string ended()
    {
        for (int i = 0; i < 100 && !backend->done(); ++i)
            backend->run_once(5);
        REQUIRE(backend->done());
        return backend->error();
    }
};

} // namespace

TEST_CASE("vhost-user vsock: QEMU's handshake, features, config and the heartbeat through the rings")
{
    Bench b;
    REQUIRE(b.fe.handshake());
    CHECK(b.fe.offered_features == VhostUserVsockBackend::kFeatures);
    CHECK((b.fe.offered_features & (1ull << 28)) == 0); // no INDIRECT_DESC
    CHECK((b.fe.offered_features & (1ull << 34)) == 0); // no packed rings
    CHECK(b.fe.get_u64(request::kGetQueueNum) == 2u);
    REQUIRE(b.guest->init());
    CHECK(b.backend->acked_features() == (VhostUserVsockBackend::kFeatures));
    b.heartbeat(1000);
    CHECK(b.heartbeats == 1);
    CHECK(b.backend->stats().heartbeats == 1);
    // Interrupts came through the call eventfds QEMU handed over last (rx for the replies).
    CHECK(b.fe.calls(kQueueRx) > 0);
    CHECK_FALSE(b.backend->done());
    CHECK(b.backend->messages() > 10);
}

TEST_CASE("vhost-user vsock: a legacy guest (no VERSION_1), no EVENT_IDX, no REPLY_ACK")
{
    Bench b;
    b.fe.legacy = true;
    REQUIRE(b.fe.handshake(protocol::kConfig));
    REQUIRE(b.guest->init(false));
    CHECK(b.backend->acked_features() == kFeatureProtocolFeatures);
    b.heartbeat(1001);
    CHECK(b.heartbeats == 1);
}

TEST_CASE("vhost-user vsock: hybrid vsock both ways with the parent's Unix sockets")
{
    Bench b;
    REQUIRE(b.fe.handshake());
    REQUIRE(b.guest->init(true, true));
    // Guest → parent at <uds>_5000.
    CHECK(b.guest_connect(2000, 5000) == kOpRst); // nobody listens yet
    int listener = unix_listen(b.uds + "_5000");
    REQUIRE(b.guest_connect(2001, 5000) == kOpResponse);
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    b.guest->send(b.guest->header(kOpRw, 2001, 5000, 5), "hello", true);
    std::string got;
    b.guest->pump_until([&] { got += read_now(conn); return got.size() >= 5; });
    CHECK(got == "hello");
    REQUIRE(::send(conn, "world", 5, MSG_NOSIGNAL) == 5);
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(2001, p));
    CHECK(p.payload == "world");

    // Parent → guest: CONNECT 5001, OK <port>.
    int parent = unix_connect(b.uds);
    REQUIRE(::send(parent, "CONNECT 5001\n", 13, MSG_NOSIGNAL) == 13);
    REQUIRE(b.guest->wait_for(5001, p));
    CHECK(p.header.op == kOpRequest);
    CHECK(p.header.dst_cid == kCid);
    b.guest->send(b.guest->header(kOpResponse, 5001, p.header.src_port));
    got.clear();
    b.guest->pump_until([&] { got += read_now(parent); return got.find('\n') != std::string::npos; });
    CHECK(got == "OK " + std::to_string(p.header.src_port) + "\n");
    CHECK(b.backend->stats().connections == 2);
    CHECK(b.backend->stats().bytes_to_host == 5);
    CHECK(b.backend->stats().bytes_to_guest == 5);

    // Stopping both rings (QEMU at guest reset) closes every connection: the parents see EOF.
    auto rx_base = b.fe.stop_ring(kQueueRx);
    auto tx_base = b.fe.stop_ring(kQueueTx);
    REQUIRE(rx_base);
    REQUIRE(tx_base);
    CHECK(*tx_base == b.guest->avail_idx(kQueueTx)); // every tx packet was consumed
    CHECK(*rx_base <= b.guest->avail_idx(kQueueRx));
    b.backend->run_once(0);
    got.clear();
    for (int i = 0; i < 50 && got.find("<EOF>") == std::string::npos; ++i) {
        got += read_now(conn);
        b.backend->run_once(5);
    }
    CHECK(got.find("<EOF>") != std::string::npos);
    CHECK(read_now(parent).find("<EOF>") != std::string::npos);
    CHECK(b.backend->stats().connections == 0);
    CHECK_FALSE(b.backend->done()); // the vhost-user connection itself goes on
    ::close(conn);
    ::close(parent);
    ::close(listener);

    // The guest driver comes back (QEMU restarts the rings from zero): works again.
    REQUIRE(b.guest->init());
    b.heartbeat(2002);
}

TEST_CASE("vhost-user vsock: GET_VRING_BASE stops a ring at its avail index; SET_VRING_BASE resumes there")
{
    Bench b;
    REQUIRE(b.fe.handshake());
    REQUIRE(b.guest->init());
    b.heartbeat(3000);
    // Stop tx only (the device keeps running on rx): nothing sent meanwhile is consumed.
    auto base = b.fe.stop_ring(kQueueTx);
    REQUIRE(base);
    CHECK(*base == b.guest->avail_idx(kQueueTx));
    std::uint16_t used_before = b.guest->used_idx(kQueueTx);
    b.guest->send(b.guest->header(kOpRequest, 3001, 9000));
    b.guest->pump(5);
    CHECK(b.guest->used_idx(kQueueTx) == used_before);
    // Restart it where it stopped (the request is still in the ring).
    const std::uint32_t tx = kQueueTx;
    REQUIRE(b.fe.send_state(request::kSetVringBase, tx, *base));
    REQUIRE(b.fe.send_u64(request::kSetVringKick, tx, { b.fe.kick_fd(tx) }));
    REQUIRE(b.fe.send_state(request::kSetVringEnable, tx, 1));
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(3001, p));
    CHECK(p.header.op == kOpResponse);
    CHECK(b.guest->used_idx(kQueueTx) == static_cast<std::uint16_t>(used_before + 1));
    // GET_VRING_BASE of a ring that never started returns what SET_VRING_BASE said.
    REQUIRE(b.fe.send_state(request::kSetVringBase, 2, 77));
    REQUIRE(b.fe.send_state(request::kGetVringBase, 2, 0));
    auto r = b.fe.read_reply();
    REQUIRE(r);
    std::uint32_t state[2];
    std::memcpy(state, r->payload.data(), 8);
    CHECK(state[0] == 2);
    CHECK(state[1] == 77);
}

TEST_CASE("vhost-user vsock: a started ring is idle until SET_VRING_ENABLE 1")
{
    Bench b;
    b.fe.enable_rings = false;
    REQUIRE(b.fe.handshake());
    REQUIRE(b.guest->init());
    b.guest->send(b.guest->header(kOpRequest, 4000, 9000));
    b.guest->pump(10);
    CHECK(b.guest->used_idx(kQueueTx) == 0);
    CHECK(b.guest->inbox.empty());
    REQUIRE(b.fe.send_state(request::kSetVringEnable, kQueueRx, 1));
    REQUIRE(b.fe.send_state(request::kSetVringEnable, kQueueTx, 1));
    ReceivedPacket p;
    REQUIRE(b.guest->wait_for(4000, p));
    CHECK(p.header.op == kOpResponse);
}

TEST_CASE("vhost-user vsock: rings without a kick fd (invalid-fd bit) are polled")
{
    Bench b;
    b.fe.poll_kicks = true;
    REQUIRE(b.fe.handshake());
    REQUIRE(b.guest->init());
    b.heartbeat(4100);
}

TEST_CASE("vhost-user vsock: on its own thread; done_fd when QEMU goes away")
{
    Bench b(true);
    REQUIRE(b.fe.handshake());
    REQUIRE(b.guest->init());
    b.heartbeat(4200);
    CHECK(b.heartbeats == 1);
    CHECK_FALSE(b.backend->done());
    b.fe.close_socket();
    pollfd p { b.backend->done_fd(), POLLIN, 0 };
    REQUIRE(::poll(&p, 1, 5000) == 1);
    CHECK(b.backend->done());
    CHECK(b.backend->error() == "");
    b.backend->stop();
    b.backend->stop(); // idempotent
}

TEST_CASE("vhost-user vsock: bad input ends the connection, never the process")
{
    struct Case {
        const char* name;
        std::function<void(FakeFrontend&)> send;
        const char* error;
    };
    auto raw = [](std::vector<std::uint8_t> bytes) {
        return [bytes](FakeFrontend& fe) { REQUIRE(::send(fe.socket(), bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())); };
    };
    std::vector<Case> cases {
        { "unknown request", raw(encode(99, kVersion, nullptr, 0)), "unsupported vhost-user request 99" },
        { "SET_LOG_BASE (not offered)", raw(encode(6, kVersion, "\0\0\0\0\0\0\0\0", 8)), "unsupported" },
        { "wrong payload size", raw(encode(request::kSetFeatures, kVersion, "\0\0\0\0", 4)), "4-byte payload" },
        { "reply flag from the frontend", raw(encode(request::kGetFeatures, kVersion | kFlagReply, nullptr, 0)), "marked as a reply" },
        { "version 2", raw(encode(request::kGetFeatures, 2, nullptr, 0)), "version 2" },
        { "fds where none belong", [](FakeFrontend& fe) { REQUIRE(fe.send(request::kSetOwner, {}, { fe.memfd() })); }, "file descriptors" },
        { "kick without its fd", [](FakeFrontend& fe) { REQUIRE(fe.send_u64(request::kSetVringKick, 0)); }, "expected 1" },
        { "features not offered", [](FakeFrontend& fe) { REQUIRE(fe.send_u64(request::kSetFeatures, 1ull << 28)); }, "not offered" },
        { "protocol features not offered", [](FakeFrontend& fe) { REQUIRE(fe.send_u64(request::kSetProtocolFeatures, protocol::kMq)); }, "not offered" },
        { "SET_OWNER twice", [](FakeFrontend& fe) { REQUIRE(fe.send(request::kSetOwner)); REQUIRE(fe.send(request::kSetOwner)); }, "twice" },
        { "ring 3", [](FakeFrontend& fe) { REQUIRE(fe.send_state(request::kSetVringNum, 3, 256)); }, "ring 3" },
        { "ring size not a power of two", [](FakeFrontend& fe) { REQUIRE(fe.send_state(request::kSetVringNum, 0, 100)); }, "power of two" },
        { "ring size too big", [](FakeFrontend& fe) { REQUIRE(fe.send_state(request::kSetVringNum, 0, 65536)); }, "power of two" },
        { "ring base beyond 16 bits", [](FakeFrontend& fe) { REQUIRE(fe.send_state(request::kSetVringBase, 0, 0x10000)); }, "16-bit" },
        { "enable 2", [](FakeFrontend& fe) { REQUIRE(fe.send_state(request::kSetVringEnable, 0, 2)); }, "0 or 1" },
        { "a kick fd epoll cannot wait on (found by the fuzzer)", [](FakeFrontend& fe) { REQUIRE(fe.send_u64(request::kSetVringKick, 0, { fe.memfd() })); }, "not an eventfd" },
        { "a kick fd that is a pipe, not an eventfd", [](FakeFrontend& fe) {
             int p[2];
             REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
             REQUIRE(fe.send_u64(request::kSetVringKick, 0, { p[0] }));
             ::close(p[0]);
             ::close(p[1]); }, "SET_VRING_KICK for ring 0 (rx): its fd is not an eventfd" },
        { "a call fd that is a socket, not an eventfd", [](FakeFrontend& fe) {
             int sv[2];
             REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
             REQUIRE(fe.send_u64(request::kSetVringCall, 1, { sv[0] }));
             ::close(sv[0]);
             ::close(sv[1]); }, "SET_VRING_CALL for ring 1 (tx): its fd is not an eventfd" },
        { "guest memory that is not sealed against shrinking", [](FakeFrontend& fe) {
             base::UniqueFd open_file(::memfd_create("unsealed", MFD_CLOEXEC));
             REQUIRE(::ftruncate(open_file.get(), 0x10000) == 0);
             std::vector<MemoryRegion> r { { 0, 0x10000, FakeFrontend::kUserBase, 0 } };
             REQUIRE(fe.send(request::kSetMemTable, encode_regions(r), { open_file.get() })); }, "F_SEAL_SHRINK" },
        { "kick before the memory table", [](FakeFrontend& fe) { REQUIRE(fe.send_u64(request::kSetVringKick, 0, { fe.kick_fd(0) })); }, "before SET_MEM_TABLE" },
        { "SET_CONFIG", [](FakeFrontend& fe) { std::vector<std::uint8_t> c(kConfigHeaderSize + 8, 0); c[4] = 8; REQUIRE(fe.send(request::kSetConfig, c)); }, "read-only" },
        { "GET_CONFIG past 256 bytes", [](FakeFrontend& fe) {
             std::vector<std::uint8_t> c(kConfigHeaderSize + 8, 0);
             std::uint32_t offset = 252;
             std::memcpy(c.data(), &offset, 4);
             c[4] = 8;
             REQUIRE(fe.send(request::kGetConfig, c)); }, "config space is 256 bytes" },
        { "overlapping memory regions", [](FakeFrontend& fe) {
             std::vector<MemoryRegion> r { { 0, 0x200000, FakeFrontend::kUserBase, 0 }, { 0x100000, 0x100000, FakeFrontend::kUserBase + 0x400000, 0x100000 } };
             REQUIRE(fe.send(request::kSetMemTable, encode_regions(r), { fe.memfd(), fe.memfd() })); }, "overlaps" },
        { "a region past the end of its file", [](FakeFrontend& fe) {
             std::vector<MemoryRegion> r { { 0, kRam, FakeFrontend::kUserBase, 0x1000 } };
             REQUIRE(fe.send(request::kSetMemTable, encode_regions(r), { fe.memfd() })); }, "past the end" },
        { "a memory fd that is not memory", [](FakeFrontend& fe) {
             std::vector<MemoryRegion> r { { 0, 0x1000, FakeFrontend::kUserBase, 0 } };
             REQUIRE(fe.send(request::kSetMemTable, encode_regions(r), { fe.kick_fd(0) })); }, "not a memory file" },
        { "vring addresses outside memory", [](FakeFrontend& fe) {
             REQUIRE(fe.send(request::kSetMemTable, encode_regions(fe.regions()), { fe.memfd(), fe.memfd() }));
             REQUIRE(fe.send_state(request::kSetVringNum, 1, 256));
             // A guest-physical address where QEMU would send its user address.
             REQUIRE(fe.send(request::kSetVringAddr, encode_address({ 1, 0, 0x10000, 0x18000, 0x14000, 0 })));
             REQUIRE(fe.send_u64(request::kSetVringKick, 1, { fe.kick_fd(1) })); }, "not inside the memory table" },
        { "vring addresses in the hole", [](FakeFrontend& fe) {
             REQUIRE(fe.send(request::kSetMemTable, encode_regions(fe.regions()), { fe.memfd(), fe.memfd() }));
             REQUIRE(fe.send_state(request::kSetVringNum, 0, 256));
             std::uint64_t u = FakeFrontend::kUserBase;
             REQUIRE(fe.send(request::kSetVringAddr, encode_address({ 0, 0, u + 0xef800, u + 0x20000, u + 0x10000, 0 })));
             REQUIRE(fe.send_u64(request::kSetVringKick, 0, { fe.kick_fd(0) })); }, "descriptor table" },
        { "misaligned rings", [](FakeFrontend& fe) {
             REQUIRE(fe.send(request::kSetMemTable, encode_regions(fe.regions()), { fe.memfd(), fe.memfd() }));
             REQUIRE(fe.send_state(request::kSetVringNum, 0, 256));
             std::uint64_t u = FakeFrontend::kUserBase;
             REQUIRE(fe.send(request::kSetVringAddr, encode_address({ 0, 0, u + 0x10008, u + 0x20000, u + 0x14000, 0 })));
             REQUIRE(fe.send_u64(request::kSetVringKick, 0, { fe.kick_fd(0) })); }, "misaligned" },
        { "kick before the ring has addresses", [](FakeFrontend& fe) {
             REQUIRE(fe.send(request::kSetMemTable, encode_regions(fe.regions()), { fe.memfd(), fe.memfd() }));
             REQUIRE(fe.send_u64(request::kSetVringKick, 0, { fe.kick_fd(0) })); }, "before its SET_VRING_NUM" },
        { "closed in the middle of a message", [](FakeFrontend& fe) {
             std::vector<std::uint8_t> m = encode(request::kSetFeatures, kVersion, "\0\0\0\0\0\0\0\0", 8);
             REQUIRE(::send(fe.socket(), m.data(), 15, MSG_NOSIGNAL) == 15);
             fe.close_socket(); }, "middle of a message" },
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        Bench b;
        c.send(b.fe);
        std::string error = b.ended();
        CHECK_MESSAGE(error.find(c.error) != std::string::npos, error);
        if (b.fe.socket() >= 0)
            CHECK(b.fe.backend_closed()); // QEMU sees the connection go
        CHECK(b.backend->stats().connections == 0);
    }
}

TEST_CASE("vhost-user vsock: a refused request with NEED_REPLY is acknowledged as failed before the close")
{
    Bench b;
    REQUIRE(b.fe.handshake());
    std::vector<MemoryRegion> r { { 0, 0x1000, FakeFrontend::kUserBase, kRam } }; // past the end of the file
    auto ack = b.fe.acked(request::kSetMemTable, encode_regions(r), { b.fe.memfd() });
    REQUIRE(ack);
    CHECK(*ack != 0);
    CHECK(b.ended().find("past the end") != std::string::npos);
    CHECK(b.fe.backend_closed());
    // A good one with NEED_REPLY gets 0 (on a fresh connection).
    Bench good;
    REQUIRE(good.fe.handshake());
    auto ok = good.fe.acked(request::kSetMemTable, encode_regions(good.fe.regions()), { good.fe.memfd(), good.fe.memfd() });
    REQUIRE(ok);
    CHECK(*ok == 0);
}

TEST_CASE("vhost-user vsock: RESET_DEVICE keeps the protocol features: QEMU 10's acknowledged SET_MEM_TABLE after it is answered")
{
    // QEMU 10 sends RESET_DEVICE when the guest's driver resets the device (before DRIVER_OK),
    // then SET_FEATURES and SET_MEM_TABLE with NEED_REPLY — without negotiating the protocol
    // features again. A backend that forgot REPLY_ACK in the reset never answered, and QEMU's
    // vCPU thread waited in recvmsg forever (the guest stopped after "NET: Registered PF_VSOCK").
    Bench b;
    REQUIRE(b.fe.handshake());
    REQUIRE(b.fe.send(request::kResetDevice));
    REQUIRE(b.guest->init()); // configure() waits for the SET_MEM_TABLE acknowledgement
    CHECK_FALSE(b.backend->done());
    b.heartbeat(5002);
    CHECK(b.heartbeats == 1);
}

TEST_CASE("vhost-user vsock: NEED_REPLY without REPLY_ACK negotiated ends the connection instead of leaving it unanswered")
{
    Bench b;
    REQUIRE(b.fe.handshake(protocol::kConfig)); // no REPLY_ACK
    REQUIRE(b.fe.send_state(request::kSetVringBase, 0, 0, kVersion | kFlagNeedReply));
    CHECK(b.ended().find("REPLY_ACK") != std::string::npos);
    CHECK(b.fe.backend_closed());
}

TEST_CASE("vhost-user vsock: RESET_OWNER drops rings, memory and connections; the frontend may start over")
{
    Bench b;
    REQUIRE(b.fe.handshake());
    REQUIRE(b.guest->init());
    b.heartbeat(5000);
    REQUIRE(b.fe.send(request::kResetOwner));
    b.guest->pump(3);
    CHECK_FALSE(b.backend->done());
    REQUIRE(b.fe.handshake());
    REQUIRE(b.guest->init());
    b.heartbeat(5001);
    CHECK(b.heartbeats == 2);
}

TEST_CASE("vhost-user vsock: reserved CIDs are refused at create()")
{
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    VsockConfig c;
    c.guest_cid = 3;
    CHECK_THROWS(VhostUserVsockBackend::create(base::UniqueFd(sv[0]), c));
    ::close(sv[1]);
}
