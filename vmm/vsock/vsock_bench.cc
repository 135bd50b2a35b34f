// vsock_bench — what the virtio-vsock device costs the host, in process, no VM: a synthetic
// guest driver (vsock_test_driver.h) on the main thread, the device's loop on its own thread,
// a parent on real Unix sockets. Reports bytes moved per CPU-second of the device's loop thread
// guest → parent and parent → guest (64 KiB writes), a 1-byte round trip through the device, and
// the same for a plain Unix socketpair for comparison.
//
// Usage: vsock_bench [MiB per direction, default 256]
#include "vmm/vsock/vsock_device.h"
#include "vmm/vsock/vsock_test_driver.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

using namespace vmm;
using namespace vmm::vsock;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double thread_cpu(pthread_t thread)
{
    clockid_t clock;
    timespec ts {};
    pthread_getcpuclockid(thread, &clock);
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int listen_at(const std::string& path)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a {};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) {
        std::perror("listen");
        std::exit(1);
    }
    return fd;
}

void read_exactly(int fd, std::uint64_t total)
{
    std::vector<char> buffer(1 << 16);
    while (total > 0) {
        ssize_t n = ::read(fd, buffer.data(), std::min<std::uint64_t>(buffer.size(), total));
        if (n <= 0)
            return;
        total -= static_cast<std::uint64_t>(n);
    }
}

void write_total(int fd, std::uint64_t total)
{
    std::vector<char> buffer(1 << 16, 'p');
    while (total > 0) {
        ssize_t n = ::write(fd, buffer.data(), std::min<std::uint64_t>(buffer.size(), total));
        if (n <= 0)
            return;
        total -= static_cast<std::uint64_t>(n);
    }
}

} // namespace

