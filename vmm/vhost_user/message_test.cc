// The vhost-user codec: header and message validation (unknown requests, versions, flags, sizes,
// fd counts), payload encoders/decoders, and the stream reader over a real socketpair (partial
// messages, fds, back-to-back messages, EOF, too many fds, oversized payloads).
#include "vmm/vhost_user/message.h"

#include <cstring>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace vmm::vhost_user;

namespace {

Message make(std::uint32_t r, std::vector<std::uint8_t> payload, std::size_t fds = 0, std::uint32_t flags = kVersion)
{
    Message m;
    m.header = { r, flags, static_cast<std::uint32_t>(payload.size()) };
    m.payload = std::move(payload);
    for (std::size_t i = 0; i < fds; ++i)
        m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
    return m;
}

std::vector<std::uint8_t> u64(std::uint64_t v)
{
    std::vector<std::uint8_t> p(8);
    std::memcpy(p.data(), &v, 8);
    return p;
}

std::vector<std::uint8_t> config(std::uint32_t offset, std::uint32_t size, std::size_t payload_bytes)
{
    std::vector<std::uint8_t> p(kConfigHeaderSize + payload_bytes, 0);
    std::memcpy(p.data(), &offset, 4);
    std::memcpy(p.data() + 4, &size, 4);
    return p;
}

struct Pair {
    int frontend = -1, backend = -1;
    Pair()
    {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        frontend = sv[0];
        backend = sv[1];
        ::fcntl(backend, F_SETFL, O_NONBLOCK);
    }
    ~Pair()
    {
        if (frontend >= 0)
            ::close(frontend);
        ::close(backend);
    }
    void write_raw(const std::vector<std::uint8_t>& bytes, std::size_t from = 0, std::size_t count = SIZE_MAX)
    {
        std::size_t n = std::min(count, bytes.size() - from);
        REQUIRE(::write(frontend, bytes.data() + from, n) == static_cast<ssize_t>(n));
    }
};

} // namespace

