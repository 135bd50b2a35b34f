// vmm/vsock/vsock_config.h — what an enclave's vsock device needs to know, whichever front end
// serves it (VsockDevice on virtio-mmio, VhostUserVsockBackend for QEMU): the guest's CID, the
// parent's hybrid-vsock socket and the callbacks of the VMM's own services. muxer_config() is
// the one place that turns it into the muxer's configuration.
//
// Usage:
//     vmm::VsockConfig vc;
//     vc.guest_cid = 16;
//     vc.uds_path = run_dir + "/1.vsock";          // "" = no parent socket (services only)
//     vc.on_heartbeat = [] { ... };                 // called on the device's loop thread
//     vsock::VsockCore core(vmm::muxer_config(vc), lock, raise_interrupt);
#pragma once

#include "guest-init/status_protocol.h"
#include "vmm/vsock/vsock_muxer.h"

#include <cstdint>
#include <functional>
#include <string>

namespace vmm {

struct VsockConfig {
    std::uint64_t guest_cid { 0 };   // 4 .. 0xfffffffe
    std::string uds_path;            // the parent's socket; "" = none (heartbeat/status only)
    std::function<void()> on_heartbeat;
    std::function<void(const guest_init::StatusRecord&)> on_app_status;
    std::function<base::UniqueFd(std::uint32_t port)> connect_parent; // see MuxerConfig
    std::function<void()> on_quiet;                                     // see MuxerConfig
};

inline vsock::MuxerConfig muxer_config(const VsockConfig& config)
{
    vsock::MuxerConfig mc;
    mc.guest_cid = config.guest_cid;
    mc.uds_path = config.uds_path;
    mc.services.on_heartbeat = config.on_heartbeat;
    mc.services.on_app_status = config.on_app_status;
    mc.connect_parent = config.connect_parent;
    mc.on_quiet = config.on_quiet;
    return mc;
}

} // namespace vmm