int main(int argc, char** argv)
{
    std::uint64_t total = (argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256) << 20;
    char pattern[] = "/tmp/vsock-bench-XXXXXX";
    std::string dir = ::mkdtemp(pattern);
    std::string uds = dir + "/1.vsock";
    GuestMemory ram = GuestMemory::create({ .size = 32 << 20, .page_size = 4096, .numa_node = -1, .lock = false });
    VsockConfig config;
    config.guest_cid = 16;
    config.uds_path = uds;
    auto device = VsockDevice::create(std::make_unique<virtio::GuestMemoryRam>(ram), config);
    TestDriver guest(*device, ram);
    if (!guest.init()) {
        std::fprintf(stderr, "vsock_bench: driver init failed\n");
        return 1;
    }
    device->start();
    int listener = listen_at(uds + "_7000");
    auto wait_packet = [&](std::uint32_t port, ReceivedPacket& p) {
        for (;;) {
            guest.collect();
            if (guest.take(port, p))
                return;
        }
    };

    // --- guest → parent ---
    guest.send(guest.header(kOpRequest, 100, 7000));
    ReceivedPacket p;
    wait_packet(100, p);
    int parent = ::accept(listener, nullptr, nullptr);
    std::thread reader([&] { read_exactly(parent, total); });
    std::string chunk(64 * 1024, 'g');
    std::uint64_t sent = 0;
    std::uint32_t peer_fwd = 0, peer_alloc = p.header.buf_alloc;
    double cpu0 = device->loop_cpu_seconds();
    auto t0 = Clock::now();
    while (sent < total) {
        guest.collect();
        while (guest.take(100, p)) {
            peer_fwd = p.header.fwd_cnt;
            peer_alloc = p.header.buf_alloc;
        }
        std::uint32_t credit = peer_alloc - (static_cast<std::uint32_t>(sent) - peer_fwd);
        std::uint64_t n = std::min<std::uint64_t>({ credit, chunk.size(), total - sent });
        if (n == 0)
            continue;
        if (n != chunk.size()) {
            if (!guest.send(guest.header(kOpRw, 100, 7000, static_cast<std::uint32_t>(n)), chunk.substr(0, n)))
                continue;
        } else if (!guest.send(guest.header(kOpRw, 100, 7000, static_cast<std::uint32_t>(n)), chunk)) {
            continue;
        }
        sent += n;
    }
    reader.join();
    double wall = seconds_since(t0), cpu = device->loop_cpu_seconds() - cpu0;
    std::printf("guest->parent  %6.0f MiB/s wall  %7.0f MiB per device CPU-second  (%llu MiB, device CPU %.2f s)\n",
        total / 1048576.0 / wall, total / 1048576.0 / cpu, static_cast<unsigned long long>(total >> 20), cpu);

    // --- parent → guest ---
    guest.buf_alloc = 256 * 1024;
    guest.fwd_cnt = 0;
    guest.send(guest.header(kOpRequest, 101, 7000));
    wait_packet(101, p);
    int parent2 = ::accept(listener, nullptr, nullptr);
    std::thread writer([&] { write_total(parent2, total); });
    std::uint64_t got = 0, last_update = 0;
    cpu0 = device->loop_cpu_seconds();
    t0 = Clock::now();
    while (got < total) {
        guest.collect();
        while (guest.take(101, p))
            if (p.header.op == kOpRw)
                got += p.payload.size();
        guest.fwd_cnt = static_cast<std::uint32_t>(got);
        if (got - last_update >= 64 * 1024) {
            guest.send(guest.header(kOpCreditUpdate, 101, 7000));
            last_update = got;
        }
    }
    writer.join();
    wall = seconds_since(t0);
    cpu = device->loop_cpu_seconds() - cpu0;
    std::printf("parent->guest  %6.0f MiB/s wall  %7.0f MiB per device CPU-second  (device CPU %.2f s)\n",
        total / 1048576.0 / wall, total / 1048576.0 / cpu, cpu);

    // --- 1-byte round trip through the device (the parent echoes) ---
    std::thread echo([&] {
        char c;
        while (::read(parent, &c, 1) == 1 && ::write(parent, &c, 1) == 1) {
        }
    });
    const int rounds = 5000;
    guest.buf_alloc = 1 << 30;
    guest.fwd_cnt = 0; // connection 100 has received nothing yet
    t0 = Clock::now();
    for (int i = 0; i < rounds; ++i) {
        guest.send(guest.header(kOpRw, 100, 7000, 1), "x");
        do
            wait_packet(100, p);
        while (p.header.op != kOpRw);
    }
    double rtt = seconds_since(t0) / rounds * 1e6;
    std::printf("1-byte round trip through the device: %.1f us (mean of %d)\n", rtt, rounds);
    ::shutdown(parent, SHUT_RDWR);
    echo.join();
    device->stop();

    // --- the same over a plain socketpair ---
    int sp[2];
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
    std::atomic<double> reader_cpu { 0 };
    t0 = Clock::now();
    std::thread r([&] { read_exactly(sp[1], total); reader_cpu = thread_cpu(pthread_self()); });
    double w0 = thread_cpu(pthread_self());
    write_total(sp[0], total);
    double writer_cpu = thread_cpu(pthread_self()) - w0;
    r.join();
    wall = seconds_since(t0);
    std::printf("socketpair     %6.0f MiB/s wall  %7.0f MiB per CPU-second (writer + reader)\n", total / 1048576.0 / wall,
        total / 1048576.0 / (writer_cpu + reader_cpu.load()));
    std::thread pong([&] {
        char c;
        while (::read(sp[1], &c, 1) == 1 && ::write(sp[1], &c, 1) == 1) {
        }
    });
    t0 = Clock::now();
    for (int i = 0; i < rounds; ++i) {
        char c = 'x';
        if (::write(sp[0], &c, 1) != 1 || ::read(sp[0], &c, 1) != 1)
            break;
    }
    std::printf("1-byte round trip over a socketpair: %.1f us\n", seconds_since(t0) / rounds * 1e6);
    ::shutdown(sp[0], SHUT_RDWR);
    pong.join();
    std::string cmd = "rm -rf " + dir;
    return std::system(cmd.c_str()) == 0 ? 0 : 1;
}
