// vmm/vhost_user/nsm_backend.h — the enclave's NSM device (virtio ID 33) served to QEMU's
// generic `vhost-user-device` over one vhost-user connection, for --accel tcg. The request
// processing is the KVM device's: every chain on the one queue goes through
// virtio::serve_nsm_queue() to the handler (NsmModule::handle); this class adds only the NSM
// half of a vhost-user backend (VhostUserBackend, backend.h, does the protocol): one ring, an
// empty config space, and a small loop thread ("vhost-nsm") that reads the control socket and
// the kick eventfd from one epoll set and answers requests on that thread.
//
// Offered: features VERSION_1, EVENT_IDX, PROTOCOL_FEATURES; protocol features REPLY_ACK,
// CONFIG (the config space is 0 bytes: reads give zeroes), RESET_DEVICE. Bad input from the
// frontend ends the connection only (done_fd(), error()); a malformed chain from the guest is
// the queue's business (handed back with length 0), a request over nsm::kMaxRequestSize reaches
// the handler cut at kMaxRequestSize + 1 bytes (the module answers InputTooLarge). A round
// answers at most virtio::kNsmChainsPerRound requests, then the socket gets its turn.
//
// The handler runs on the loop thread with the backend's lock held: it must not call back
// into the backend.
//
// Usage (the enclave daemon, beside the vsock backend):
//     int sv[2]; socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
//     auto nsm = vmm::vhost_user::VhostUserNsmBackend::create(base::UniqueFd(sv[0]),
//         [module](std::string_view request) { return module->handle(request); });
//     nsm->start();
//     // QEMU inherits sv[1] as fd N:  -chardev socket,id=nsm0,fd=N
//     //   -device vhost-user-device,chardev=nsm0,virtio-id=33,num_vqs=1,config_size=0
//     poll(nsm->done_fd());  nsm->error();  nsm->stop();
#pragma once

#include "base/sized_thread.h"
#include "vmm/nsm/nsm_types.h"
#include "vmm/vhost_user/backend.h"

#include <atomic>
#include <memory>
#include <string>

namespace vmm::vhost_user {

class VhostUserNsmBackend final : private VhostUserDevice {
public:
    static constexpr std::uint16_t kRingCount = 1;
    static constexpr std::uint64_t kFeatures = virtio::kFeatureVersion1 | virtio::kFeatureEventIdx | kFeatureProtocolFeatures;
    static constexpr std::uint64_t kProtocolFeatures = protocol::kReplyAck | protocol::kConfig | protocol::kResetDevice;
    static constexpr const char* kThreadName = "vhost-nsm";

    // Takes a connected stream socket; throws base::Error (VHOST_USER_SOCKET, ..._EVENTFD, ...).
    static std::unique_ptr<VhostUserNsmBackend> create(base::UniqueFd connected_socket, nsm::RequestHandler handler);
    ~VhostUserNsmBackend(); // stop(), then every socket and mapping is released

    // Runs the loop on its own thread (kThreadName) until the connection ends or stop().
    void start();
    // Stops and joins the loop thread (idempotent). The connection stays as it is.
    void stop();
    // One round on the calling thread (tests): waits up to timeout_ms, handles the control
    // socket and the kick, answers requests. Returns the number of events.
    int run_once(int timeout_ms);

    int done_fd() const { return m_transport.done_fd(); }
    bool done() const { return m_transport.done(); }
    std::string error() { return m_transport.error(); }
    std::uint64_t acked_features() { return m_transport.acked_features(); }
    std::uint64_t messages() { return m_transport.messages(); } // control messages received
    // The frontend started the ring: QEMU does that once the guest's driver set DRIVER_OK.
    bool device_started();
    std::uint64_t requests();           // chains answered so far

private:
    VhostUserNsmBackend(base::UniqueFd socket, nsm::RequestHandler handler);
    // VhostUserDevice
    std::string device_name() const override { return "the NSM device"; }
    std::uint16_t served_rings() const override { return kRingCount; }
    std::uint64_t features() const override { return kFeatures; }
    std::uint64_t protocol_features() const override { return kProtocolFeatures; }
    std::string ring_name(std::uint16_t ring) const override { return "ring " + std::to_string(ring) + " (requests)"; }
    void read_config(std::uint32_t offset, std::uint8_t* data, std::uint32_t size) const override;
    bool watch_kick(std::uint16_t ring, int fd) override;
    void rings_changed(const std::vector<bool>& started, const std::vector<bool>& running, bool polled) override;
    void connection_ended() override;

    void serve_locked();
    void loop();

    nsm::RequestHandler m_handler;
    VhostUserBackend m_transport;
    base::UniqueFd m_epoll;
    base::UniqueFd m_wake;
    int m_kick { -1 };                   // watched kick eventfd (owned by the transport)
    bool m_running { false };            // the ring runs (started and enabled)
    bool m_more { false };               // the last round left requests waiting
    std::atomic<int> m_poll_ms { -1 };   // a started ring without a kick fd is polled
    std::uint64_t m_requests { 0 };
    std::atomic<bool> m_stopping { false };
    base::SizedThread m_thread;
};

} // namespace vmm::vhost_user
