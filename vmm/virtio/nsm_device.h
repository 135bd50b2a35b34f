// vmm/virtio/nsm_device.h — the Nitro Secure Module's virtio device (id 33) on virtio-mmio, for
// enclaves on qt-vmm's own KVM VMM: one request queue, no feature bits, no config space (what
// the Linux driver drivers/misc/nsm.c asks for). Requests are served by serve_nsm_queue()
// (nsm_queue.h) with a RequestHandler (NsmModule::handle) on the device's own thread "nsm",
// woken by the queue's kick eventfd (a KVM ioeventfd on base+0x50; without KVM the transport's
// QueueNotify write signals it) or by stop()/run_in_thread(); it never polls. Interrupts leave
// through an eventfd the MmioDeviceManager registers as an irqfd (mmio_wiring()).
//
// A guest flood cannot keep the thread forever: a round serves at most kNsmChainsPerRound
// requests, then the thread looks at its wake-up eventfd before the next round. The handler
// runs with the transport's lock held (reset() cannot pull the queue from under it), so a vCPU
// touching this device's registers waits for the request in progress (an ES384 signature
// takes 0.8 ms on the build machine); other devices are not affected.
//
// Usage (KvmEnclaveVm):
//     config.virtio_mmio_devices = 2;                       // slot 0 vsock, slot 1 NSM
//     auto nsm = vmm::virtio::NsmDevice::create(std::make_unique<virtio::GuestMemoryRam>(machine->memory()),
//         [module](std::string_view req) { return module->handle(req); });
//     machine->mmio_devices().attach(vsock->mmio_wiring());
//     machine->mmio_devices().attach(nsm->mmio_wiring());
//     nsm->start();  machine->start();  ...  machine->wait();  nsm->stop();
// Without a thread (unit tests): nsm->transport().mmio_write(...); nsm->run_once(0);
#pragma once

#include "base/loop_task.h"
#include "base/sized_thread.h"

#include "base/file.h"
#include "vmm/nsm/nsm_types.h"
#include "vmm/virtio/guest_ram.h"
#include "vmm/virtio/mmio_transport.h"
#include "vmm/vstate/mmio_device_manager.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

namespace vmm::virtio {

class NsmDevice final : public VirtioDevice {
public:
    static constexpr std::uint32_t kDeviceId = 33;    // VIRTIO_ID_NITRO_SEC_MOD
    static constexpr std::uint16_t kQueueSize = 64;   // the driver has one request in flight

    // Nothing runs until start() or run_once(); `handler` must never throw.
    static std::unique_ptr<NsmDevice> create(std::unique_ptr<GuestRam> ram, nsm::RequestHandler handler);
    ~NsmDevice() override;

    // The registers, the kick eventfd and the interrupt eventfd, for MmioDeviceManager::attach.
    VirtioMmioWiring mmio_wiring();

    // Starts the thread "nsm" (idempotent).
    void start();
    // Stops and joins it (idempotent); a request in progress is finished first.
    void stop();
    // One round on the calling thread: waits up to timeout_ms (-1: forever) for a kick or a
    // wake-up, then serves up to kNsmChainsPerRound requests. Returns how many it served.
    unsigned run_once(int timeout_ms);
    // Runs `task` on the device thread between two rounds and waits for it (where the daemon
    // installs that thread's seccomp filter). False, nothing run, if the thread is not running
    // or did not take it within `deadline` (base::LoopTask).
    bool run_in_thread(const std::function<void()>& task, std::chrono::milliseconds deadline = std::chrono::seconds(10));

    MmioTransport& transport() { return *m_transport; }
    int kick_fd() const { return m_kick.get(); }
    int interrupt_fd() const { return m_interrupt.get(); }
    // Requests answered since creation (query, tests).
    std::uint64_t requests_served() const { return m_served.load(); }

    // VirtioDevice
    std::uint32_t device_id() const override { return kDeviceId; }
    std::uint64_t device_features() const override { return 0; }
    std::uint16_t queue_count() const override { return 1; }
    std::uint16_t queue_max_size() const override { return kQueueSize; }
    void read_config(std::uint64_t offset, std::uint8_t* data, std::size_t size) const override;
    void activate(std::vector<Virtqueue>& queues, std::uint64_t features) override;
    void reset() override;

private:
    NsmDevice(std::unique_ptr<GuestRam> ram, nsm::RequestHandler handler);
    void loop();

    std::unique_ptr<GuestRam> m_ram;
    nsm::RequestHandler m_handler;
    base::UniqueFd m_kick;
    base::UniqueFd m_wake;
    base::UniqueFd m_interrupt;
    std::unique_ptr<MmioTransport> m_transport;
    Virtqueue* m_queue { nullptr };   // under the transport's lock: set by activate(), cleared by reset()
    bool m_more { false };            // the last round stopped at its cap: the next one starts at once
    std::atomic<std::uint64_t> m_served { 0 };

    base::SizedThread m_thread;
    std::atomic<bool> m_stopping { false };
    base::LoopTask m_tasks; // run_in_thread()
};

} // namespace vmm::virtio
