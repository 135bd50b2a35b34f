// libFuzzer target: the virtio-vsock device (MMIO transport, split queues, connection muxer,
// services) driven by arbitrary bytes. The input is a program for a hostile guest: raw writes
// anywhere in a 1 MiB guest RAM (descriptor tables, rings, packets), register reads and writes,
// well-formed or not packets on tx with fuzzed headers, rx buffers, kicks and loop rounds, and
// parents on the hybrid socket writing fuzzed bytes in pieces (CONNECT lines, then streams).
// The device must never crash, hang, read or write outside guest RAM (ASan sees the 1 MiB
// buffer's bounds), or grow its buffers beyond the documented bounds.
//
// Run: make BUILD=build/vsock fuzz FUZZ_SECONDS=600   (or build/vsock/fuzz/vsock_device_fuzz)
#include "vmm/testing/vsock_fuzz_input.h"
#include "vmm/vsock/vsock_device.h"

#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::vsock;

using vsock_fuzz::Input;
using vsock_fuzz::desc_area;
using vsock_fuzz::avail_area;
using vsock_fuzz::used_area;

namespace {

constexpr std::uint64_t kRamSize = 1 << 20;
constexpr std::uint16_t kQueueSize = 64;
constexpr std::uint64_t kCid = 5;

struct Guest {
    std::vector<std::uint8_t>& ram;
    VsockDevice& dev;
    std::uint16_t avail_idx[3] = {};
    std::uint16_t tx_next = 0;
    std::uint16_t rx_next = 0;

