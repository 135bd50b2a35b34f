// vmm/vhost_user/nsm_backend.cc — see nsm_backend.h.
#include "vmm/vhost_user/nsm_backend.h"

#include "base/error.h"
#include "base/eventfd.h"
#include "vmm/virtio/nsm_queue.h"

#include <cerrno>
#include <cstring>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace vmm::vhost_user {

namespace {

constexpr std::uint64_t kKickToken = 0;
constexpr std::uint64_t kSocketToken = 1;
constexpr std::uint64_t kWakeToken = 2;

void drain_eventfd(int fd)
{
    std::uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(fd, &count, sizeof count);
}

} // namespace

std::unique_ptr<VhostUserNsmBackend> VhostUserNsmBackend::create(base::UniqueFd connected_socket, nsm::RequestHandler handler)
{
    if (!handler)
        throw base::Error(base::ErrorKind::Internal, "VHOST_USER_NSM", "the vhost-user NSM backend needs a request handler");
    return std::unique_ptr<VhostUserNsmBackend>(new VhostUserNsmBackend(std::move(connected_socket), std::move(handler)));
}

VhostUserNsmBackend::VhostUserNsmBackend(base::UniqueFd socket, nsm::RequestHandler handler)
    : m_handler(std::move(handler))
    , m_transport(std::move(socket), *this, kRingCount)
{
    m_epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    m_wake.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!m_epoll.valid() || !m_wake.valid())
        base::throw_errno("VHOST_USER_EPOLL", "cannot create an epoll set for", "the vhost-user NSM backend");
    epoll_event socket_event { EPOLLIN | EPOLLRDHUP, { .u64 = kSocketToken } };
    epoll_event wake_event { EPOLLIN, { .u64 = kWakeToken } };
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, m_transport.socket_fd(), &socket_event) != 0
        || ::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, m_wake.get(), &wake_event) != 0)
        base::throw_errno("VHOST_USER_EPOLL", "cannot watch", "the vhost-user NSM connection");
}

VhostUserNsmBackend::~VhostUserNsmBackend()
{
    stop();
}

void VhostUserNsmBackend::start()
{
    if (m_thread.joinable())
        return;
    m_stopping.store(false);
    m_thread = base::SizedThread(nsm::kHandlerThreadStack, [this] { loop(); });
}

void VhostUserNsmBackend::stop()
{
    m_stopping.store(true);
    base::signal_eventfd(m_wake.get());
    if (m_thread.joinable())
        m_thread.join();
}

void VhostUserNsmBackend::loop()
{
    ::pthread_setname_np(::pthread_self(), kThreadName);
    while (!m_stopping.load())
        run_once(-1);
}

bool VhostUserNsmBackend::device_started()
{
    std::lock_guard guard(m_transport.lock());
    return m_running;
}

std::uint64_t VhostUserNsmBackend::requests()
{
    std::lock_guard guard(m_transport.lock());
    return m_requests;
}

int VhostUserNsmBackend::run_once(int timeout_ms)
{
    int wait_ms = timeout_ms;
    {
        std::lock_guard guard(m_transport.lock());
        if (m_more)
            wait_ms = 0; // requests left from the last round: only look at the socket first
    }
    int poll_ms = m_poll_ms.load();
    if (poll_ms >= 0 && (wait_ms < 0 || wait_ms > poll_ms))
        wait_ms = poll_ms;
    epoll_event events[4];
    int n = ::epoll_wait(m_epoll.get(), events, 4, wait_ms);
    if (n < 0)
        n = 0; // EINTR: just another round
    std::lock_guard guard(m_transport.lock());
    for (int i = 0; i < n; ++i) {
        switch (events[i].data.u64) {
        case kSocketToken:
            m_transport.on_socket_event();
            break;
        case kKickToken:
            if (m_kick >= 0)
                drain_eventfd(m_kick);
            break;
        default:
            drain_eventfd(m_wake.get());
            break;
        }
    }
    serve_locked();
    return n;
}

void VhostUserNsmBackend::serve_locked()
{
    m_more = false;
    if (!m_running || m_transport.done())
        return;
    virtio::NsmQueueRound round = virtio::serve_nsm_queue(m_transport.queues_locked()[0], m_handler);
    m_requests += round.served;
    m_more = round.more;
    if (round.interrupt)
        m_transport.raise_interrupts(1u);
}

void VhostUserNsmBackend::read_config(std::uint32_t, std::uint8_t* data, std::uint32_t size) const
{
    std::memset(data, 0, size); // the NSM device has no config space
}

bool VhostUserNsmBackend::watch_kick(std::uint16_t, int fd)
{
    if (m_kick >= 0)
        ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, m_kick, nullptr);
    m_kick = -1;
    if (fd < 0)
        return true;
    epoll_event event { EPOLLIN, { .u64 = kKickToken } };
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &event) != 0)
        return false;
    m_kick = fd;
    return true;
}

void VhostUserNsmBackend::rings_changed(const std::vector<bool>&, const std::vector<bool>& running, bool polled)
{
    m_running = running[0];
    m_poll_ms.store(polled ? 10 : -1);
    if (m_running)
        base::signal_eventfd(m_wake.get()); // requests may be waiting already
}

void VhostUserNsmBackend::connection_ended()
{
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, m_transport.socket_fd(), nullptr);
    m_stopping.store(true);
}

} // namespace vmm::vhost_user
