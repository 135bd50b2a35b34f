// vmm/vhost_user/vsock_backend.h — the enclave's virtio-vsock device served to QEMU's
// `vhost-user-vsock-device` over one vhost-user connection. The device model is the same one
// our KVM VMM uses (vsock::VsockCore: queues ↔ muxer, hybrid-vsock parent sockets, the
// heartbeat and status services; see vmm/vsock/README.md); this class puts it behind a
// vhost-user connection: guest memory from SET_MEM_TABLE, kicks on QEMU's kick eventfds and
// interrupts through its call eventfds. The guest is CID config.guest_cid; the
// parent is CID 3 (Nitro's), reached through config.uds_path like with `qt-vmm enclave start`.
//
// The vhost-user protocol itself (messages, memory table, rings, kicks, calls, NEED_REPLY, bad
// input ending the connection) is VhostUserBackend's (backend.h); this class is the vsock half:
// three rings, the vsock config space (the guest CID), and VsockCore's loop thread (start()),
// which reads the control socket, the kick eventfds and the parent sockets from one epoll set.
// When the connection ends all vsock connections close, done_fd() becomes readable and error()
// says why. One backend serves one connection; create another for the next one.
//
// Offered: features VERSION_1, EVENT_IDX, PROTOCOL_FEATURES (never INDIRECT_DESC or packed
// rings); protocol features REPLY_ACK, CONFIG, RESET_DEVICE. Rings 0 (rx) and 1 (tx) are
// processed; QEMU keeps the event queue (a ring 2 may be configured and is left alone).
// When neither rx nor tx runs any more (guest reset, VM stopped) every vsock connection is
// closed, like a device reset.
//
// Callbacks (config.on_heartbeat, on_app_status) run on the loop thread with the backend's lock
// held: keep them short, do not call back into the backend.
//
// Usage (the enclave daemon, one backend per enclave):
//     int sv[2]; socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
//     vmm::VsockConfig vc;  vc.guest_cid = 16;  vc.uds_path = run_dir + "/1.vsock";
//     vc.on_heartbeat = [fd] { std::uint64_t one = 1; ::write(fd, &one, 8); };
//     auto backend = vmm::vhost_user::VhostUserVsockBackend::create(base::UniqueFd(sv[0]), vc);
//     backend->start();
//     // QEMU inherits sv[1] as fd N:  -chardev socket,id=vsock0,fd=N
//     //   -device vhost-user-vsock-device,chardev=vsock0
//     //   -object memory-backend-memfd,id=mem,size=512M,share=on -machine memory-backend=mem
//     poll(backend->done_fd());  backend->error();  backend->stop();
// Or on a path: listener = listen_unix(path); conn = accept_unix(listener.get(), -1) (unix_socket.h).
#pragma once

#include "vmm/vhost_user/backend.h"
#include "vmm/vsock/vsock_core.h"
#include "vmm/virtio/virtio_device.h"
#include "vmm/vsock/vsock_config.h"

#include <memory>
#include <string>

namespace vmm::vhost_user {

class VhostUserVsockBackend final : private VhostUserDevice {
public:
    static constexpr std::uint16_t kRingCount = 3;          // rx, tx, event (QEMU sends rx and tx)
    static constexpr std::uint16_t kServedRings = 2;        // GET_QUEUE_NUM
    static constexpr std::uint64_t kFeatures = virtio::kFeatureVersion1 | virtio::kFeatureEventIdx | kFeatureProtocolFeatures;
    static constexpr std::uint64_t kProtocolFeatures = protocol::kReplyAck | protocol::kConfig | protocol::kResetDevice;

    // Takes a connected stream socket (accepted, or one end of a socketpair); the guest CID is
    // checked like VsockDevice::create (VSOCK_BAD_CID) and config.uds_path is bound now
    // (errors as base::Error). mmio_base and gsi are not used.
    static std::unique_ptr<VhostUserVsockBackend> create(base::UniqueFd connected_socket, const VsockConfig& config);
    ~VhostUserVsockBackend(); // stop(), then every socket and mapping is released

    // Runs the loop on its own thread ("vhost-vsock") until the connection ends or stop().
    void start();
    // Stops and joins the loop thread (idempotent). The connection stays as it is.
    void stop();
    // One round of the loop on the calling thread (tests, fuzzers): returns the event count.
    int run_once(int timeout_ms);
    // Runs `task` on the loop thread between two rounds and waits (VsockCore::run_in_loop_thread):
    // false, nothing run, if the loop is not running (not started, or the connection ended).
    bool run_in_loop_thread(const std::function<void()>& task) { return m_core->run_in_loop_thread(task); }

    // Readable (an eventfd, never reset) once the connection has ended, for any reason.
    int done_fd() const { return m_transport.done_fd(); }
    bool done() const { return m_transport.done(); }
    // Why the connection was dropped; "" while it lasts or after a clean close by the frontend.
    std::string error() { return m_transport.error(); }
    const VsockConfig& config() const { return m_config; }
    vsock::VsockStats stats();
    std::uint64_t messages() { return m_transport.messages(); }
    // Features the frontend acknowledged (SET_FEATURES; still there after the connection ended).
    std::uint64_t acked_features() { return m_transport.acked_features(); }
    // The frontend started the device's rings: QEMU does that once the guest's driver set
    // DRIVER_OK (and stops them on a reset or a VM stop), so this is the driver's DRIVER_OK.
    bool device_started();
    // For debugging a stall: VsockCore's lines (each queue's indices, each connection).
    std::vector<std::string> describe();

private:
    static constexpr std::uint64_t kSocketToken = vsock::VsockCore::kFirstExternalToken;

    VhostUserVsockBackend(base::UniqueFd socket, const VsockConfig& config);
    // VhostUserDevice
    std::string device_name() const override { return "the vsock device"; }
    std::uint16_t served_rings() const override { return kServedRings; }
    std::uint64_t features() const override { return kFeatures; }
    std::uint64_t protocol_features() const override { return kProtocolFeatures; }
    std::string ring_name(std::uint16_t ring) const override;
    void read_config(std::uint32_t offset, std::uint8_t* data, std::uint32_t size) const override;
    bool watch_kick(std::uint16_t ring, int fd) override { return m_core->watch_kick(ring, fd); }
    void rings_changed(const std::vector<bool>& started, const std::vector<bool>& running, bool polled) override;
    void connection_ended() override;

    VsockConfig m_config;
    VhostUserBackend m_transport;
    std::unique_ptr<vsock::VsockCore> m_core; // after the transport's queues it points into
};

} // namespace vmm::vhost_user