    void reg_write(std::uint64_t offset, std::uint32_t value)
    {
        std::uint8_t b[4];
        std::memcpy(b, &value, 4);
        dev.transport().mmio_write(offset, b, 4);
    }
    std::uint32_t reg_read(std::uint64_t offset, std::size_t size = 4)
    {
        std::uint8_t b[8] = {};
        dev.transport().mmio_read(offset, b, size);
        std::uint32_t v;
        std::memcpy(&v, b, 4);
        return v;
    }
    void init(bool event_idx)
    {
        reg_write(mmio::kStatus, 0);
        reg_write(mmio::kStatus, 1);
        reg_write(mmio::kStatus, 3);
        reg_write(mmio::kDriverFeaturesSel, 0);
        reg_write(mmio::kDriverFeatures, event_idx ? (1u << 29) : 0);
        reg_write(mmio::kDriverFeaturesSel, 1);
        reg_write(mmio::kDriverFeatures, 1);
        reg_write(mmio::kStatus, 11);
        for (std::uint16_t q = 0; q < 3; ++q) {
            reg_write(mmio::kQueueSel, q);
            reg_write(mmio::kQueueNum, kQueueSize);
            reg_write(mmio::kQueueDescLow, static_cast<std::uint32_t>(desc_area(q)));
            reg_write(mmio::kQueueDriverLow, static_cast<std::uint32_t>(avail_area(q)));
            reg_write(mmio::kQueueDeviceLow, static_cast<std::uint32_t>(used_area(q)));
            reg_write(mmio::kQueueReady, 1);
            avail_idx[q] = 0;
        }
        reg_write(mmio::kStatus, 15);
    }
    void set_desc(std::uint16_t q, std::uint16_t i, std::uint64_t addr, std::uint32_t len, std::uint16_t flags, std::uint16_t next)
    {
        std::uint8_t* d = ram.data() + desc_area(q) + 16 * (i % kQueueSize);
        std::memcpy(d, &addr, 8);
        std::memcpy(d + 8, &len, 4);
        std::memcpy(d + 12, &flags, 2);
        std::memcpy(d + 14, &next, 2);
    }
    void offer(std::uint16_t q, std::uint16_t head)
    {
        std::uint8_t* a = ram.data() + avail_area(q);
        std::memcpy(a + 4 + 2 * (avail_idx[q] % kQueueSize), &head, 2);
        ++avail_idx[q];
        std::memcpy(a + 2, &avail_idx[q], 2);
    }
};

// The parents' hybrid-vsock socket: one per fuzzing process, bound again by every device.
const std::string& parent_socket_path()
{
    static const std::string path = "/tmp/qt-vmm-vsock-fuzz-" + std::to_string(::getpid()) + ".vsock";
    return path;
}

// A new parent (at most 8 at once), or more bytes from one: CONNECT lines arrive in pieces.
void parent_step(Input& in, std::vector<base::UniqueFd>& parents)
{
    std::uint8_t pick = in.u8();
    if ((parents.empty() || (pick & 1)) && parents.size() < 8) {
        base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        sockaddr_un address {};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, parent_socket_path().c_str(), parent_socket_path().size() + 1);
        if (fd.valid() && ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0)
            parents.push_back(std::move(fd));
    }
    if (parents.empty())
        return;
    std::size_t n = std::min<std::size_t>(in.u8() % 40, in.size - in.pos);
    [[maybe_unused]] ssize_t sent = ::send(parents[(pick >> 1) % parents.size()].get(), in.data + in.pos, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    in.pos += n;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static std::vector<std::uint8_t> ram(kRamSize);
    std::memset(ram.data(), 0, ram.size());
    Input in { data, size };

    VsockConfig config;
    config.guest_cid = kCid;
    config.uds_path = parent_socket_path();
    std::vector<base::UniqueFd> parents; // closed after the device: it sees them as gone
    auto device = VsockDevice::create(std::make_unique<FlatGuestRam>(ram.data(), ram.size()), config);
    Guest g { ram, *device };
    g.init(in.u8() & 1);

    int steps = 0;
    while (!in.empty() && steps++ < 256) {
        switch (in.u8() % 10) {
        case 0: { // raw bytes anywhere in RAM (rings, descriptors, packets)
            std::uint64_t at = in.u32() % kRamSize;
            std::size_t n = std::min<std::size_t>({ in.u8(), kRamSize - at, in.size - in.pos });
            std::memcpy(ram.data() + at, in.data + in.pos, n);
            in.pos += n;
            break;
        }
        case 1: { // a raw descriptor and an avail entry
            std::uint16_t q = in.u8() % 3;
            std::uint16_t i = in.u8();
            std::uint64_t addr = in.u8() & 1 ? in.u64() : in.u32() % kRamSize;
            g.set_desc(q, i, addr, in.u32(), in.u16(), in.u16());
            g.offer(q, in.u8() & 0x80 ? in.u16() : i % kQueueSize);
            break;
        }
        case 2: { // a tx packet with a fuzzed header, in one or two descriptors
            PacketHeader h;
            std::uint8_t pick = in.u8();
            h.src_cid = pick & 0x80 ? in.u64() : kCid;
            std::uint64_t cids[4] = { kParentCid, kHostCid, kCid, in.u32() };
            h.dst_cid = cids[pick & 3];
            std::uint32_t ports[4] = { 9000, 9001, 1000u + (in.u8() & 7), in.u32() };
            h.src_port = 2000u + (in.u8() & 7);
            h.dst_port = ports[(pick >> 2) & 3];
            h.type = pick & 0x40 ? in.u16() : kTypeStream;
            h.op = in.u8() % 9;
            h.flags = in.u8() & 3;
            h.buf_alloc = in.u8() & 1 ? in.u32() : 65536;
            h.fwd_cnt = in.u8() & 1 ? in.u32() : 0;
            std::uint8_t wanted = in.u8();
            std::uint32_t claimed = pick & 0x20 ? in.u32() : 0;
            std::size_t n = std::min<std::size_t>(wanted, in.size - in.pos);
            h.len = pick & 0x20 ? claimed : static_cast<std::uint32_t>(n);
            std::uint16_t slot = g.tx_next++ % (kQueueSize / 2);
            std::uint64_t base = 0x40000 + 0x1000ull * slot;
            h.encode(ram.data() + base);
            std::memcpy(ram.data() + base + 64, in.data + in.pos, n);
            in.pos += n;
            std::uint16_t d = static_cast<std::uint16_t>(slot * 2);
            if (pick & 0x10) {
                g.set_desc(kQueueTx, d, base, kHeaderSize, kDescFlagNext, static_cast<std::uint16_t>(d + 1));
                g.set_desc(kQueueTx, static_cast<std::uint16_t>(d + 1), base + 64, static_cast<std::uint32_t>(n), 0, 0);
            } else {
                std::memmove(ram.data() + base + kHeaderSize, ram.data() + base + 64, n);
                g.set_desc(kQueueTx, d, base, static_cast<std::uint32_t>(kHeaderSize + n), 0, 0);
            }
            g.offer(kQueueTx, d);
            break;
        }
        case 3: { // rx buffers
            std::uint8_t count = in.u8() % 8;
            for (std::uint8_t k = 0; k < count; ++k) {
                std::uint16_t slot = g.rx_next++ % kQueueSize;
                g.set_desc(kQueueRx, slot, 0x10000 + 0x800ull * (slot % 32), 1 + (in.u16() % 3776), kDescFlagWrite, 0);
                g.offer(kQueueRx, slot);
            }
            break;
        }
        case 4:
            g.reg_write(mmio::kQueueNotify, in.u8() % 4);
            break;
        case 5:
            g.reg_write(in.u16() % 0x120, in.u32());
            break;
        case 6: {
            std::uint8_t s = in.u8();
            g.reg_read(in.u16() % 0x120, (s & 7) == 0 ? 4 : std::min<std::size_t>(s & 7, 8));
            break;
        }
        case 7:
            g.init(in.u8() & 1);
            break;
        case 8: { // the driver publishes a bogus avail index
            std::uint16_t q = in.u8() % 3;
            std::uint16_t idx = in.u16();
            std::memcpy(ram.data() + avail_area(q) + 2, &idx, 2);
            break;
        }
        case 9:
            parent_step(in, parents);
            break;
        default:
            break;
        }
        device->run_once(0);
        if (device->buffered_bytes() > kMaxConnections * kConnectionBuffer)
            __builtin_trap();
    }
    device->run_once(0);
    return 0;
}
