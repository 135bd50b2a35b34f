#include "vmm/vsock/vsock_core.h"

#include "base/error.h"
#include "base/eventfd.h"

#include <algorithm>
#include <array>
#include <span>
#include <cstring>
#include <ctime>
#include <utility>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace vmm::vsock {

namespace {

// The device loop: epoll, virtqueues, parent sockets (buffers on the heap): < 16 KiB touched,
// measured in the daemon with 100 connections and 256 KiB transfers; the rest is margin.
constexpr std::size_t kLoopThreadStack = 64 << 10;

void drain_eventfd(int fd)
{
    std::uint64_t value;
    [[maybe_unused]] ssize_t n = ::read(fd, &value, sizeof value);
}

} // namespace

void VsockCore::check_guest_cid(std::uint64_t cid)
{
    if (cid < 4 || cid >= 0xffff'ffffull)
        throw base::Error(base::ErrorKind::InvalidInput, "VSOCK_BAD_CID",
            "enclave CID " + std::to_string(cid) + " is reserved or too large; use a CID from 4 to 4294967294");
}

void VsockCore::read_config(std::uint64_t guest_cid, std::uint64_t offset, std::uint8_t* data, std::size_t size)
{
    std::uint8_t config[8];
    std::memcpy(config, &guest_cid, sizeof config); // x86: already little-endian
    for (std::size_t i = 0; i < size; ++i)
        data[i] = offset < sizeof config && i < sizeof config - offset ? config[offset + i] : 0;
}

VsockCore::VsockCore(MuxerConfig config, std::mutex& lock, Interrupt interrupt)
    : m_lock(lock)
    , m_interrupt(std::move(interrupt))
    , m_rx_chains(1)
    , m_on_quiet(config.on_quiet)
{
    for (auto& k : m_kick)
        k.store(-1);
    m_epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!m_epoll.valid())
        base::throw_errno("VSOCK_EPOLL", "cannot create an epoll set for", "the vsock device");
    m_wake.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!m_wake.valid())
        base::throw_errno("VSOCK_EVENTFD", "cannot create an eventfd for", "the vsock device");
    watch(m_wake.get(), kWakeToken, EPOLLIN);
    m_muxer = std::make_unique<VsockMuxer>(std::move(config), m_epoll.get());
}

VsockCore::~VsockCore()
{
    stop();
}

void VsockCore::watch(int fd, std::uint64_t token, std::uint32_t events)
{
    epoll_event e {};
    e.events = events;
    e.data.u64 = token;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &e) != 0)
        base::throw_errno("VSOCK_EPOLL", "cannot watch a file descriptor of", "the vsock device");
}

void VsockCore::unwatch(int fd)
{
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
}

bool VsockCore::watch_kick(std::uint16_t queue, int fd)
{
    if (queue >= kQueueCount)
        return false;
    int old = m_kick[queue].exchange(-1);
    if (old >= 0)
        unwatch(old);
    if (fd < 0)
        return true;
    // Edge-triggered: every kick (an eventfd write) is one event, and the loop never has to
    // read the counter back — one system call less per wake-up. The counter cannot overflow:
    // each kick adds 1.
    epoll_event e {};
    e.events = EPOLLIN | EPOLLET;
    e.data.u64 = queue;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &e) != 0)
        return false;
    m_kick[queue].store(fd);
    return true;
}

void VsockCore::activate_locked(std::vector<virtio::Virtqueue>& queues)
{
    m_queues = &queues;
    wake(); // host connections may be waiting for the driver
}

void VsockCore::reset_locked()
{
    m_queues = nullptr;
    m_muxer->reset();
    wake(); // the loop publishes the statistics of the empty table
}

void VsockCore::wake()
{
    base::signal_eventfd(m_wake.get());
}

void VsockCore::start(const char* thread_name)
{
    if (m_thread.joinable())
        return;
    m_stopping.store(false);
    m_running.store(true);
    m_tasks.open();
    std::string name = thread_name;
    m_thread = base::SizedThread(kLoopThreadStack, [this, name] {
        pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
        loop();
    });
}

