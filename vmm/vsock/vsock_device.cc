#include "vmm/vsock/vsock_device.h"

#include "base/error.h"

#include <cstdio>
#include <cstring>
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

} // namespace

std::unique_ptr<VsockDevice> VsockDevice::create(std::unique_ptr<virtio::GuestRam> ram, const VsockConfig& config)
{
    vsock::VsockCore::check_guest_cid(config.guest_cid);
    return std::unique_ptr<VsockDevice>(new VsockDevice(std::move(ram), config));
}

VsockDevice::VsockDevice(std::unique_ptr<virtio::GuestRam> ram, const VsockConfig& config)
    : m_config(config)
    , m_ram(std::move(ram))
{
    for (std::uint16_t q = 0; q < m_kick.size(); ++q)
        m_kick[q] = make_eventfd();
    m_interrupt = make_eventfd();
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
    // One interrupt line for every queue: InterruptStatus bit 0 and the irqfd.
    m_core = std::make_unique<vsock::VsockCore>(std::move(mc), m_transport->lock(), [this](unsigned) { m_transport->signal_used_buffers(); });
    for (std::uint16_t q = 0; q < m_kick.size(); ++q)
        if (!m_core->watch_kick(q, m_kick[q].get()))
            base::throw_errno("VSOCK_EPOLL", "cannot watch a kick eventfd of", "the vsock device");
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
    m_core->start("vsock");
}

void VsockDevice::stop()
{
    m_core->stop();
}

int VsockDevice::run_once(int timeout_ms)
{
    return m_core->run_once(timeout_ms);
}

void VsockDevice::read_config(std::uint64_t offset, std::uint8_t* data, std::size_t size) const
{
    vsock::VsockCore::read_config(m_config.guest_cid, offset, data, size);
}

void VsockDevice::activate(std::vector<virtio::Virtqueue>& queues, std::uint64_t)
{
    m_core->activate_locked(queues);
}

void VsockDevice::reset()
{
    m_core->reset_locked();
}

double VsockDevice::loop_cpu_seconds() const
{
    return m_core->loop_cpu_seconds();
}

vsock::VsockStats VsockDevice::stats()
{
    std::lock_guard guard(m_transport->lock());
    vsock::VsockStats s = m_core->muxer().stats();
    for (virtio::Virtqueue& q : m_transport->queues())
        s.malformed_chains += q.malformed_chains();
    return s;
}

std::size_t VsockDevice::buffered_bytes()
{
    std::lock_guard guard(m_transport->lock());
    return m_core->muxer().buffered_bytes();
}

} // namespace vmm
