#include "vmm/vsock/vsock_device.h"

#include "base/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/epoll.h>
#include <ctime>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace vmm {

namespace {

base::UniqueFd make_eventfd()
{
    base::UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!fd.valid())
        base::throw_errno("VSOCK_EVENTFD", "cannot create an eventfd for", "the vsock device");
    return fd;
}

void signal_eventfd(int fd)
{
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
}

void drain_eventfd(int fd)
{
    std::uint64_t value;
    [[maybe_unused]] ssize_t n = ::read(fd, &value, sizeof value);
}

} // namespace

std::unique_ptr<VsockDevice> VsockDevice::create(std::unique_ptr<virtio::GuestRam> ram, const VsockConfig& config)
{
    if (config.guest_cid < 4 || config.guest_cid >= 0xffff'ffffull)
        throw base::Error(base::ErrorKind::InvalidInput, "VSOCK_BAD_CID",
            "enclave CID " + std::to_string(config.guest_cid) + " is reserved or too large; use a CID from 4 to 4294967294");
    return std::unique_ptr<VsockDevice>(new VsockDevice(std::move(ram), config));
}

VsockDevice::VsockDevice(std::unique_ptr<virtio::GuestRam> ram, const VsockConfig& config)
    : m_config(config)
    , m_ram(std::move(ram))
{
    m_epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!m_epoll.valid())
        base::throw_errno("VSOCK_EPOLL", "cannot create an epoll set for", "the vsock device");
    auto watch = [this](int fd, std::uint64_t token) {
        epoll_event e {};
        e.events = EPOLLIN;
        e.data.u64 = token;
        if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &e) != 0)
            base::throw_errno("VSOCK_EPOLL", "cannot watch an eventfd of", "the vsock device");
    };
    for (std::uint16_t q = 0; q < m_kick.size(); ++q) {
        m_kick[q] = make_eventfd();
        watch(m_kick[q].get(), q);
    }
    m_interrupt = make_eventfd();
    m_stop = make_eventfd();
    watch(m_stop.get(), kStopToken);
    int kick_fds[3] = { m_kick[0].get(), m_kick[1].get(), m_kick[2].get() };
    int irq = m_interrupt.get();
    m_transport = std::make_unique<virtio::MmioTransport>(
        *m_ram, *this,
        [kick_fds](std::uint16_t queue) { signal_eventfd(kick_fds[queue]); },
        [irq] { signal_eventfd(irq); });
    vsock::MuxerConfig mc;
    mc.guest_cid = config.guest_cid;
    mc.uds_path = config.uds_path;
    mc.services.on_heartbeat = config.on_heartbeat;
    mc.services.on_app_status = config.on_app_status;
    m_muxer = std::make_unique<vsock::VsockMuxer>(std::move(mc), m_epoll.get());
}

VsockDevice::~VsockDevice()
{
    stop();
}

std::string VsockDevice::cmdline_fragment(std::uint64_t mmio_base, std::uint32_t gsi)
{
    char text[80];
    std::snprintf(text, sizeof text, "virtio_mmio.device=4K@0x%llx:%u", static_cast<unsigned long long>(mmio_base), gsi);
    return text;
}

void VsockDevice::start()
{
    if (m_thread.joinable())
        return;
    m_stopping.store(false);
    m_thread = std::thread([this] {
        pthread_setname_np(pthread_self(), "vsock");
        while (!m_stopping.load())
            run_once(-1);
    });
}

void VsockDevice::stop()
{
    if (!m_thread.joinable())
        return;
    m_stopping.store(true);
    signal_eventfd(m_stop.get());
    m_thread.join();
}

int VsockDevice::run_once(int timeout_ms)
{
    epoll_event events[64];
    int timeout = timeout_ms;
    if (m_deadlines && (timeout < 0 || timeout > 250))
        timeout = 250; // handshakes and lingering closes expire on time
    int n = ::epoll_wait(m_epoll.get(), events, 64, timeout);
    if (n < 0)
        n = 0; // EINTR
    std::lock_guard guard(m_transport->lock());
    for (int i = 0; i < n; ++i) {
        std::uint64_t token = events[i].data.u64;
        if (token < m_kick.size())
            drain_eventfd(m_kick[token].get());
        else if (token == kStopToken)
            drain_eventfd(m_stop.get());
        else
            m_muxer->handle_event(token, events[i].events);
    }
    process_queues_locked();
    m_deadlines = m_muxer->sweep(std::chrono::steady_clock::now());
    if (m_deadlines || m_muxer->has_pending_rx())
        process_queues_locked(); // the sweep may have queued RSTs
    return n;
}

