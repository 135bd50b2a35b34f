// vsock_bench — what the virtio-vsock device costs the host, in process, no VM: a synthetic
// guest driver (vsock_test_driver.h) on the main thread, the device's loop on its own thread,
// a parent on real Unix sockets (what the enclave daemon does, minus KVM).
//
// Each run measures, in an order that alternates from run to run (device first, then the
// socketpair; then the socketpair first):
//   - guest → parent: MiB bytes sent by the guest in 64 KiB packets, the parent reading them;
//     bytes per CPU-second of the device's loop thread (the VMM's whole cost: virtqueue, copy
//     out of guest memory, write to the parent's socket) and per wall-second;
//   - parent → guest: the parent writing 64 KiB at a time, the guest driver posting rx buffers
//     the way Linux 6.1 does (3776 bytes each); same figures;
//   - a 1-byte round trip guest → parent → guest through the device (the parent echoes);
//   - the same bytes over a plain Unix socketpair, the baseline: bytes per CPU-second of the
//     writing thread (what the device's g→p work is compared with: its irreducible part is that
//     write) and of the reading thread (for p→g), and a 1-byte round trip;
//   - a diagnostic: the reader doing what the device must do (readv into a guest-like ring of
//     3,776-byte slots that another thread reads back), per CPU-second.
// The driver behaves like Linux 6.1's: it kicks only when the device's avail_event asks for it,
// refills rx once half its 128 buffers came back, and with nothing to do re-enables interrupts
// (used_event) and sleeps until the device signals — so the device pays for its interrupts and
// wake-ups as it would under a real guest. Threads are not pinned: pinning the measured thread
// alone on one of these machines' two CPUs crowds the driver and the parent onto the other and
// measures that crowding instead (device rates fell by half, round trips went from 47 to 90+ µs).
//
// Usage: vsock_bench [--runs N] [--mib MiB] [--rtt-rounds K] [--json FILE]
//        vsock_bench MiB            (one run, as before)
//        --only h2g|g2h              only that direction, device side (for profiling the loop thread)
// Prints one summary line per figure (median, min, max over the runs); --json writes every
// sample: {"runs":N,"mib":M,"rtt_rounds":K,"samples":{"name":[...], ...}}.
#include "base/unix_address.h"
#include "vmm/vsock/vsock_device.h"
#include "vmm/testing/vsock_test_driver.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

using namespace vmm;
using namespace vmm::vsock;

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint32_t kChunk = 64 * 1024;
constexpr std::uint32_t kGuestBufAlloc = 256 * 1024;
constexpr std::uint16_t kRxBuffers = 128; // Linux 6.1's rx ring

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double thread_cpu_now()
{
    timespec ts {};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int listen_at(const std::string& path)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a;
    if (!base::unix_address(path, a) || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) {
        std::perror("vsock_bench: listen");
        std::exit(1);
    }
    return fd;
}

// Reads `total` bytes; returns the reading thread's CPU seconds.
double read_exactly(int fd, std::uint64_t total)
{
    double cpu0 = thread_cpu_now();
    std::vector<char> buffer(kChunk);
    while (total > 0) {
        ssize_t n = ::read(fd, buffer.data(), std::min<std::uint64_t>(buffer.size(), total));
        if (n <= 0)
            break;
        total -= static_cast<std::uint64_t>(n);
    }
    return thread_cpu_now() - cpu0;
}

// Writes `total` bytes in 64 KiB writes; returns the writing thread's CPU seconds.
double write_total(int fd, std::uint64_t total)
{
    double cpu0 = thread_cpu_now();
    std::vector<char> buffer(kChunk, 'p');
    while (total > 0) {
        ssize_t n = ::write(fd, buffer.data(), std::min<std::uint64_t>(buffer.size(), total));
        if (n <= 0)
            break;
        total -= static_cast<std::uint64_t>(n);
    }
    return thread_cpu_now() - cpu0;
}

void echo_loop(int fd)
{
    char c;
    while (::read(fd, &c, 1) == 1 && ::write(fd, &c, 1) == 1) {
    }
}

