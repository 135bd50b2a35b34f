// libFuzzer target: the vhost-user backends (vsock, or NSM when the first input byte is odd)
// driven by a hostile frontend. The input is a program: raw bytes on the control socket (with or without fds attached — memfds, eventfds),
// well-formed messages of every known request with fuzzed contents and fd counts, a QEMU-like
// setup (memory table, rings, kicks, enable) so the data path is reached, raw writes anywhere in
// the shared guest RAM (rings, descriptors, packets), tx packets with fuzzed headers, rx buffers
// and kicks, NSM request chains (readable and writable parts of fuzzed sizes, the handler checking
// it never gets more than 4 KiB + 1 bytes); each step is followed by a round of the backend loop. The backend must never crash,
// hang, touch memory outside the mapped regions (ASan), leak fds, or buffer beyond its bounds;
// bad input may only end the connection.
//
// Run: make BUILD=build/vhost fuzz FUZZ_SECONDS=600   (or build/vhost/fuzz/vhost_user_fuzz)
#include "vmm/testing/vsock_fuzz_input.h"
#include "vmm/vhost_user/nsm_backend.h"
#include "vmm/vhost_user/vsock_backend.h"

#include <cstring>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace vmm;
using namespace vmm::vhost_user;
using namespace vmm::vsock;

using vsock_fuzz::Input;
using vsock_fuzz::desc_area;
using vsock_fuzz::avail_area;
using vsock_fuzz::used_area;

