#include "vmm/enclave/kvm_enclave_vm.h"

#include "base/hex.h"

#include <cstdio>

namespace vmm {

std::unique_ptr<KvmEnclaveVm> KvmEnclaveVm::create(MachineConfig machine, const BootImage& image, VsockConfig vsock, OnExit on_exit)
{
    std::unique_ptr<KvmEnclaveVm> vm(new KvmEnclaveVm);
    machine.virtio_mmio_devices = 1;
    vm->m_machine = Machine::create(machine, image);
    vm->m_vsock = VsockDevice::create(std::make_unique<virtio::GuestMemoryRam>(vm->m_machine->memory()), vsock);
    vm->m_machine->mmio_devices().attach(vm->m_vsock->mmio_wiring());
    vm->m_vsock->start();
    vm->m_machine->set_on_exit(std::move(on_exit));
    return vm;
}

KvmEnclaveVm::~KvmEnclaveVm()
{
    // The device first: its loop thread must not touch guest memory once the Machine is gone.
    if (m_vsock)
        m_vsock->stop();
    m_vsock.reset();
    m_machine.reset();
}

void KvmEnclaveVm::start() { m_machine->start(); }

ExitInfo KvmEnclaveVm::wait()
{
    ExitInfo exit = m_machine->wait();
    m_vsock->stop(); // no more guest traffic; parent sockets close when the device goes
    return exit;
}

ExitInfo KvmEnclaveVm::status() const { return m_machine->status(); }

bool KvmEnclaveVm::request_stop(ExitKind kind, std::string detail) { return m_machine->request_stop(kind, std::move(detail)); }

void KvmEnclaveVm::describe(Json& info) const
{
    const LaunchTimings& t = m_machine->timings();
    info["Accel"] = "kvm";
    info["LaunchTimingsMs"] = Json { { "Memory", t.memory_ms }, { "VM", t.vm_ms }, { "Load", t.load_ms }, { "VCPUs", t.vcpus_ms } };
    info["LaunchMonotonicNs"]["FirstGuestIo"] = m_machine->debug_port().first_write_ns();
    // The guest driver's progress (DRIVER_OK = it probed and set the device up) and traffic.
    std::string features = base::hex_u64(m_vsock->transport().negotiated_features());
    info["VsockDevice"] = Json { { "Transport", "virtio-mmio" }, { "DriverOk", m_vsock->transport().driver_ok() },
        { "Status", m_vsock->transport().status() }, { "Features", features }, { "Connections", m_vsock->stats().connections } };
}

} // namespace vmm