struct Stats {
    double median, min, max;
};

Stats stats_of(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return { median, v.front(), v.back() };
}

// The device side: one device, three guest connections to the parent's port 7000 that live
// across runs (100 guest → parent, 101 parent → guest, 102 round trips), per-connection credit.
class DeviceBench {
public:
    explicit DeviceBench(const std::string& dir)
        : m_ram(GuestMemory::create({ .size = 32 << 20, .page_size = 4096, .numa_node = -1, .lock = false }))
    {
        std::string uds = dir + "/1.vsock";
        VsockConfig config;
        config.guest_cid = 16;
        config.uds_path = uds;
        m_device = VsockDevice::create(std::make_unique<virtio::GuestMemoryRam>(m_ram), config);
        m_guest = std::make_unique<TestDriver>(*m_device, m_ram);
        m_guest->refill_batch = kRxBuffers / 2; // as Linux refills
        if (!m_guest->init(true, false, kRxBuffers)) {
            std::fprintf(stderr, "vsock_bench: driver init failed\n");
            std::exit(1);
        }
        m_device->start();
        m_listener = listen_at(uds + "_7000");
        m_g2h_parent = connect(kG2h);
        m_h2g_parent = connect(kH2g);
        m_rtt_parent = connect(kRtt);
        m_echo = std::thread(echo_loop, m_rtt_parent);
    }
    ~DeviceBench()
    {
        ::shutdown(m_rtt_parent, SHUT_RDWR);
        m_echo.join();
        m_device->stop();
        ::close(m_g2h_parent);
        ::close(m_h2g_parent);
        ::close(m_rtt_parent);
        ::close(m_listener);
    }

    struct Result {
        double bytes_per_cpu_s, bytes_per_wall_s;
    };

    Result guest_to_parent(std::uint64_t total)
    {
        double reader_cpu = 0;
        std::thread reader([&] { reader_cpu = read_exactly(m_g2h_parent, total); });
        std::string chunk(kChunk, 'g');
        std::uint64_t end = m_g2h_sent + total;
        ReceivedPacket p;
        double cpu0 = m_device->loop_cpu_seconds();
        auto t0 = Clock::now();
        while (m_g2h_sent < end) {
            m_guest->collect();
            while (m_guest->take(kG2h, p)) {
                m_g2h_peer_fwd = p.header.fwd_cnt;
                m_g2h_peer_alloc = p.header.buf_alloc;
            }
            std::uint32_t credit = m_g2h_peer_alloc - (static_cast<std::uint32_t>(m_g2h_sent) - m_g2h_peer_fwd);
            std::uint64_t n = std::min<std::uint64_t>({ credit, chunk.size(), end - m_g2h_sent });
            PacketHeader h = header(kOpRw, kG2h, static_cast<std::uint32_t>(n), 0);
            bool ok = n > 0 && (n == chunk.size() ? m_guest->send(h, chunk) : m_guest->send(h, chunk.substr(0, n)));
            if (ok)
                m_g2h_sent += n;
            else
                m_guest->wait_interrupt(kWaitMs); // no credit or no tx slot: sleep until the device answers
        }
        reader.join();
        double wall = seconds_since(t0), cpu = m_device->loop_cpu_seconds() - cpu0;
        return { total / cpu, total / wall };
    }

    Result parent_to_guest(std::uint64_t total)
    {
        std::thread writer([&] { write_total(m_h2g_parent, total); });
        std::uint64_t end = m_h2g_got + total;
        ReceivedPacket p;
        double cpu0 = m_device->loop_cpu_seconds();
        auto t0 = Clock::now();
        while (m_h2g_got < end) {
            m_guest->collect();
            bool any = false;
            while (m_guest->take(kH2g, p)) {
                any = true;
                if (p.header.op == kOpRw)
                    m_h2g_got += p.payload.size();
            }
            if (m_h2g_got - m_h2g_last_update >= kChunk) {
                m_guest->send(header(kOpCreditUpdate, kH2g, 0, static_cast<std::uint32_t>(m_h2g_got)));
                m_h2g_last_update = m_h2g_got;
            }
            if (!any)
                m_guest->wait_interrupt(kWaitMs);
        }
        double wall = seconds_since(t0), cpu = m_device->loop_cpu_seconds() - cpu0;
        writer.join();
        return { total / cpu, total / wall };
    }