namespace {

constexpr std::uint64_t kRamSize = 2 << 20;           // regions [0, 0xf0000) and [1 MiB, 2 MiB)
constexpr std::uint64_t kUser = 0x7f40'0000'0000ull;  // the frontend's address of guest byte 0
constexpr std::uint16_t kRingSize = 64;
constexpr std::uint64_t kCid = 5;

struct Shared {
    int memfd = -1;
    std::uint8_t* ram = nullptr;
    Shared()
    {
        memfd = ::memfd_create("fuzz-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING); // sealed as QEMU's memfd backend
        if (memfd < 0 || ::ftruncate(memfd, kRamSize) != 0 || ::fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
            __builtin_trap();
        void* p = ::mmap(nullptr, kRamSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        if (p == MAP_FAILED)
            __builtin_trap();
        ram = static_cast<std::uint8_t*>(p);
    }
};

struct Frontend {
    Shared& shared;
    int socket;
    std::vector<int> eventfds;
    std::uint16_t avail_idx[3] = {};
    std::uint16_t tx_next = 0;
    std::uint16_t rx_next = 0;

    int eventfd()
    {
        int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0)
            __builtin_trap();
        eventfds.push_back(fd);
        return fd;
    }
    // An fd of the kind the input picks: the guest RAM memfd, an eventfd, or a socket end.
    int some_fd(std::uint8_t pick)
    {
        switch (pick % 3) {
        case 0: return shared.memfd;
        case 1: return eventfd();
        default: return socket;
        }
    }
    void send(const std::vector<std::uint8_t>& bytes, const std::vector<int>& fds)
    {
        std::string ignored;
        send_message(socket, bytes, fds, ignored); // may fail once the backend hung up
    }
    void message(std::uint32_t request, const std::vector<std::uint8_t>& payload, const std::vector<int>& fds = {}, std::uint32_t flags = kVersion)
    {
        send(encode(request, flags, payload.data(), payload.size()), fds);
    }
    static std::vector<std::uint8_t> u64(std::uint64_t v)
    {
        std::vector<std::uint8_t> p(8);
        std::memcpy(p.data(), &v, 8);
        return p;
    }
    void drain()
    {
        std::uint8_t buffer[4096];
        while (::recv(socket, buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
        }
    }
    // What QEMU sends to start the device, with fuzzed knobs.
    void setup(Input& in, std::uint32_t rings)
    {
        std::uint8_t knobs = in.u8();
        message(request::kSetOwner, {});
        message(request::kSetProtocolFeatures, u64(protocol::kReplyAck | protocol::kConfig));
        std::uint64_t features = kFeatureProtocolFeatures | virtio::kFeatureVersion1 | ((knobs & 1) ? virtio::kFeatureEventIdx : 0);
        message(request::kSetFeatures, u64(features));
        std::vector<MemoryRegion> regions { { 0, 0xf0000, kUser, 0 }, { 0x100000, kRamSize - 0x100000, kUser + 0x100000, 0x100000 } };
        message(request::kSetMemTable, encode_regions(regions), { shared.memfd, shared.memfd }, kVersion | kFlagNeedReply);
        for (std::uint32_t q = 0; q < rings; ++q) {
            message(request::kSetVringNum, encode_state({ q, kRingSize }));
            message(request::kSetVringBase, encode_state({ q, 0 }));
            message(request::kSetVringAddr, encode_address({ q, 0, kUser + desc_area(q), kUser + used_area(q), kUser + avail_area(q), 0 }));
            if (knobs & 2)
                message(request::kSetVringKick, u64(q | kVringInvalidFd));
            else
                message(request::kSetVringKick, u64(q), { eventfd() });
            message(request::kSetVringCall, u64(q), { eventfd() });
            if (!(knobs & 4))
                message(request::kSetVringEnable, encode_state({ q, 1 }));
            avail_idx[q] = 0;
        }
    }
    void set_desc(std::uint16_t q, std::uint16_t i, std::uint64_t addr, std::uint32_t len, std::uint16_t flags, std::uint16_t next)
    {
        std::uint8_t* d = shared.ram + desc_area(q) + 16 * (i % kRingSize);
        std::memcpy(d, &addr, 8);
        std::memcpy(d + 8, &len, 4);
        std::memcpy(d + 12, &flags, 2);
        std::memcpy(d + 14, &next, 2);
    }
    void offer(std::uint16_t q, std::uint16_t head)
    {
        std::uint8_t* a = shared.ram + avail_area(q);
        std::memcpy(a + 4 + 2 * (avail_idx[q] % kRingSize), &head, 2);
        ++avail_idx[q];
        __atomic_store_n(reinterpret_cast<std::uint16_t*>(a + 2), avail_idx[q], __ATOMIC_RELEASE);
    }
};

// Requests a frontend may send, and a few it may not.
constexpr std::uint32_t kRequests[] = { request::kGetFeatures, request::kSetFeatures, request::kSetOwner, request::kResetOwner,
    request::kSetMemTable, request::kSetVringNum, request::kSetVringAddr, request::kSetVringBase, request::kGetVringBase,
    request::kSetVringKick, request::kSetVringCall, request::kSetVringErr, request::kGetProtocolFeatures,
    request::kSetProtocolFeatures, request::kGetQueueNum, request::kSetVringEnable, request::kGetConfig, request::kSetConfig,
    request::kResetDevice, 6, 7, 22, 36, 37, 39, 0 };

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static Shared shared;
    std::memset(shared.ram, 0, kRamSize);
    Input in { data, size };
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        __builtin_trap();
    Frontend fe { shared, sv[0], {} };
    {
        const bool nsm = (in.u8() & 1) != 0;
        std::unique_ptr<VhostUserVsockBackend> vsock_backend;
        std::unique_ptr<VhostUserNsmBackend> nsm_backend;
        if (nsm) {
            nsm_backend = VhostUserNsmBackend::create(base::UniqueFd(sv[1]), [](std::string_view request) {
                if (request.size() > nsm::kMaxRequestSize + 1)
                    __builtin_trap();
                return std::string((request.size() * 7) % (nsm::kMaxResponseSize + 100), '\xa0');
            });
        } else {
            VsockConfig config;
            config.guest_cid = kCid;
            vsock_backend = VhostUserVsockBackend::create(base::UniqueFd(sv[1]), config);
        }
        auto round = [&] {
            if (nsm) {
                nsm_backend->run_once(0);
            } else {
                vsock_backend->run_once(0);
                if (vsock_backend->stats().connections > kMaxConnections)
                    __builtin_trap();
            }
        };

        int steps = 0;
        while (!in.empty() && steps++ < 200) {
            switch (in.u8() % 11) {
            case 0: { // raw bytes on the socket, maybe with fds
                std::uint8_t fdpick = in.u8();
                std::vector<int> fds;
                for (int k = 0; k < (fdpick & 3); ++k)
                    fds.push_back(fe.some_fd(in.u8()));
                fe.send(in.bytes(in.u8()), fds);
                break;
            }
            case 1: { // a message of a known request, fuzzed payload of a plausible size
                std::uint32_t r = kRequests[in.u8() % std::size(kRequests)];
                std::uint8_t pick = in.u8();
                std::size_t n = pick & 0x80 ? in.u8() : (r == request::kSetVringAddr ? 40 : r == request::kSetMemTable ? 8 + 32 * (1 + (pick & 1)) : r == request::kGetConfig ? 20 : 8);
                std::vector<std::uint8_t> payload = in.bytes(n);
                if (r == request::kSetMemTable && payload.size() >= 4) {
                    std::uint32_t count = payload.size() >= 8 ? static_cast<std::uint32_t>((payload.size() - 8) / 32) : 0;
                    if (!(pick & 0x40))
                        std::memcpy(payload.data(), &count, 4);
                }
                std::vector<int> fds;
                for (int k = 0; k < ((pick >> 2) & 3); ++k)
                    fds.push_back(fe.some_fd(in.u8()));
                std::uint32_t flags = pick & 0x20 ? in.u32() : (kVersion | ((pick & 0x10) ? kFlagNeedReply : 0));
                fe.message(r, payload, fds, flags);
                break;
            }
            case 2:
                fe.setup(in, nsm ? 1 : 2);
                break;
            case 3: { // raw bytes anywhere in guest RAM
                std::uint64_t at = in.u32() % kRamSize;
                std::vector<std::uint8_t> b = in.bytes(std::min<std::size_t>(in.u8(), kRamSize - at));
                if (!b.empty())
                    std::memcpy(shared.ram + at, b.data(), b.size());
                break;
            }
            case 4: { // a tx packet with a fuzzed header
                PacketHeader h;
                std::uint8_t pick = in.u8();
                h.src_cid = pick & 0x80 ? in.u64() : kCid;
                h.dst_cid = pick & 1 ? in.u32() : kParentCid;
                std::uint32_t ports[4] = { 9000, 9001, 1000u + (in.u8() & 7), in.u32() };
                h.src_port = 2000u + (in.u8() & 7);
                h.dst_port = ports[(pick >> 2) & 3];
                h.type = pick & 0x40 ? in.u16() : kTypeStream;
                h.op = in.u8() % 9;
                h.flags = in.u8() & 3;
                h.buf_alloc = 65536;
                std::vector<std::uint8_t> payload = in.bytes(in.u8() % 64);
                h.len = pick & 0x20 ? in.u32() : static_cast<std::uint32_t>(payload.size());
                std::uint16_t slot = fe.tx_next++ % (kRingSize / 2);
                std::uint64_t base = 0x40000 + 0x1000ull * slot;
                h.encode(shared.ram + base);
                if (!payload.empty())
                    std::memcpy(shared.ram + base + vsock::kHeaderSize, payload.data(), payload.size());
                fe.set_desc(kQueueTx, static_cast<std::uint16_t>(slot * 2), base, static_cast<std::uint32_t>(vsock::kHeaderSize + payload.size()), 0, 0);
                fe.offer(kQueueTx, static_cast<std::uint16_t>(slot * 2));
                break;
            }
            case 5: { // rx buffers
                std::uint8_t count = in.u8() % 8;
                for (std::uint8_t k = 0; k < count; ++k) {
                    std::uint16_t slot = fe.rx_next++ % kRingSize;
                    fe.set_desc(kQueueRx, slot, 0x10000 + 0x800ull * (slot % 32), 1 + (in.u16() % 3776), virtio::kDescFlagWrite, 0);
                    fe.offer(kQueueRx, slot);
                }
                break;
            }
            case 6: { // a kick on every eventfd handed over so far
                for (int fd : fe.eventfds) {
                    std::uint64_t one = 1;
                    [[maybe_unused]] ssize_t n = ::write(fd, &one, 8);
                }
                break;
            }
            case 7: // the frontend hangs up
                if (in.u8() == 0x5a)
                    ::shutdown(fe.socket, SHUT_WR);
                break;
            case 8: { // an NSM request chain on ring 0: a readable part, then room for the response
                std::uint16_t slot = fe.tx_next++ % (kRingSize / 2);
                std::uint64_t base = 0x40000 + 0x1000ull * (slot % 8);
                std::vector<std::uint8_t> request = in.bytes(in.u8());
                if (!request.empty())
                    std::memcpy(shared.ram + base, request.data(), request.size());
                std::uint32_t readable = in.u8() & 1 ? in.u32() % 0x20000 : static_cast<std::uint32_t>(request.size());
                std::uint32_t writable = in.u8() & 1 ? in.u32() % 0x20000 : static_cast<std::uint32_t>(nsm::kMaxResponseSize);
                fe.set_desc(0, static_cast<std::uint16_t>(slot * 2), base, readable, virtio::kDescFlagNext, static_cast<std::uint16_t>(slot * 2 + 1));
                fe.set_desc(0, static_cast<std::uint16_t>(slot * 2 + 1), 0x80000, writable, virtio::kDescFlagWrite, 0);
                fe.offer(0, static_cast<std::uint16_t>(slot * 2));
                break;
            }
            default:
                break;
            }
            round();
            fe.drain();
        }
        round();
    }
    ::close(fe.socket);
    for (int fd : fe.eventfds)
        ::close(fd);
    return 0;
}
