// vmm/virtio/nsm_device.cc — see nsm_device.h.
#include "vmm/virtio/nsm_device.h"

#include "base/eventfd.h"
#include "vmm/virtio/nsm_queue.h"

#include <cstring>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

namespace vmm::virtio {

namespace {

void drain_eventfd(int fd)
{
    std::uint64_t value;
    while (::read(fd, &value, sizeof value) == sizeof value) {
    }
}

} // namespace

std::unique_ptr<NsmDevice> NsmDevice::create(std::unique_ptr<GuestRam> ram, nsm::RequestHandler handler)
{
    return std::unique_ptr<NsmDevice>(new NsmDevice(std::move(ram), std::move(handler)));
}

NsmDevice::NsmDevice(std::unique_ptr<GuestRam> ram, nsm::RequestHandler handler)
    : m_ram(std::move(ram))
    , m_handler(std::move(handler))
    , m_kick(base::make_eventfd("NSM_EVENTFD", "the NSM device"))
    , m_wake(base::make_eventfd("NSM_EVENTFD", "the NSM device"))
    , m_interrupt(base::make_eventfd("NSM_EVENTFD", "the NSM device"))
{
    int kick = m_kick.get();
    int irq = m_interrupt.get();
    m_transport = std::make_unique<MmioTransport>(
        *m_ram, *this, [kick](std::uint16_t) { base::signal_eventfd(kick); }, [irq] { base::signal_eventfd(irq); });
}

NsmDevice::~NsmDevice()
{
    stop();
}

VirtioMmioWiring NsmDevice::mmio_wiring()
{
    VirtioMmioWiring wiring;
    wiring.registers = m_transport.get();
    wiring.queue_notify_fds.push_back(m_kick.get());
    wiring.interrupt_fd = m_interrupt.get();
    return wiring;
}

void NsmDevice::read_config(std::uint64_t, std::uint8_t* data, std::size_t size) const
{
    std::memset(data, 0, size); // no config space
}

void NsmDevice::activate(std::vector<Virtqueue>& queues, std::uint64_t)
{
    m_queue = queues.empty() ? nullptr : &queues[0];
    base::signal_eventfd(m_wake.get()); // requests posted before DRIVER_OK
}

void NsmDevice::reset()
{
    m_queue = nullptr;
    m_more = false;
}

unsigned NsmDevice::run_once(int timeout_ms)
{
    pollfd fds[2] = { { m_kick.get(), POLLIN, 0 }, { m_wake.get(), POLLIN, 0 } };
    int n = ::poll(fds, 2, m_more ? 0 : timeout_ms);
    if (n > 0) {
        if (fds[0].revents)
            drain_eventfd(m_kick.get());
        if (fds[1].revents)
            drain_eventfd(m_wake.get());
    }
    std::lock_guard guard(m_transport->lock());
    if (!m_queue) {
        m_more = false;
        return 0;
    }
    NsmQueueRound round = serve_nsm_queue(*m_queue, m_handler);
    m_more = round.more;
    m_served += round.served;
    if (round.interrupt)
        m_transport->signal_used_buffers();
    return round.served;
}

void NsmDevice::start()
{
    if (m_thread.joinable())
        return;
    m_stopping.store(false);
    m_tasks.open();
    m_thread = base::SizedThread(nsm::kHandlerThreadStack, [this] {
        pthread_setname_np(pthread_self(), "nsm");
        loop();
    });
}

void NsmDevice::loop()
{
    while (!m_stopping.load()) {
        m_tasks.run_posted();
        run_once(-1);
    }
    m_tasks.close(); // a task not taken yet is not run; its caller is told so
}

void NsmDevice::stop()
{
    if (!m_thread.joinable())
        return;
    m_stopping.store(true);
    base::signal_eventfd(m_wake.get());
    m_thread.join();
}

bool NsmDevice::run_in_thread(const std::function<void()>& task, std::chrono::milliseconds deadline)
{
    return m_tasks.run(task, [this] { base::signal_eventfd(m_wake.get()); }, deadline);
}

} // namespace vmm::virtio
