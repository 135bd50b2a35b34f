#include "vmm/vsock/vsock_device.h"

#include "base/error.h"
#include "base/eventfd.h"

#include <cstdio>
#include <cstring>
#include <sys/eventfd.h>
#include <unistd.h>

namespace vmm {

namespace {

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
        m_kick[q] = base::make_eventfd("VSOCK_EVENTFD", "the vsock device");
    m_interrupt = base::make_eventfd("VSOCK_EVENTFD", "the vsock device");
    int kick_fds[3] = { m_kick[0].get(), m_kick[1].get(), m_kick[2].get() };
    int irq = m_interrupt.get();
    m_transport = std::make_unique<virtio::MmioTransport>(
        *m_ram, *this,
        [kick_fds](std::uint16_t queue) { base::signal_eventfd(kick_fds[queue]); },
        [irq] { base::signal_eventfd(irq); });
    // One interrupt line for every queue: InterruptStatus bit 0 and the irqfd.
    m_core = std::make_unique<vsock::VsockCore>(muxer_config(config), m_transport->lock(), [this](unsigned) { m_transport->signal_used_buffers(); });
    for (std::uint16_t q = 0; q < m_kick.size(); ++q)
        if (!m_core->watch_kick(q, m_kick[q].get()))
            base::throw_errno("VSOCK_EPOLL", "cannot watch a kick eventfd of", "the vsock device");
}

VsockDevice::~VsockDevice()
{
    stop();
}

VirtioMmioWiring VsockDevice::mmio_wiring()
{
    VirtioMmioWiring wiring;
    wiring.registers = m_transport.get();
    for (const base::UniqueFd& kick : m_kick)
        wiring.queue_notify_fds.push_back(kick.get());
    wiring.interrupt_fd = m_interrupt.get();
    return wiring;
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
    return m_core->stats();
}

std::size_t VsockDevice::buffered_bytes()
{
    return m_core->buffered_bytes();
}

std::vector<std::string> VsockDevice::describe()
{
    // No transport lock: a guest that keeps the loop busy must not stall `query`.
    std::vector<std::string> lines { "transport status=" + std::to_string(m_transport->status())
        + " interrupt_status=" + std::to_string(m_transport->interrupt_status()) };
    std::vector<std::string> core = m_core->describe();
    lines.insert(lines.end(), core.begin(), core.end());
    return lines;
}

} // namespace vmm
