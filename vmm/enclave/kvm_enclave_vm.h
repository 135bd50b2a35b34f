// vmm/enclave/kvm_enclave_vm.h — an enclave on qt-vmm's own KVM VMM (--accel kvm, the
// default): the Machine (hugepage memory on one NUMA node, pinned vCPUs, UART sink, i8042) plus
// the virtio-vsock device in the machine's first virtio-mmio slot (0xd0000000, IRQ 5; the guest
// learns of it from "virtio_mmio.device=4K@0xd0000000:5", appended to its command line) and,
// given an NSM request handler, the NSM device (virtio id 33, /dev/nsm in the guest) in the
// second (0xd0001000, IRQ 6; that slot is announced only then).
//
// Usage:
//     auto vm = vmm::KvmEnclaveVm::create(machine_config, image, vsock_config,
//         [module](std::string_view r) { return module->handle(r); }, on_exit);   // {} = no NSM
//     vm->start();
#pragma once

#include "vmm/enclave/enclave_vm.h"
#include "vmm/nsm/nsm_types.h"
#include "vmm/virtio/nsm_device.h"
#include "vmm/vsock/vsock_device.h"

#include <memory>

namespace vmm {

class KvmEnclaveVm final : public EnclaveVm {
public:
    // `nsm` answers the NSM device's requests (NsmModule::handle); empty: no NSM device.
    static std::unique_ptr<KvmEnclaveVm> create(
        MachineConfig machine, const BootImage& image, VsockConfig vsock, nsm::RequestHandler nsm, OnExit on_exit);
    ~KvmEnclaveVm() override;

    void start() override;
    ExitInfo wait() override;
    ExitInfo status() const override;
    bool request_stop(ExitKind kind, std::string detail) override;
    EnclaveVmStatus report() const override;
    void run_in_vcpu_threads(const std::function<void()>& task) override;
    bool run_in_device_thread(const std::function<void()>& task) override { return m_vsock->run_in_loop_thread(task); }
    bool run_in_nsm_thread(const std::function<void()>& task) override { return m_nsm && m_nsm->run_in_thread(task); }
    // The NSM device (nullptr without one): its thread takes tasks through run_in_thread().
    virtio::NsmDevice* nsm_device() { return m_nsm.get(); }
    // The machine's configuration as created (its cmdline with the virtio-mmio fragments).
    const MachineConfig& machine_config() const { return m_machine->config(); }

private:
    KvmEnclaveVm() = default;

    std::unique_ptr<Machine> m_machine;
    std::unique_ptr<VsockDevice> m_vsock; // after m_machine: destroyed first
    std::unique_ptr<virtio::NsmDevice> m_nsm; // null without NSM
};

} // namespace vmm
