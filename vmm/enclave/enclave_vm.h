// vmm/enclave/enclave_vm.h — what the enclave daemon runs: one guest with its virtio-vsock
// device, behind one interface whatever executes it.
//   --accel kvm  KvmEnclaveVm (kvm_enclave_vm.h): qt-vmm's own VMM — Machine (KVM, hugepage
//                memory, pinned vCPUs) + VsockDevice on virtio-mmio.
//   --accel tcg  QemuEnclaveVm (qemu_enclave_vm.h): QEMU's microvm under TCG software
//                emulation, with the same vsock device model served over vhost-user.
// Both take the same VsockConfig (CID, hybrid-vsock socket, heartbeat and app-status
// callbacks), end with an ExitInfo, and add their own facts to the daemon's description.
//
// Usage (the daemon):
//     std::unique_ptr<vmm::EnclaveVm> vm = vmm::KvmEnclaveVm::create(machine_config, image, vsock_config, on_exit);
//     vm->start();
//     ... vm->request_stop(ExitKind::Stopped, "on request");  // from any thread
//     vmm::ExitInfo why = vm->wait();                          // after on_exit fired
#pragma once

#include "vmm/enclave/run_dir.h"
#include "vmm/vstate/machine.h"

#include <functional>
#include <string>

namespace vmm {

class EnclaveVm {
public:
    using OnExit = std::function<void(const ExitInfo&)>;

    virtual ~EnclaveVm() = default;
    // Starts the guest; everything that can fail before the guest runs has failed in create().
    virtual void start() = 0;
    // Blocks until the guest ended; returns the first reason recorded.
    virtual ExitInfo wait() = 0;
    // The current state (kind Running while the guest runs).
    virtual ExitInfo status() const = 0;
    // Ends the guest; the first reason recorded wins. Returns true if this one was first.
    virtual bool request_stop(ExitKind kind, std::string detail) = 0;
    // Adds what this accelerator knows to the enclave's description: "Accel", launch timings,
    // the vsock device's state, ...
    virtual void describe(Json& info) const = 0;
};

} // namespace vmm
