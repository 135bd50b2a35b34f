// vmm/enclave/kvm_enclave_vm.h — an enclave on qt-vmm's own KVM VMM (--accel kvm, the
// default): the Machine (hugepage memory on one NUMA node, pinned vCPUs, UART sink, i8042) plus
// the virtio-vsock device in the machine's first virtio-mmio slot (0xd0000000, IRQ 5; the guest
// learns of it from "virtio_mmio.device=4K@0xd0000000:5", appended to its command line).
//
// Usage:
//     auto vm = vmm::KvmEnclaveVm::create(machine_config, image, vsock_config, on_exit);
//     vm->start();
#pragma once

#include "vmm/enclave/enclave_vm.h"
#include "vmm/vsock/vsock_device.h"

#include <memory>

namespace vmm {

class KvmEnclaveVm final : public EnclaveVm {
public:
    static std::unique_ptr<KvmEnclaveVm> create(MachineConfig machine, const BootImage& image, VsockConfig vsock, OnExit on_exit);
    ~KvmEnclaveVm() override;

    void start() override;
    ExitInfo wait() override;
    ExitInfo status() const override;
    bool request_stop(ExitKind kind, std::string detail) override;
    EnclaveVmStatus report() const override;
    void run_in_vcpu_threads(const std::function<void()>& task) override;
    bool run_in_device_thread(const std::function<void()>& task) override { return m_vsock->run_in_loop_thread(task); }

private:
    KvmEnclaveVm() = default;

    std::unique_ptr<Machine> m_machine;
    std::unique_ptr<VsockDevice> m_vsock; // after m_machine: destroyed first
};

} // namespace vmm