    // Mean 1-byte round trip in microseconds.
    double round_trip_us(int rounds)
    {
        ReceivedPacket p;
        auto t0 = Clock::now();
        for (int i = 0; i < rounds; ++i) {
            while (!m_guest->send(header(kOpRw, kRtt, 1, static_cast<std::uint32_t>(m_rtt_got)), "x")) {
                m_guest->collect();
                m_guest->wait_interrupt(kWaitMs);
            }
            for (bool echoed = false; !echoed;) {
                wait_packet(kRtt, p);
                if (p.header.op == kOpRw) {
                    m_rtt_got += p.payload.size();
                    echoed = true;
                }
            }
        }
        return seconds_since(t0) / rounds * 1e6;
    }

private:
    static constexpr int kWaitMs = 50; // a lost interrupt would show as a slow run, not a hang
    static constexpr std::uint32_t kG2h = 100, kH2g = 101, kRtt = 102, kParentPort = 7000;

    PacketHeader header(std::uint16_t op, std::uint32_t port, std::uint32_t len, std::uint32_t fwd_cnt)
    {
        PacketHeader h = m_guest->header(op, port, kParentPort, len);
        h.buf_alloc = kGuestBufAlloc;
        h.fwd_cnt = fwd_cnt;
        return h;
    }
    void wait_packet(std::uint32_t port, ReceivedPacket& p)
    {
        for (;;) {
            m_guest->collect();
            if (m_guest->take(port, p))
                return;
            m_guest->wait_interrupt(kWaitMs);
        }
    }
    int connect(std::uint32_t port)
    {
        m_guest->send(header(kOpRequest, port, 0, 0));
        ReceivedPacket p;
        wait_packet(port, p);
        if (p.header.op != kOpResponse) {
            std::fprintf(stderr, "vsock_bench: connection %u refused (op %u)\n", port, p.header.op);
            std::exit(1);
        }
        if (port == kG2h) {
            m_g2h_peer_alloc = p.header.buf_alloc;
            m_g2h_peer_fwd = p.header.fwd_cnt;
        }
        return ::accept(m_listener, nullptr, nullptr);
    }

    GuestMemory m_ram;
    std::unique_ptr<VsockDevice> m_device;
    std::unique_ptr<TestDriver> m_guest;
    int m_listener { -1 }, m_g2h_parent { -1 }, m_h2g_parent { -1 }, m_rtt_parent { -1 };
    std::thread m_echo;
    std::uint64_t m_g2h_sent { 0 };
    std::uint32_t m_g2h_peer_fwd { 0 }, m_g2h_peer_alloc { 0 };
    std::uint64_t m_h2g_got { 0 }, m_h2g_last_update { 0 };
    std::uint64_t m_rtt_got { 0 };
};

void make_socketpair(int sp[2])
{
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
        std::perror("vsock_bench: socketpair");
        std::exit(1);
    }
}

// Where the scatter reader's guest thread leaves what it read, so the reads are not optimised away.
std::atomic<std::uint64_t> g_guest_sink { 0 };

struct SocketpairResult {
    double writer_bytes_per_cpu_s, reader_bytes_per_cpu_s, both_bytes_per_cpu_s, bytes_per_wall_s, rtt_us;
};