void VsockDevice::process_queues_locked()
{
    if (!m_queues)
        return;
    process_tx_locked();
    process_rx_locked();
    std::vector<virtio::Virtqueue>& q = *m_queues;
    bool interrupt = q[vsock::kQueueRx].needs_interrupt();
    interrupt = q[vsock::kQueueTx].needs_interrupt() || interrupt;
    if (interrupt)
        m_transport->signal_used_buffers();
}

void VsockDevice::process_tx_locked()
{
    virtio::Virtqueue& tx = (*m_queues)[vsock::kQueueTx];
    if (!tx.ready())
        return;
    do {
        while (tx.pop(m_chain)) {
            if (!m_chain.writable.empty() || m_chain.readable_bytes < vsock::kHeaderSize) {
                // Wrong direction or too short for a header: dropped.
                tx.add_used(m_chain.head, 0);
                m_muxer->note_malformed_packet();
                continue;
            }
            std::uint8_t bytes[vsock::kHeaderSize];
            virtio::copy_from_segments(m_chain.readable, 0, bytes, sizeof bytes);
            m_muxer->handle_guest_packet(vsock::PacketHeader::decode(bytes), m_chain.readable);
            tx.add_used(m_chain.head, 0);
            // The guest may keep sending while rx is full: replies wait in the muxer (bounded).
        }
    } while (tx.enable_notifications());
}

void VsockDevice::process_rx_locked()
{
    virtio::Virtqueue& rx = (*m_queues)[vsock::kQueueRx];
    if (!rx.ready())
        return;
    while (m_muxer->has_pending_rx()) {
        if (!rx.pop(m_chain)) {
            if (!rx.enable_notifications())
                break; // no buffers: the driver's next rx kick wakes us
            continue;
        }
        if (!m_chain.readable.empty() || m_chain.writable_bytes < vsock::kHeaderSize) {
            rx.add_used(m_chain.head, 0); // unusable buffer (wrong direction or too short)
            m_muxer->note_malformed_packet();
            continue;
        }
        std::size_t capacity = static_cast<std::size_t>(std::min<std::uint64_t>(m_chain.writable_bytes, 0xffff'ffffull));
        std::size_t n = m_muxer->fill_rx_buffer(m_chain.writable, capacity);
        if (n == 0 && m_muxer->buffer_too_small()) {
            rx.add_used(m_chain.head, 0); // header-only buffer while data waits: hand it back empty
            m_muxer->note_malformed_packet();
            continue;
        }
        if (n == 0) {
            rx.undo_pop();
            break;
        }
        rx.add_used(m_chain.head, static_cast<std::uint32_t>(n));
    }
}

void VsockDevice::read_config(std::uint64_t offset, std::uint8_t* data, std::size_t size) const
{
    std::uint8_t config[8];
    std::uint64_t cid = m_config.guest_cid;
    std::memcpy(config, &cid, sizeof config);
    for (std::size_t i = 0; i < size; ++i)
        data[i] = offset + i < sizeof config ? config[offset + i] : 0;
}

void VsockDevice::activate(std::vector<virtio::Virtqueue>& queues, std::uint64_t)
{
    m_queues = &queues;
    wake(vsock::kQueueRx); // host connections may be waiting for the driver
}

void VsockDevice::reset()
{
    m_queues = nullptr;
    m_muxer->reset();
}

void VsockDevice::wake(std::uint16_t queue)
{
    signal_eventfd(m_kick[queue].get());
}

double VsockDevice::loop_cpu_seconds() const
{
    if (!m_thread.joinable())
        return 0;
    clockid_t clock;
    timespec ts {};
    if (pthread_getcpuclockid(const_cast<std::thread&>(m_thread).native_handle(), &clock) != 0 || ::clock_gettime(clock, &ts) != 0)
        return 0;
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

vsock::VsockStats VsockDevice::stats()
{
    std::lock_guard guard(m_transport->lock());
    vsock::VsockStats s = m_muxer->stats();
    for (virtio::Virtqueue& q : m_transport->queues())
        s.malformed_chains += q.malformed_chains();
    return s;
}

std::size_t VsockDevice::buffered_bytes()
{
    std::lock_guard guard(m_transport->lock());
    return m_muxer->buffered_bytes();
}

} // namespace vmm