void VsockCore::loop()
{
    using Clock = std::chrono::steady_clock;
    bool worked = false; // since the last on_quiet
    Clock::time_point last_work {};
    while (!m_stopping.load()) {
        m_tasks.run_posted();
        int waited_ms = worked && m_on_quiet ? static_cast<int>(kQuietAfter.count()) : -1;
        int events = run_once(waited_ms);
        Clock::time_point now = Clock::now();
        if (events > 0) {
            worked = true;
            last_work = now;
        } else if (worked && now - last_work >= kQuietAfter) {
            worked = false;
            if (m_on_quiet)
                m_on_quiet();
        }
    }
    m_tasks.close(); // a task posted now or not yet taken is not run
}

bool VsockCore::run_in_loop_thread(const std::function<void()>& task, std::chrono::milliseconds deadline)
{
    return m_tasks.run(task, [this] { wake(); }, deadline);
}

void VsockCore::stop()
{
    if (!m_thread.joinable())
        return;
    m_stopping.store(true);
    wake();
    m_thread.join();
    m_running.store(false);
}

int VsockCore::run_once(int timeout_ms)
{
    epoll_event events[64];
    int timeout = timeout_ms;
    if (m_deadlines && (timeout < 0 || timeout > 250))
        timeout = 250; // handshakes and lingering closes expire on time
    if (m_watching_stall && (timeout < 0 || timeout > 100))
        timeout = 100;
    int poll = m_poll_ms.load();
    if (poll >= 0 && (timeout < 0 || timeout > poll))
        timeout = poll;
    if (m_work_left)
        timeout = 0; // the last round ran out of budget: handle the events, then go on
    int n = ::epoll_wait(m_epoll.get(), events, 64, timeout);
    if (n < 0)
        n = 0; // EINTR
    std::lock_guard guard(m_lock);
    for (int i = 0; i < n; ++i) {
        std::uint64_t token = events[i].data.u64;
        if (token < kQueueCount) {
            // A kick: the queues are processed below whatever woke us.
        } else if (token == kWakeToken) {
            drain_eventfd(m_wake.get());
        } else if (token >= kFirstExternalToken && token < kEndExternalTokens) {
            if (m_external)
                m_external(token, events[i].events);
        } else {
            m_muxer->handle_event(token, events[i].events);
        }
    }
    process_queues_locked();
    m_deadlines = m_muxer->sweep(std::chrono::steady_clock::now());
    if (m_deadlines || m_muxer->has_pending_rx())
        process_queues_locked(); // the sweep may have queued RSTs
    m_watching_stall = renotify_stalled_locked();
    publish_locked();
    return n;
}

bool VsockCore::usable(std::uint16_t queue) const
{
    return m_queues && queue < m_queues->size() && m_enabled[queue] && (*m_queues)[queue].ready();
}

void VsockCore::process_queues_locked()
{
    m_work_left = false;
    if (!m_queues)
        return;
    std::vector<virtio::Virtqueue>& q = *m_queues;
    if (usable(kQueueTx) && process_tx_locked(q[kQueueTx]))
        m_work_left = true;
    if (usable(kQueueRx) && process_rx_locked(q[kQueueRx]))
        m_work_left = true;
    unsigned mask = 0;
    if (usable(kQueueRx) && q[kQueueRx].needs_interrupt())
        mask |= 1u << kQueueRx;
    if (usable(kQueueTx) && q[kQueueTx].needs_interrupt())
        mask |= 1u << kQueueTx;
    if (mask && m_interrupt)
        m_interrupt(mask);
}

bool VsockCore::process_tx_locked(virtio::Virtqueue& tx)
{
    std::uint64_t round_bytes = 0;
    // Every pass counts against the budget, a pop that found only malformed entries too.
    for (unsigned passes = 0;; ++passes) {
        if (passes >= kRoundDescriptors || round_bytes >= kRoundBytes)
            return tx.has_available(); // the rest next round; no kick needed meanwhile
        if (!tx.pop(m_chain)) {
            if (tx.has_available() || tx.enable_notifications())
                continue; // more arrived while we were busy (or malformed ones were skipped)
            return false;
        }
        round_bytes += m_chain.readable_bytes;
        if (!m_chain.writable.empty() || m_chain.readable_bytes < kHeaderSize) {
            // Wrong direction or too short for a header: dropped.
            tx.add_used(m_chain.head, 0);
            m_muxer->note_malformed_packet();
            continue;
        }
        std::uint8_t bytes[kHeaderSize];
        virtio::copy_from_segments(m_chain.readable, 0, bytes, sizeof bytes);
        m_muxer->handle_guest_packet(PacketHeader::decode(bytes), m_chain.readable);
        tx.add_used(m_chain.head, 0);
        // The guest may keep sending while rx is full: replies wait in the muxer (bounded).
    }
}

