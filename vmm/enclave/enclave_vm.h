// vmm/enclave/enclave_vm.h — what the enclave daemon runs: one guest with its virtio-vsock
// device, behind one interface whatever executes it.
//   --accel kvm  KvmEnclaveVm (kvm_enclave_vm.h): qt-vmm's own VMM — Machine (KVM, hugepage
//                memory, pinned vCPUs) + VsockDevice on virtio-mmio.
//   --accel tcg  QemuEnclaveVm (qemu_enclave_vm.h): QEMU's microvm under TCG software
//                emulation, with the same vsock device model served over vhost-user.
// Both take the same VsockConfig (CID, hybrid-vsock socket, heartbeat and app-status
// callbacks), end with an ExitInfo, and report what they know as an EnclaveVmStatus, which
// enclave_status_json.h turns into the enclave's JSON.
//
// Usage (the daemon):
//     std::unique_ptr<vmm::EnclaveVm> vm = vmm::KvmEnclaveVm::create(machine_config, image, vsock_config, nsm_handler, on_exit);
//     vm->start();
//     ... vm->request_stop(ExitKind::Stopped, "on request");  // from any thread
//     vmm::ExitInfo why = vm->wait();                          // after on_exit fired
#pragma once

#include "vmm/enclave/accel.h"
#include "vmm/vstate/machine.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace vmm {

// The guest's vsock device as its driver left it.
struct VsockDeviceStatus {
    std::string transport;                       // "virtio-mmio" (KVM) or "vhost-user" (TCG)
    bool driver_ok { false };                    // the driver set DRIVER_OK (TCG: QEMU started the rings, which it does then)
    std::optional<std::uint32_t> status_register; // the virtio-mmio Status (KVM only)
    std::uint64_t features { 0 };                // negotiated (KVM) or acknowledged by QEMU (TCG)
    std::uint64_t connections { 0 };             // open now
    std::vector<std::string> internals;          // queue indices and connection states (debugging)
};

// What a back end knows about its guest, for the enclave's description.
struct EnclaveVmStatus {
    Accel accel { Accel::Kvm };
    std::vector<std::pair<std::string, double>> launch_timings_ms; // in launch order
    std::optional<std::uint64_t> first_guest_io_ns; // CLOCK_MONOTONIC of the first port-0x80 write (KVM)
    std::optional<pid_t> qemu_pid;                  // TCG
    VsockDeviceStatus vsock;
};

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
    // What this back end knows now: launch timings, the vsock device's state, ...
    virtual EnclaveVmStatus report() const = 0;
    // Runs `task` once in each thread of this process that runs a vCPU, and returns when they
    // have (KVM: the vCPU threads; QEMU's vCPUs are not ours: nothing to do).
    virtual void run_in_vcpu_threads(const std::function<void()>& /*task*/) { }
    // Runs `task` once on the vsock device's loop thread (KVM: "vsock", tcg: "vhost-vsock") and
    // waits for it. False, having run nothing, if that thread is not running.
    virtual bool run_in_device_thread(const std::function<void()>& /*task*/) { return false; }
    // The same for the security module's thread (KVM: "nsm"). False, having run nothing, without
    // an NSM device, when that thread is not running, or under tcg (not done there yet).
    virtual bool run_in_nsm_thread(const std::function<void()>& /*task*/) { return false; }
};

} // namespace vmm