TEST_CASE("vhost-user codec: headers are checked before any payload is read")
{
    CHECK(check_header({ request::kGetFeatures, kVersion, 0 }).empty());
    CHECK(check_header({ request::kGetFeatures, kVersion | kFlagNeedReply, 0 }).empty());
    CHECK(check_header({ request::kSetMemTable, kVersion, 8 + 32 }).empty());
    CHECK(check_header({ request::kSetMemTable, kVersion, 8 + 8 * 32 }).empty());
    CHECK(check_header({ request::kGetConfig, kVersion, 12 + 256 }).empty());
    // Unknown or unsupported requests: log base/fd (no LOG_SHMFD), IOTLB, mem slots, 0, huge.
    for (std::uint32_t r : { 0u, 6u, 7u, 19u, 21u, 22u, 23u, 36u, 37u, 38u, 39u, 40u, 41u, 1000u, 0xffff'ffffu }) {
        CAPTURE(r);
        CHECK(check_header({ r, kVersion, 0 }).find("unsupported") != std::string::npos);
    }
    CHECK(check_header({ request::kGetFeatures, 0, 0 }).find("version 0") != std::string::npos);
    CHECK(check_header({ request::kGetFeatures, 2, 0 }).find("version 2") != std::string::npos);
    CHECK(check_header({ request::kGetFeatures, kVersion | kFlagReply, 0 }).find("reply") != std::string::npos);
    CHECK(check_header({ request::kGetFeatures, kVersion | 0x10, 0 }).find("flag") != std::string::npos);
    // Sizes per request.
    CHECK_FALSE(check_header({ request::kGetFeatures, kVersion, 8 }).empty());
    CHECK_FALSE(check_header({ request::kSetFeatures, kVersion, 0 }).empty());
    CHECK_FALSE(check_header({ request::kSetFeatures, kVersion, 16 }).empty());
    CHECK_FALSE(check_header({ request::kSetVringAddr, kVersion, 32 }).empty());
    CHECK_FALSE(check_header({ request::kSetVringAddr, kVersion, 48 }).empty());
    CHECK_FALSE(check_header({ request::kSetVringNum, kVersion, 4 }).empty());
    CHECK_FALSE(check_header({ request::kSetMemTable, kVersion, 8 }).empty());              // no region
    CHECK_FALSE(check_header({ request::kSetMemTable, kVersion, 8 + 9 * 32 }).empty());     // 9 regions
    CHECK_FALSE(check_header({ request::kGetConfig, kVersion, 11 }).empty());
    CHECK_FALSE(check_header({ request::kGetConfig, kVersion, 12 + 257 }).empty());
    CHECK_FALSE(check_header({ request::kSetOwner, kVersion, 0x7fff'ffff }).empty());
}

TEST_CASE("vhost-user codec: whole messages: exact sizes and file descriptor counts")
{
    CHECK(check_message(make(request::kSetVringKick, u64(1), 1)).empty());
    CHECK(check_message(make(request::kSetVringKick, u64(1 | kVringInvalidFd), 0)).empty());
    CHECK_FALSE(check_message(make(request::kSetVringKick, u64(1), 0)).empty());                  // fd missing
    CHECK_FALSE(check_message(make(request::kSetVringKick, u64(1 | kVringInvalidFd), 1)).empty()); // fd despite the flag
    CHECK_FALSE(check_message(make(request::kSetVringCall, u64(1), 2)).empty());
    CHECK(check_message(make(request::kSetVringCall, u64(0xff), 1)).empty());
    CHECK_FALSE(check_message(make(request::kSetVringErr, u64(0x200), 1)).empty()); // unknown bit
    CHECK_FALSE(check_message(make(request::kSetOwner, {}, 1)).empty());            // fds where none belong
    CHECK_FALSE(check_message(make(request::kGetVringBase, std::vector<std::uint8_t>(8), 1)).empty());

    std::vector<MemoryRegion> two { { 0, 0x1000, 0x10000, 0 }, { 0x2000, 0x1000, 0x20000, 0x1000 } };
    CHECK(check_message(make(request::kSetMemTable, encode_regions(two), 2)).empty());
    CHECK_FALSE(check_message(make(request::kSetMemTable, encode_regions(two), 1)).empty());
    CHECK_FALSE(check_message(make(request::kSetMemTable, encode_regions(two), 3)).empty());
    std::vector<std::uint8_t> lying = encode_regions(two);
    lying[0] = 3; // says 3 regions, holds 2
    CHECK(check_message(make(request::kSetMemTable, lying, 3)).find("names 3 regions") != std::string::npos);
    lying[0] = 1;
    CHECK_FALSE(check_message(make(request::kSetMemTable, lying, 1)).empty());

    CHECK(check_message(make(request::kGetConfig, config(0, 8, 8))).empty());
    CHECK_FALSE(check_message(make(request::kGetConfig, config(0, 8, 4))).empty());
    CHECK_FALSE(check_message(make(request::kGetConfig, config(0, 0xffff'ffff, 4))).empty());

    Message short_payload = make(request::kSetFeatures, u64(1));
    short_payload.payload.resize(4);
    CHECK_FALSE(check_message(short_payload).empty());
}

TEST_CASE("vhost-user codec: payloads round-trip")
{
    VringAddress a { 1, 0, 0x7f00'0000'1000, 0x7f00'0000'3000, 0x7f00'0000'2000, 0 };
    Message m = make(request::kSetVringAddr, encode_address(a));
    REQUIRE(check_message(m).empty());
    auto back = decode_address(m);
    REQUIRE(back);
    CHECK(back->index == 1);
    CHECK(back->desc == a.desc);
    CHECK(back->used == a.used);
    CHECK(back->avail == a.avail);

    auto state = decode_state(make(request::kSetVringNum, encode_state({ 1, 256 })));
    REQUIRE(state);
    CHECK(state->index == 1);
    CHECK(state->num == 256);

    std::vector<MemoryRegion> regions { { 0, 0xf0000, 0x7f00'0000'0000, 0 }, { 0x100000, 0xff00000, 0x7f00'0010'0000, 0x100000 } };
    auto decoded = decode_regions(make(request::kSetMemTable, encode_regions(regions), 2));
    REQUIRE(decoded);
    REQUIRE(decoded->size() == 2);
    CHECK((*decoded)[1].guest_address == 0x100000);
    CHECK((*decoded)[1].size == 0xff00000);
    CHECK((*decoded)[1].user_address == 0x7f00'0010'0000);
    CHECK((*decoded)[1].mmap_offset == 0x100000);

    auto c = decode_config(make(request::kGetConfig, config(4, 4, 4)));
    REQUIRE(c);
    CHECK(c->offset == 4);
    CHECK(c->size == 4);
    CHECK_FALSE(decode_config(make(request::kGetConfig, config(0, 8, 4))));
    CHECK_FALSE(decode_u64(make(request::kSetFeatures, {})));

    std::uint64_t v = 0x1234;
    std::vector<std::uint8_t> reply = encode_reply(request::kGetFeatures, &v, 8);
    REQUIRE(reply.size() == 20);
    std::uint32_t flags;
    std::memcpy(&flags, reply.data() + 4, 4);
    CHECK(flags == (kVersion | kFlagReply));
    CHECK(request_name(request::kSetMemTable) == "SET_MEM_TABLE");
    CHECK(request_name(77) == "request 77");
}

TEST_CASE("vhost-user codec: the reader assembles partial messages and keeps fds with their message")
{
    Pair p;
    MessageReader reader;
    Message m;
    CHECK(reader.read(p.backend, m) == MessageReader::Result::Again);

    // One byte at a time: Again until the last byte.
    std::vector<std::uint8_t> bytes = encode(request::kSetFeatures, kVersion, u64(0x1'0000'0000).data(), 8);
    for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
        p.write_raw(bytes, i, 1);
        CHECK(reader.read(p.backend, m) == MessageReader::Result::Again);
    }
    p.write_raw(bytes, bytes.size() - 1, 1);
    REQUIRE(reader.read(p.backend, m) == MessageReader::Result::Message);
    CHECK(m.header.request == request::kSetFeatures);
    CHECK(*decode_u64(m) == 0x1'0000'0000ull);

    // Two messages in one write, the second with an fd: each comes out whole, fd with the second.
    std::vector<std::uint8_t> first = encode(request::kSetOwner, kVersion, nullptr, 0);
    std::vector<std::uint8_t> kick = encode(request::kSetVringKick, kVersion, u64(1).data(), 8);
    std::string error;
    REQUIRE(::write(p.frontend, first.data(), first.size()) == static_cast<ssize_t>(first.size()));
    int efd = ::eventfd(0, EFD_CLOEXEC);
    REQUIRE(send_message(p.frontend, kick, { efd }, error));
    ::close(efd);
    REQUIRE(reader.read(p.backend, m) == MessageReader::Result::Message);
    CHECK(m.header.request == request::kSetOwner);
    CHECK(m.fds.empty());
    REQUIRE(reader.read(p.backend, m) == MessageReader::Result::Message);
    CHECK(m.header.request == request::kSetVringKick);
    REQUIRE(m.fds.size() == 1);
    CHECK(m.fds[0].valid());
    CHECK((::fcntl(m.fds[0].get(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(reader.read(p.backend, m) == MessageReader::Result::Again);

    // EOF between messages: Closed.
    ::close(p.frontend);
    p.frontend = -1;
    CHECK(reader.read(p.backend, m) == MessageReader::Result::Closed);
}

TEST_CASE("vhost-user codec: the reader refuses bad streams")
{
    SUBCASE("EOF in the middle of a message")
    {
        Pair p;
        MessageReader reader;
        Message m;
        std::vector<std::uint8_t> bytes = encode(request::kSetFeatures, kVersion, u64(1).data(), 8);
        p.write_raw(bytes, 0, 14);
        CHECK(reader.read(p.backend, m) == MessageReader::Result::Again);
        ::close(p.frontend);
        p.frontend = -1;
        CHECK(reader.read(p.backend, m) == MessageReader::Result::Error);
        CHECK(reader.error().find("middle of a message") != std::string::npos);
    }
    SUBCASE("a huge size is refused after the header, before reading a payload")
    {
        Pair p;
        MessageReader reader;
        Message m;
        std::vector<std::uint8_t> header = encode(request::kSetMemTable, kVersion, nullptr, 0);
        std::uint32_t huge = 0x7fff'ffff;
        std::memcpy(header.data() + 8, &huge, 4);
        p.write_raw(header);
        CHECK(reader.read(p.backend, m) == MessageReader::Result::Error);
        CHECK(reader.error().find("SET_MEM_TABLE") != std::string::npos);
    }
    SUBCASE("unknown request")
    {
        Pair p;
        MessageReader reader;
        Message m;
        p.write_raw(encode(6, kVersion, u64(0).data(), 8)); // SET_LOG_BASE: LOG_SHMFD not offered
        CHECK(reader.read(p.backend, m) == MessageReader::Result::Error);
        CHECK(reader.error() == "unsupported vhost-user request 6");
    }
    SUBCASE("more than 8 fds")
    {
        Pair p;
        MessageReader reader;
        Message m;
        std::vector<std::uint8_t> bytes = encode(request::kSetOwner, kVersion, nullptr, 0);
        // send_message refuses more than kMaxFds, so build the message by hand.
        int fds[9];
        for (int& f : fds)
            f = ::eventfd(0, EFD_CLOEXEC);
        iovec iov { bytes.data(), bytes.size() };
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] {};
        msghdr msg {};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof fds);
        std::memcpy(CMSG_DATA(c), fds, sizeof fds);
        REQUIRE(::sendmsg(p.frontend, &msg, 0) == static_cast<ssize_t>(bytes.size()));
        for (int f : fds)
            ::close(f);
        CHECK(reader.read(p.backend, m) == MessageReader::Result::Error);
        CHECK(reader.error().find("more than 8 file descriptors") != std::string::npos);
    }
    SUBCASE("a memory table whose fd count does not match")
    {
        Pair p;
        MessageReader reader;
        Message m;
        std::string error;
        std::vector<MemoryRegion> one { { 0, 0x1000, 0x1000, 0 } };
        std::vector<std::uint8_t> bytes = encode(request::kSetMemTable, kVersion, encode_regions(one).data(), 8 + 32);
        REQUIRE(send_message(p.frontend, bytes, {}, error));
        CHECK(reader.read(p.backend, m) == MessageReader::Result::Error);
        CHECK(reader.error().find("file descriptors") != std::string::npos);
    }
}
