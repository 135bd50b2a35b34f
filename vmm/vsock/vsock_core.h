// vmm/vsock/vsock_core.h — the transport-independent heart of the virtio-vsock device: the
// queues ↔ muxer processing (tx packets into the muxer, muxer packets into rx buffers), the
// epoll loop (kick eventfds, the muxer's Unix sockets, the transport's own fds, a wake-up
// eventfd) and the loop thread. Two front ends drive it:
//   - VsockDevice (vsock_device.h): the virtio-mmio transport of our KVM VMM;
//   - vhost_user::VhostUserVsockBackend (vmm/vhost_user/): QEMU's vhost-user-vsock-device.
// The front end owns the queues, the kick eventfds, the lock and the interrupt path; the core
// owns the muxer and the epoll set.
//
// Epoll tokens: 0..2 are the kick eventfds of queues rx/tx/event, kWakeToken the wake-up
// eventfd, [kFirstExternalToken, VsockMuxer::kListenerToken) are the front end's own fds
// (handed to the external handler), the rest belong to the muxer.
//
// Threads and locking: every call that touches the queues or the muxer needs `lock` (the
// front end's lock); run_once() takes it after epoll_wait and keeps it while it dispatches
// events (the external handler runs with it held) and processes the queues. The *_locked
// calls expect the caller to hold it. wake(), start(), stop(), request_stop() and
// run_in_loop_thread() may be called from any thread without it.
//
// Bounded rounds: one round takes at most kRoundDescriptors chains and kRoundBytes bytes from
// each queue; whatever is left waits for the next round, which comes at once (epoll_wait with
// no timeout) after the lock was released and the other events were handled. A guest that keeps
// adding descriptors therefore never holds the lock for longer than one round's budget.
// stats(), buffered_bytes() and describe() never wait for the lock while the loop thread runs:
// the loop publishes the statistics at the end of every round, and builds describe()'s lines
// at the end of the round after it was asked (describe() waits for them at most
// kDescribeWait, then answers with the last published statistics).
//
// Usage (a front end):
//     vsock::VsockCore core(muxer_config, m_lock, [this](unsigned queues) { raise(queues); });
//     core.watch_kick(vsock::kQueueTx, tx_kick_fd);
//     { std::lock_guard g(m_lock); core.activate_locked(m_queues); }  // driver ready
//     core.start("vsock");                                            // or core.run_once(0)
//     ... core.stop();
#pragma once

#include "base/loop_task.h"
#include "base/sized_thread.h"

#include "vmm/virtio/virtqueue.h"
#include "vmm/vsock/vsock_muxer.h"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <exception>
#include <mutex>

namespace vmm::vsock {

class VsockCore {
public:
    static constexpr std::uint16_t kQueueCount = 3; // rx, tx, event
    static constexpr std::uint64_t kWakeToken = 8;
    static constexpr std::uint64_t kFirstExternalToken = 16;
    static constexpr std::uint64_t kEndExternalTokens = VsockMuxer::kListenerToken;
    // What one round may take from one queue before it yields (see "Bounded rounds").
    static constexpr unsigned kRoundDescriptors = 128;
    static constexpr std::uint64_t kRoundBytes = 1 << 20;
    static constexpr std::chrono::milliseconds kDescribeWait { 500 };

    // queue_mask: bit q set = queue q published used buffers the driver wants to hear about.
    using Interrupt = std::function<void(unsigned queue_mask)>;
    using ExternalHandler = std::function<void(std::uint64_t token, std::uint32_t events)>;

    // Throws base::Error (VSOCK_BAD_CID) unless 4 <= cid <= 0xfffffffe.
    static void check_guest_cid(std::uint64_t cid);
    // The device config space: le64 guest_cid at offset 0, zeroes past it.
    static void read_config(std::uint64_t guest_cid, std::uint64_t offset, std::uint8_t* data, std::size_t size);

    // How long the loop must have been quiet after work before MuxerConfig::on_quiet runs.
    static constexpr std::chrono::milliseconds kQuietAfter { 100 };

    VsockCore(MuxerConfig config, std::mutex& lock, Interrupt interrupt);
    ~VsockCore(); // stops the loop thread
    VsockCore(const VsockCore&) = delete;
    VsockCore& operator=(const VsockCore&) = delete;

    // Watches `fd` as queue q's kick eventfd (-1: none), replacing the previous one (which the
    // caller still owns and may close afterwards). False if epoll refuses the fd (a regular
    // file, say): the queue then has no kick fd. Lock not required.
    bool watch_kick(std::uint16_t queue, int fd);
    // The front end's own fds, tokens in [kFirstExternalToken, kEndExternalTokens).
    void watch(int fd, std::uint64_t token, std::uint32_t events);
    void unwatch(int fd);
    // Called for events on those tokens, on the loop thread with the lock held. Set before start().
    void set_external_handler(ExternalHandler handler) { m_external = std::move(handler); }
    // While >= 0, the loop runs at least every `ms` milliseconds (rings without a kick fd).
    void set_poll_interval(int ms) { m_poll_ms = ms; }