SocketpairResult socketpair_run(std::uint64_t total, int rounds)
{
    int sp[2];
    make_socketpair(sp);
    SocketpairResult r {};
    double reader_cpu = 0, writer_cpu = 0;
    auto t0 = Clock::now();
    std::thread reader([&] { reader_cpu = read_exactly(sp[1], total); });
    writer_cpu = write_total(sp[0], total);
    reader.join();
    double wall = seconds_since(t0);
    r.writer_bytes_per_cpu_s = total / writer_cpu;
    r.reader_bytes_per_cpu_s = total / reader_cpu;
    r.both_bytes_per_cpu_s = total / (writer_cpu + reader_cpu);
    r.bytes_per_wall_s = total / wall;
    std::thread pong(echo_loop, sp[1]);
    t0 = Clock::now();
    for (int i = 0; i < rounds; ++i) {
        char c = 'x';
        if (::write(sp[0], &c, 1) != 1 || ::read(sp[0], &c, 1) != 1)
            break;
    }
    r.rtt_us = seconds_since(t0) / rounds * 1e6;
    ::shutdown(sp[0], SHUT_RDWR);
    pong.join();
    ::close(sp[0]);
    ::close(sp[1]);
    return r;
}

// The reader's work as the device must do it (a diagnostic, not a goal's baseline): scattered
// reads (readv) into 3,776-byte slots of a 128-slot ring spread over 512 KiB, each slot then read
// by a consumer thread — the guest — before it is filled again. Returns the reader's bytes per
// CPU-second.
double scatter_reader_run(std::uint64_t total)
{
    constexpr std::size_t kSlots = 128, kSlotStride = 4096, kSlotBytes = 3776, kBatch = 17; // ≈ 64 KiB a read
    int sp[2];
    make_socketpair(sp);
    std::vector<std::uint8_t> ring(kSlots * kSlotStride);
    std::vector<std::uint32_t> lengths(kSlots);
    std::atomic<std::uint64_t> filled { 0 }, consumed { 0 };
    std::atomic<bool> done { false };
    std::thread guest([&] {
        std::uint64_t sum = 0;
        while (!done.load(std::memory_order_acquire) || consumed.load() < filled.load()) {
            std::uint64_t f = filled.load(std::memory_order_acquire), c = consumed.load(std::memory_order_relaxed);
            if (c == f) {
                std::this_thread::yield();
                continue;
            }
            for (; c < f; ++c) {
                const std::uint8_t* slot = &ring[(c % kSlots) * kSlotStride];
                for (std::uint32_t i = 0; i < lengths[c % kSlots]; i += 64)
                    sum += slot[i];
            }
            consumed.store(c, std::memory_order_release);
        }
        g_guest_sink.store(sum, std::memory_order_relaxed);
    });
    double reader_cpu = 0;
    std::thread reader([&] {
        double cpu0 = thread_cpu_now();
        std::uint64_t left = total, next = 0;
        iovec iov[kBatch];
        while (left > 0) {
            std::size_t room = kSlots - (next - consumed.load(std::memory_order_acquire));
            std::size_t n = std::min<std::size_t>(room, kBatch);
            if (n == 0) {
                std::this_thread::yield();
                continue;
            }
            for (std::size_t i = 0; i < n; ++i)
                iov[i] = { &ring[((next + i) % kSlots) * kSlotStride], kSlotBytes };
            ssize_t got = ::readv(sp[1], iov, static_cast<int>(n));
            if (got <= 0)
                break;
            std::uint64_t bytes = static_cast<std::uint64_t>(got);
            left -= std::min(left, bytes);
            for (; bytes > 0; ++next) {
                lengths[next % kSlots] = static_cast<std::uint32_t>(std::min<std::uint64_t>(bytes, kSlotBytes));
                bytes -= lengths[next % kSlots];
            }
            filled.store(next, std::memory_order_release);
        }
        reader_cpu = thread_cpu_now() - cpu0;
    });
    write_total(sp[0], total);
    reader.join();
    done.store(true, std::memory_order_release);
    guest.join();
    ::close(sp[0]);
    ::close(sp[1]);
    return total / reader_cpu;
}

// Where a bench's device puts its Unix sockets: a new directory under /tmp, removed at the end.
struct SocketDir {
    std::string path;
    SocketDir()
    {
        char pattern[] = "/tmp/vsock-bench-XXXXXX";
        path = ::mkdtemp(pattern);
    }
    // 0 if the directory went away, else 1 (the process's exit status).
    int remove() const
    {
        std::string cmd = "rm -rf " + path;
        return std::system(cmd.c_str()) == 0 ? 0 : 1;
    }
};

