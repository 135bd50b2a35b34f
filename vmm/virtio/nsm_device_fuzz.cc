// libFuzzer target: the NSM virtio-mmio device (transport, its one split queue, the request /
// response framing of serve_nsm_queue) driven by a hostile guest: raw writes anywhere in a
// 1 MiB guest RAM (descriptors, rings, requests), raw descriptors and avail entries, register
// reads and writes, requests in the Linux driver's two-chain layout or in one chain (their
// response buffers posted or not, of any size), kicks with device rounds, resets and
// re-initialisation. The device must never crash, hang, touch memory outside guest RAM (ASan
// sees the buffer's bounds) or hand the handler more than kMaxRequestSize + 1 bytes.
//
// Run: make BUILD=build/fuzz-nsm fuzz FUZZ_SECONDS=600   (or build/.../fuzz/nsm_device_fuzz)
#include "vmm/testing/vsock_fuzz_input.h"
#include "vmm/virtio/nsm_device.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace vmm::virtio;
using vsock_fuzz::Input;

namespace {

constexpr std::uint64_t kRamSize = 1 << 20;
constexpr std::uint16_t kQueueSize = NsmDevice::kQueueSize;
constexpr std::uint64_t kDesc = 0x1000, kAvail = 0x1800, kUsed = 0x2000;
constexpr std::uint64_t kBuffers = 0x10000; // request/response buffers from here on

struct Guest {
    std::vector<std::uint8_t>& ram;
    NsmDevice& dev;
    std::uint16_t avail_idx = 0;
    std::uint16_t next_desc = 0;

    void reg_write(std::uint64_t offset, std::uint32_t value)
    {
        std::uint8_t b[4];
        std::memcpy(b, &value, 4);
        dev.transport().mmio_write(offset, b, 4);
    }
    void reg_read(std::uint64_t offset, std::size_t size)
    {
        std::uint8_t b[8] = {};
        dev.transport().mmio_read(offset, b, size);
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
        reg_write(mmio::kQueueSel, 0);
        reg_write(mmio::kQueueNum, kQueueSize);
        reg_write(mmio::kQueueDescLow, static_cast<std::uint32_t>(kDesc));
        reg_write(mmio::kQueueDriverLow, static_cast<std::uint32_t>(kAvail));
        reg_write(mmio::kQueueDeviceLow, static_cast<std::uint32_t>(kUsed));
        reg_write(mmio::kQueueReady, 1);
        reg_write(mmio::kStatus, 15);
        avail_idx = 0;
        next_desc = 0;
    }
    void set_desc(std::uint16_t i, std::uint64_t addr, std::uint32_t len, std::uint16_t flags, std::uint16_t next)
    {
        std::uint8_t* d = ram.data() + kDesc + 16 * (i % kQueueSize);
        std::memcpy(d, &addr, 8);
        std::memcpy(d + 8, &len, 4);
        std::memcpy(d + 12, &flags, 2);
        std::memcpy(d + 14, &next, 2);
    }
    void offer(std::uint16_t head)
    {
        std::uint8_t* a = ram.data() + kAvail;
        std::memcpy(a + 4 + 2 * (avail_idx % kQueueSize), &head, 2);
        ++avail_idx;
        std::memcpy(a + 2, &avail_idx, 2);
    }
    // Request bytes (from the input) in buffer slot d; room for the response in slot d + 1.
    void request(Input& in, bool one_chain, bool with_response)
    {
        std::uint16_t d = next_desc;
        next_desc = static_cast<std::uint16_t>((next_desc + 2) % kQueueSize);
        std::uint64_t req = kBuffers + 0x3000ull * d, resp = req + 0x3000; // d even: below 0xd0000
        std::size_t n = std::min<std::size_t>(in.u16() % 0x1400, in.size - std::min(in.pos, in.size));
        std::memcpy(ram.data() + req, in.data + in.pos, n);
        in.pos += n;
        std::uint32_t room = in.u8() & 1 ? in.u16() % 0x3001 : 0x3000;
        if (one_chain) {
            set_desc(d, req, static_cast<std::uint32_t>(n), kDescFlagNext, static_cast<std::uint16_t>(d + 1));
            set_desc(static_cast<std::uint16_t>(d + 1), resp, room, kDescFlagWrite, 0);
            offer(d);
            return;
        }
        set_desc(d, req, static_cast<std::uint32_t>(n), 0, 0);
        offer(d);
        if (with_response) {
            set_desc(static_cast<std::uint16_t>(d + 1), resp, room, kDescFlagWrite, 0);
            offer(static_cast<std::uint16_t>(d + 1));
        }
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static std::vector<std::uint8_t> ram(kRamSize);
    std::memset(ram.data(), 0, ram.size());
    Input in { data, size };
    std::size_t response_size = 0;
    auto device = NsmDevice::create(std::make_unique<FlatGuestRam>(ram.data(), ram.size()), [&](std::string_view request) {
        if (request.size() > vmm::nsm::kMaxRequestSize + 1)
            std::abort(); // the documented cut was not made
        return std::string(response_size, '\xa5');
    });
    Guest g { ram, *device };
    g.init(in.u8() & 1);

    int steps = 0;
    while (!in.empty() && steps++ < 256) {
        switch (in.u8() % 8) {
        case 0: { // raw bytes anywhere in RAM
            std::uint64_t at = in.u32() % kRamSize;
            std::size_t n = std::min<std::size_t>({ in.u8(), kRamSize - at, in.size - std::min(in.pos, in.size) });
            std::memcpy(ram.data() + at, in.data + in.pos, n);
            in.pos += n;
            break;
        }
        case 1: { // a raw descriptor and an avail entry
            std::uint16_t i = in.u8();
            std::uint64_t addr = in.u8() & 1 ? in.u64() : in.u32() % kRamSize;
            g.set_desc(i, addr, in.u32(), in.u16(), in.u16());
            g.offer(in.u8() & 0x80 ? in.u16() : i % kQueueSize);
            break;
        }
        case 2: { // a request in the Linux driver's layout or in one chain
            std::uint8_t pick = in.u8();
            g.request(in, pick & 1, !(pick & 2));
            break;
        }
        case 3: // a kick and a device round, with a response of a fuzzed size
            response_size = in.u16() % 0x4000;
            g.reg_write(mmio::kQueueNotify, 0);
            device->run_once(0);
            break;
        case 4: { // any register write
            std::uint64_t off = in.u16() % 0x200;
            g.reg_write(off & ~3ull, in.u32());
            break;
        }
        case 5:
            g.reg_read(in.u16() % 0x200, std::size_t(1) << (in.u8() % 4));
            break;
        case 6:
            g.reg_write(mmio::kStatus, 0); // reset mid-way
            break;
        case 7:
            g.init(in.u8() & 1);
            break;
        }
    }
    device->run_once(0);
    return 0;
}