    // The driver is ready: `queues` (index = queue number) stay valid until reset_locked().
    void activate_locked(std::vector<virtio::Virtqueue>& queues);
    // Drops the queues and every connection (parents see EOF).
    void reset_locked();
    bool active_locked() const { return m_queues != nullptr; }
    // A started but disabled ring (vhost-user SET_VRING_ENABLE 0) is not processed at all.
    void set_queue_enabled_locked(std::uint16_t queue, bool enabled) { m_enabled[queue] = enabled; }

    // Makes the loop run a round soon (any thread).
    void wake();
    void start(const char* thread_name);
    // Stops and joins the loop thread (idempotent; not from the loop thread itself).
    void stop();
    // From the loop thread (e.g. the external handler): the loop ends after this round.
    void request_stop() { m_stopping.store(true); }
    bool running() const { return m_running.load(); }
    // Runs `task` once on the loop thread, between two rounds and without the lock (e.g. that
    // thread's own seccomp filter), and waits for it. Returns false, having run nothing, if the
    // loop thread is not running or has not taken the task within `deadline`. An exception
    // from `task` is rethrown here. Not from the loop thread itself.
    bool run_in_loop_thread(const std::function<void()>& task, std::chrono::milliseconds deadline = std::chrono::seconds(10));
    // One round on the calling thread: waits up to timeout_ms, handles the events, processes
    // the queues. Returns the number of events.
    int run_once(int timeout_ms);
    // CPU time the loop thread has used (0 before start()).
    double loop_cpu_seconds() const;

    VsockMuxer& muxer() { return *m_muxer; }
    // For debugging a stall (the caller holds the lock): each queue's indices, each connection.
    std::vector<std::string> describe_locked() const;
    // Any thread, without the lock (see "Bounded rounds"): the muxer's counters plus the
    // queues' malformed chains, the guest bytes buffered, describe_locked()'s lines.
    VsockStats stats();
    std::size_t buffered_bytes();
    std::vector<std::string> describe();
    int epoll_fd() const { return m_epoll.get(); }

private:
    struct Published {
        VsockStats stats;
        std::size_t buffered_bytes { 0 };
        std::vector<std::string> lines;      // describe_locked(), when asked for
        std::uint64_t lines_generation { 0 }; // the request those lines answer
    };
    VsockStats stats_locked() const;
    // End of a round (lock held): publishes the statistics, and describe()'s lines if asked.
    void publish_locked();
    void process_queues_locked();
    // The driver asked to be told about used buffers it has not taken, and nothing moved on
    // either side for 200 ms: raise the interrupt again (a lost notification must not stall a
    // connection forever), then after 400 ms, ... at most every 10 s while still nothing moves.
    // Returns true while a queue is being watched.
    bool renotify_stalled_locked();
    // Both return true if work is left for the next round (the budget ran out).
    bool process_tx_locked(virtio::Virtqueue& tx);
    bool process_rx_locked(virtio::Virtqueue& rx);
    // m_rx_chains[0] was popped and can carry data: pops the chains that follow it while the
    // muxer's next packet wants more payload room (rx_bytes_wanted), within the round's budget;
    // only usable chains from consecutive entries (so undo_pop(n) can return them). Returns how
    // many chains m_rx_chains now holds for one fill_rx_buffers call.
    std::size_t gather_rx_chains_locked(virtio::Virtqueue& rx, unsigned passes_left, std::uint64_t bytes_left);
    bool usable(std::uint16_t queue) const;

    std::mutex& m_lock;
    Interrupt m_interrupt;
    ExternalHandler m_external;
    base::UniqueFd m_epoll;
    base::UniqueFd m_wake;
    std::array<std::atomic<int>, kQueueCount> m_kick;
    std::array<bool, kQueueCount> m_enabled { true, true, true };
    std::unique_ptr<VsockMuxer> m_muxer;
    std::vector<virtio::Virtqueue>* m_queues { nullptr };
    virtio::DescriptorChain m_chain;                // tx
    std::vector<virtio::DescriptorChain> m_rx_chains; // rx: one, or up to kMaxRxBatch for one socket read
    bool m_deadlines { false };
    // renotify_stalled_locked(): per queue, the (used_event, used) seen and since when.
    std::array<std::uint32_t, kQueueCount> m_stall_snapshot {};
    std::array<std::chrono::steady_clock::time_point, kQueueCount> m_stall_since {};
    std::array<std::chrono::milliseconds, kQueueCount> m_stall_wait {}; // 200 ms, doubling to 10 s while nothing moves
    bool m_watching_stall { false };
    std::uint64_t m_renotifications { 0 };
    std::atomic<int> m_poll_ms { -1 };
    bool m_work_left { false }; // the last round ran out of budget: the next one starts at once
    std::mutex m_published_lock; // taken after m_lock, never before it
    std::condition_variable m_published_changed;
    Published m_published;
    std::atomic<std::uint64_t> m_describe_requested { 0 };
    // The loop thread's body: rounds until stopped, a posted task (run_in_loop_thread) in between.
    void loop();

    base::SizedThread m_thread;
    std::atomic<bool> m_stopping { false };
    base::LoopTask m_tasks; // run_in_loop_thread()
    std::function<void()> m_on_quiet; // MuxerConfig::on_quiet
    std::atomic<bool> m_running { false }; // between start() and the end of stop()'s join
};

} // namespace vmm::vsock