// --only: the device's loop in one direction, nothing else (a profiler's view of that path).
int profile_one_direction(bool h2g, std::uint64_t total, int runs)
{
    SocketDir dir;
    std::vector<double> rates;
    {
        DeviceBench device(dir.path);
        for (int r = 0; r < runs; ++r)
            rates.push_back((h2g ? device.parent_to_guest(total) : device.guest_to_parent(total)).bytes_per_cpu_s);
    }
    Stats s = stats_of(rates);
    std::printf("%s per device CPU-second %.2f [%.2f, %.2f] GB\n", h2g ? "parent->guest" : "guest->parent", s.median / 1e9,
        s.min / 1e9, s.max / 1e9);
    return dir.remove();
}

[[noreturn]] void usage()
{
    std::fprintf(stderr, "usage: vsock_bench [--runs N] [--mib MiB] [--rtt-rounds K] [--json FILE] [--only h2g|g2h] | vsock_bench MiB\n");
    std::exit(2);
}

} // namespace

int main(int argc, char** argv)
{
    int runs = 1, rtt_rounds = 2000;
    std::uint64_t mib = 256;
    std::string json_path, only;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage();
            return argv[++i];
        };
        if (a == "--runs")
            runs = std::atoi(value().c_str());
        else if (a == "--mib")
            mib = std::strtoull(value().c_str(), nullptr, 10);
        else if (a == "--rtt-rounds")
            rtt_rounds = std::atoi(value().c_str());
        else if (a == "--json")
            json_path = value();
        else if (a == "--only")
            only = value();
        else if (!a.empty() && a[0] != '-')
            mib = std::strtoull(a.c_str(), nullptr, 10);
        else
            usage();
    }
    if (runs < 1 || mib < 1 || rtt_rounds < 1 || (!only.empty() && only != "h2g" && only != "g2h"))
        usage();
    const std::uint64_t total = mib << 20;
    if (!only.empty())
        return profile_one_direction(only == "h2g", total, runs);

    SocketDir dir;
    std::map<std::string, std::vector<double>> samples;
    {
        DeviceBench device(dir.path);
        for (int r = 0; r < runs; ++r) {
            auto run_device = [&] {
                auto g2h = device.guest_to_parent(total);
                auto h2g = device.parent_to_guest(total);
                samples["device_g2h_bytes_per_cpu_s"].push_back(g2h.bytes_per_cpu_s);
                samples["device_g2h_bytes_per_wall_s"].push_back(g2h.bytes_per_wall_s);
                samples["device_h2g_bytes_per_cpu_s"].push_back(h2g.bytes_per_cpu_s);
                samples["device_h2g_bytes_per_wall_s"].push_back(h2g.bytes_per_wall_s);
                samples["device_rtt_us"].push_back(device.round_trip_us(rtt_rounds));
            };
            auto run_socketpair = [&] {
                SocketpairResult s = socketpair_run(total, rtt_rounds);
                samples["socketpair_writer_bytes_per_cpu_s"].push_back(s.writer_bytes_per_cpu_s);
                samples["socketpair_reader_bytes_per_cpu_s"].push_back(s.reader_bytes_per_cpu_s);
                samples["socketpair_both_bytes_per_cpu_s"].push_back(s.both_bytes_per_cpu_s);
                samples["socketpair_bytes_per_wall_s"].push_back(s.bytes_per_wall_s);
                samples["socketpair_rtt_us"].push_back(s.rtt_us);
                samples["scatter_reader_bytes_per_cpu_s"].push_back(scatter_reader_run(total));
            };
            if (r % 2 == 0) {
                run_device();
                run_socketpair();
            } else {
                run_socketpair();
                run_device();
            }
            // Ratios within the run: the device against the socket operation it cannot avoid.
            samples["ratio_g2h_vs_socketpair_writer"].push_back(
                samples["device_g2h_bytes_per_cpu_s"].back() / samples["socketpair_writer_bytes_per_cpu_s"].back());
            samples["ratio_h2g_vs_socketpair_reader"].push_back(
                samples["device_h2g_bytes_per_cpu_s"].back() / samples["socketpair_reader_bytes_per_cpu_s"].back());
            samples["ratio_h2g_vs_scatter_reader"].push_back(
                samples["device_h2g_bytes_per_cpu_s"].back() / samples["scatter_reader_bytes_per_cpu_s"].back());
            // The ceiling of any device that copies into guest buffers: the scattering reader
            // (that copy and nothing else — no ring, no event loop, no interrupt) ÷ the plain reader.
            samples["ratio_scatter_vs_socketpair_reader"].push_back(
                samples["scatter_reader_bytes_per_cpu_s"].back() / samples["socketpair_reader_bytes_per_cpu_s"].back());
            samples["ratio_rtt_device_vs_socketpair"].push_back(samples["device_rtt_us"].back() / samples["socketpair_rtt_us"].back());
        }
    }
    int rm_status = dir.remove();

    std::printf("vsock_bench: %d run(s) of %llu MiB per direction, 64 KiB writes, %d round trips (median [min, max])\n", runs,
        static_cast<unsigned long long>(mib), rtt_rounds);
    auto line = [&](const char* what, const std::string& key, double scale, const char* unit) {
        Stats s = stats_of(samples[key]);
        std::printf("  %-44s %9.2f  [%.2f, %.2f] %s\n", what, s.median / scale, s.min / scale, s.max / scale, unit);
    };
    line("guest->parent per device CPU-second", "device_g2h_bytes_per_cpu_s", 1e9, "GB");
    line("parent->guest per device CPU-second", "device_h2g_bytes_per_cpu_s", 1e9, "GB");
    line("guest->parent wall", "device_g2h_bytes_per_wall_s", 1e9, "GB/s");
    line("parent->guest wall", "device_h2g_bytes_per_wall_s", 1e9, "GB/s");
    line("socketpair per writer CPU-second", "socketpair_writer_bytes_per_cpu_s", 1e9, "GB");
    line("socketpair per reader CPU-second", "socketpair_reader_bytes_per_cpu_s", 1e9, "GB");
    line("socketpair wall", "socketpair_bytes_per_wall_s", 1e9, "GB/s");
    line("device g->p / socketpair writer", "ratio_g2h_vs_socketpair_writer", 1, "");
    line("device p->g / socketpair reader", "ratio_h2g_vs_socketpair_reader", 1, "");
    line("scatter reader (readv into a guest-like ring)", "scatter_reader_bytes_per_cpu_s", 1e9, "GB");
    line("device p->g / scatter reader", "ratio_h2g_vs_scatter_reader", 1, "");
    line("scatter reader / socketpair reader (ceiling)", "ratio_scatter_vs_socketpair_reader", 1, "");
    line("1-byte round trip through the device", "device_rtt_us", 1, "us");
    line("1-byte round trip over a socketpair", "socketpair_rtt_us", 1, "us");

    if (!json_path.empty()) {
        FILE* f = std::fopen(json_path.c_str(), "w");
        if (!f) {
            std::perror(json_path.c_str());
            return 1;
        }
        std::fprintf(f, "{\"runs\":%d,\"mib\":%llu,\"rtt_rounds\":%d,\"write_size\":%u,\"samples\":{", runs,
            static_cast<unsigned long long>(mib), rtt_rounds, kChunk);
        bool first = true;
        for (const auto& [name, values] : samples) {
            std::fprintf(f, "%s\"%s\":[", first ? "" : ",", name.c_str());
            for (std::size_t i = 0; i < values.size(); ++i)
                std::fprintf(f, "%s%.6g", i ? "," : "", values[i]);
            std::fprintf(f, "]");
            first = false;
        }
        std::fprintf(f, "}}\n");
        std::fclose(f);
    }
    return rm_status;
}