std::size_t VsockCore::gather_rx_chains_locked(virtio::Virtqueue& rx, unsigned passes_left, std::uint64_t bytes_left)
{
    std::size_t wanted = m_muxer->rx_bytes_wanted();
    std::uint64_t room = m_rx_chains[0].writable_bytes - kHeaderSize;
    std::size_t count = 1;
    while (room < wanted && room < bytes_left && count < kMaxRxBatch && count < passes_left) {
        if (m_rx_chains.size() <= count)
            m_rx_chains.emplace_back(); // grows once, to at most kMaxRxBatch chains
        std::uint16_t before = rx.next_avail();
        if (!rx.pop(m_rx_chains[count]))
            break;
        const virtio::DescriptorChain& chain = m_rx_chains[count];
        bool next_entry = rx.next_avail() == static_cast<std::uint16_t>(before + 1); // no malformed entry skipped
        if (!next_entry || !chain.readable.empty() || chain.writable_bytes <= kHeaderSize) {
            rx.undo_pop(); // handled on its own by the caller's next pass
            break;
        }
        room += chain.writable_bytes - kHeaderSize;
        ++count;
    }
    return count;
}

bool VsockCore::process_rx_locked(virtio::Virtqueue& rx)
{
    std::uint64_t round_bytes = 0;
    std::array<RxBufferView, kMaxRxBatch> buffers;
    std::array<std::uint32_t, kMaxRxBatch> lengths;
    for (unsigned passes = 0; m_muxer->has_pending_rx();) {
        if (passes >= kRoundDescriptors || round_bytes >= kRoundBytes)
            return true; // the rest next round
        virtio::DescriptorChain& first = m_rx_chains[0];
        if (!rx.pop(first)) {
            if (rx.has_available() || rx.enable_notifications())
                continue;
            break; // no buffers: the driver's next rx kick wakes us
        }
        if (!first.readable.empty() || first.writable_bytes < kHeaderSize) {
            rx.add_used(first.head, 0); // unusable buffer (wrong direction or too short)
            m_muxer->note_malformed_packet();
            ++passes;
            continue;
        }
        // Parent data waiting: more buffers, so that one socket read fills them all.
        std::size_t count = first.writable_bytes > kHeaderSize
            ? gather_rx_chains_locked(rx, kRoundDescriptors - passes, kRoundBytes - round_bytes)
            : 1;
        for (std::size_t i = 0; i < count; ++i) {
            std::uint64_t capacity = std::min<std::uint64_t>(m_rx_chains[i].writable_bytes, 0xffff'ffffull);
            buffers[i] = { &m_rx_chains[i].writable, static_cast<std::size_t>(capacity) };
        }
        std::size_t used = m_muxer->fill_rx_buffers(std::span(buffers).first(count), lengths);
        if (used == 0 && m_muxer->buffer_too_small()) {
            rx.undo_pop(static_cast<std::uint16_t>(count - 1)); // header-only first buffer while data waits:
            rx.add_used(first.head, 0);                        // hand it back empty
            m_muxer->note_malformed_packet();
            ++passes;
            continue;
        }
        rx.undo_pop(static_cast<std::uint16_t>(count - used)); // the buffers left unfilled go back
        if (used == 0)
            break;
        for (std::size_t i = 0; i < used; ++i) {
            rx.add_used(m_rx_chains[i].head, lengths[i]);
            round_bytes += lengths[i];
        }
        passes += static_cast<unsigned>(used);
    }
    return false;
}

bool VsockCore::renotify_stalled_locked()
{
    constexpr std::chrono::milliseconds kFirstWait { 200 };
    constexpr std::chrono::milliseconds kLongestWait { 10'000 };
    if (!m_queues)
        return false;
    auto now = std::chrono::steady_clock::now();
    bool watching = false;
    unsigned mask = 0;
    for (std::uint16_t q : { kQueueRx, kQueueTx }) {
        std::uint32_t snapshot = 0;
        if (!usable(q) || !(*m_queues)[q].driver_behind(snapshot)) {
            m_stall_since[q] = {};
            continue;
        }
        watching = true;
        if (m_stall_since[q] == std::chrono::steady_clock::time_point {} || snapshot != m_stall_snapshot[q]) {
            m_stall_snapshot[q] = snapshot; // something moved: watch from now
            m_stall_since[q] = now;
            m_stall_wait[q] = kFirstWait;
        } else if (now - m_stall_since[q] >= m_stall_wait[q]) {
            mask |= 1u << q;
            m_stall_since[q] = now;
            m_stall_wait[q] = std::min(m_stall_wait[q] * 2, kLongestWait);
        }
    }
    if (mask && m_interrupt) {
        ++m_renotifications;
        m_interrupt(mask);
    }
    return watching;
}

std::vector<std::string> VsockCore::describe_locked() const
{
    static constexpr const char* kNames[] = { "rx", "tx", "event" };
    std::vector<std::string> lines;
    for (std::uint16_t q = 0; q < kQueueCount; ++q) {
        std::string state = m_queues && q < m_queues->size() ? (*m_queues)[q].describe() : "off";
        lines.push_back(std::string("queue ") + kNames[q] + (m_enabled[q] ? "" : " (disabled)") + ": " + state);
    }
    lines.push_back("interrupts raised again for a driver that stayed behind: " + std::to_string(m_renotifications));
    std::vector<std::string> muxer = m_muxer->describe();
    lines.insert(lines.end(), muxer.begin(), muxer.end());
    return lines;
}

VsockStats VsockCore::stats_locked() const
{
    VsockStats s = m_muxer->stats();
    if (m_queues)
        for (const virtio::Virtqueue& q : *m_queues)
            s.malformed_chains += q.malformed_chains();
    return s;
}

void VsockCore::publish_locked()
{
    VsockStats stats = stats_locked();
    std::size_t buffered = m_muxer->buffered_bytes();
    std::uint64_t requested = m_describe_requested.load();
    bool answer = false;
    {
        std::lock_guard guard(m_published_lock);
        answer = requested != m_published.lines_generation;
    }
    std::vector<std::string> lines;
    if (answer)
        lines = describe_locked(); // built outside m_published_lock: describe() may be waiting on it
    std::lock_guard guard(m_published_lock);
    m_published.stats = stats;
    m_published.buffered_bytes = buffered;
    if (answer) {
        m_published.lines = std::move(lines);
        m_published.lines_generation = requested;
        m_published_changed.notify_all();
    }
}

VsockStats VsockCore::stats()
{
    if (!running()) {
        std::lock_guard guard(m_lock); // no loop thread to publish: nobody else holds it long
        return stats_locked();
    }
    std::lock_guard guard(m_published_lock);
    return m_published.stats;
}

std::size_t VsockCore::buffered_bytes()
{
    if (!running()) {
        std::lock_guard guard(m_lock);
        return m_muxer->buffered_bytes();
    }
    std::lock_guard guard(m_published_lock);
    return m_published.buffered_bytes;
}

std::vector<std::string> VsockCore::describe()
{
    if (!running()) {
        std::lock_guard guard(m_lock);
        return describe_locked();
    }
    std::unique_lock guard(m_published_lock);
    std::uint64_t request = m_describe_requested.fetch_add(1) + 1;
    wake();
    if (m_published_changed.wait_for(guard, kDescribeWait, [&] { return m_published.lines_generation >= request; }))
        return m_published.lines;
    const VsockStats& s = m_published.stats;
    return { "the vsock loop did not answer within " + std::to_string(kDescribeWait.count()) + " ms; last published: connections="
        + std::to_string(s.connections) + " bytes_to_host=" + std::to_string(s.bytes_to_host) + " bytes_to_guest="
        + std::to_string(s.bytes_to_guest) + " malformed_chains=" + std::to_string(s.malformed_chains) };
}

double VsockCore::loop_cpu_seconds() const
{
    if (!m_thread.joinable())
        return 0;
    clockid_t clock;
    timespec ts {};
    if (pthread_getcpuclockid(m_thread.native_handle(), &clock) != 0 || ::clock_gettime(clock, &ts) != 0)
        return 0;
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

} // namespace vmm::vsock
