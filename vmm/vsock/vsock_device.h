// vmm/vsock/vsock_device.h — the virtio-vsock device (id 19) of one enclave: a virtio-mmio
// transport, three queues (rx, tx, event), the connection muxer with the parent's Unix sockets
// and the heartbeat/status services, and the epoll loop that runs them on its own thread.
//
// The queue processing, the loop and the muxer live in VsockCore (vsock_core.h), shared with
// the vhost-user backend (vmm/vhost_user/); this class is the virtio-mmio front end of it.
// The guest is CID `guest_cid`; the parent is CID 3 (CID 2 is accepted as the parent too).
// Stream sockets only; see vsock_muxer.h for the hybrid-vsock protocol and the limits.
// Queue kicks arrive on one eventfd per queue (a KVM ioeventfd on base+0x50 with datamatch =
// queue index; without KVM the transport's QueueNotify write signals the same eventfd) and
// interrupts leave through an eventfd that the machine's MmioDeviceManager registers as an
// irqfd (mmio_wiring() hands both over; the device never sees the Machine or KVM).
//
// Threads: MMIO accesses come from vCPU threads; the loop thread handles kicks, sockets and
// timeouts; both serialise on the transport's lock. on_heartbeat and on_app_status are called
// on the loop thread with that lock held: they must be quick and must not call back into the
// device (write an eventfd, set an atomic, push to a queue).
//
// Usage (the enclave daemon):
//     config.virtio_mmio_devices = 1;                      // announce slot 0 on the command line
//     machine = vmm::Machine::create(config, image);
//     vmm::VsockConfig vc;
//     vc.guest_cid = settings.cid;
//     vc.uds_path = run_dir + "/" + id + ".vsock";         // shown by query as VsockSocket
//     vc.on_heartbeat = [fd = heartbeat_eventfd] { std::uint64_t one = 1; ::write(fd, &one, 8); };
//     vc.on_app_status = [this](const guest_init::StatusRecord& r) { ...record it, under a lock... };
//     vsock = vmm::VsockDevice::create(std::make_unique<virtio::GuestMemoryRam>(machine->memory()), vc);
//     machine->mmio_devices().attach(vsock->mmio_wiring()); // MMIO, ioeventfds, irqfd
//     vsock->start();                                       // the loop thread
//     machine->start();
//     ... machine->wait(); vsock->stop();                    // stop before the Machine goes away
// Without KVM (unit tests, fuzzer, benchmarks):
//     auto dev = vmm::VsockDevice::create(std::make_unique<virtio::GuestMemoryRam>(ram), vc);
//     dev->transport().mmio_write(...);     // a driver's register accesses
//     dev->run_once(0);                     // one round of the loop on this thread
#pragma once

#include "guest-init/status_protocol.h"
#include "vmm/virtio/mmio_transport.h"
#include "vmm/vsock/vsock_config.h"
#include "vmm/vsock/vsock_core.h"
#include "vmm/vsock/vsock_muxer.h"
#include "vmm/vstate/mmio_device_manager.h"

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace vmm {

class VsockDevice final : public virtio::VirtioDevice {
public:
    static constexpr std::uint16_t kQueueSize = 256;

    // Nothing runs until start() or run_once(); mmio_wiring() is what a VM attaches.
    static std::unique_ptr<VsockDevice> create(std::unique_ptr<virtio::GuestRam> ram, const VsockConfig& config);
    ~VsockDevice() override;

    // The registers, the kick eventfds and the interrupt eventfd, for MmioDeviceManager::attach.
    VirtioMmioWiring mmio_wiring();

    void start();
    // Stops and joins the loop thread (idempotent). Parent sockets stay open until destruction.
    void stop();
    // One round of the loop on the calling thread: waits up to timeout_ms for events, handles
    // them and processes the queues. Returns the number of events.
    int run_once(int timeout_ms);
    // Runs `task` on the loop thread between two rounds and waits (VsockCore::run_in_loop_thread):
    // false, nothing run, if the loop is not running.
    bool run_in_loop_thread(const std::function<void()>& task) { return m_core->run_in_loop_thread(task); }

    virtio::MmioTransport& transport() { return *m_transport; }
    int kick_fd(std::uint16_t queue) const { return m_kick[queue].get(); }
    int interrupt_fd() const { return m_interrupt.get(); }
    const VsockConfig& config() const { return m_config; }
    vsock::VsockStats stats();
    std::size_t buffered_bytes();
    // For debugging a stall: the transport's Status and InterruptStatus, then VsockCore's lines.
    std::vector<std::string> describe();
    // CPU time the loop thread has used (0 before start()): what the device costs the host.
    double loop_cpu_seconds() const;

    // VirtioDevice
    std::uint32_t device_id() const override { return vsock::kDeviceId; }
    std::uint64_t device_features() const override { return 0; } // stream only
    std::uint16_t queue_count() const override { return 3; }
    std::uint16_t queue_max_size() const override { return kQueueSize; }
    void read_config(std::uint64_t offset, std::uint8_t* data, std::size_t size) const override;
    void activate(std::vector<virtio::Virtqueue>& queues, std::uint64_t features) override;
    void reset() override;

private:
    VsockDevice(std::unique_ptr<virtio::GuestRam> ram, const VsockConfig& config);

    VsockConfig m_config;
    std::unique_ptr<virtio::GuestRam> m_ram;
    std::array<base::UniqueFd, 3> m_kick;
    base::UniqueFd m_interrupt;
    std::unique_ptr<virtio::MmioTransport> m_transport;
    std::unique_ptr<vsock::VsockCore> m_core; // after m_transport: uses its lock
};

} // namespace vmm
