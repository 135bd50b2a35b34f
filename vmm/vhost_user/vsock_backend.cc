#include "vmm/vhost_user/vsock_backend.h"

#include "base/error.h"

#include <sys/epoll.h>

namespace vmm::vhost_user {

std::unique_ptr<VhostUserVsockBackend> VhostUserVsockBackend::create(base::UniqueFd connected_socket, const VsockConfig& config)
{
    vsock::VsockCore::check_guest_cid(config.guest_cid);
    if (!connected_socket.valid())
        throw base::Error(base::ErrorKind::Internal, "VHOST_USER_SOCKET", "no vhost-user connection was given to the vsock backend");
    return std::unique_ptr<VhostUserVsockBackend>(new VhostUserVsockBackend(std::move(connected_socket), config));
}

VhostUserVsockBackend::VhostUserVsockBackend(base::UniqueFd socket, const VsockConfig& config)
    : m_config(config)
    , m_transport(std::move(socket), *this, kRingCount)
{
    m_core = std::make_unique<vsock::VsockCore>(muxer_config(config), m_transport.lock(), [this](unsigned mask) { m_transport.raise_interrupts(mask); });
    m_core->set_external_handler([this](std::uint64_t, std::uint32_t) { m_transport.on_socket_event(); });
    m_core->watch(m_transport.socket_fd(), kSocketToken, EPOLLIN | EPOLLRDHUP);
}

VhostUserVsockBackend::~VhostUserVsockBackend()
{
    stop();
    m_core.reset(); // closes the vsock connections before the memory they point into goes
}

void VhostUserVsockBackend::start()
{
    m_core->start("vhost-vsock");
}

void VhostUserVsockBackend::stop()
{
    m_core->stop();
}

int VhostUserVsockBackend::run_once(int timeout_ms)
{
    return m_core->run_once(timeout_ms);
}

vsock::VsockStats VhostUserVsockBackend::stats()
{
    return m_core->stats();
}

bool VhostUserVsockBackend::device_started()
{
    std::lock_guard guard(m_transport.lock());
    return m_core->active_locked();
}

std::vector<std::string> VhostUserVsockBackend::describe()
{
    return m_core->describe();
}

std::string VhostUserVsockBackend::ring_name(std::uint16_t index) const
{
    return index == vsock::kQueueRx ? "ring 0 (rx)" : index == vsock::kQueueTx ? "ring 1 (tx)" : "ring " + std::to_string(index);
}

void VhostUserVsockBackend::read_config(std::uint32_t offset, std::uint8_t* data, std::uint32_t size) const
{
    vsock::VsockCore::read_config(m_config.guest_cid, offset, data, size);
}

// Tells the core which rings it may use, closes every connection when the device stopped.
void VhostUserVsockBackend::rings_changed(const std::vector<bool>& started, const std::vector<bool>& running, bool polled)
{
    for (std::uint16_t i = 0; i < kRingCount; ++i)
        m_core->set_queue_enabled_locked(i, running[i]);
    bool any = started[vsock::kQueueRx] || started[vsock::kQueueTx];
    m_core->set_poll_interval(polled ? 10 : -1);
    if (any && !m_core->active_locked())
        m_core->activate_locked(m_transport.queues_locked());
    else if (!any && m_core->active_locked())
        m_core->reset_locked(); // the device stopped: like a guest reset, connections close
    if (any)
        m_core->wake();
}

void VhostUserVsockBackend::connection_ended()
{
    m_core->unwatch(m_transport.socket_fd());
    m_core->request_stop();
}

} // namespace vmm::vhost_user
