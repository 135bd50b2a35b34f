#include "vmm/enclave/kvm_enclave_vm.h"


#include <cstdio>

namespace vmm {

std::unique_ptr<KvmEnclaveVm> KvmEnclaveVm::create(
    MachineConfig machine, const BootImage& image, VsockConfig vsock, nsm::RequestHandler nsm, OnExit on_exit)
{
    std::unique_ptr<KvmEnclaveVm> vm(new KvmEnclaveVm);
    machine.virtio_mmio_devices = nsm ? 2 : 1; // slot 0 vsock, slot 1 NSM
    vm->m_machine = Machine::create(machine, image);
    vm->m_vsock = VsockDevice::create(std::make_unique<virtio::GuestMemoryRam>(vm->m_machine->memory()), vsock);
    vm->m_machine->mmio_devices().attach(vm->m_vsock->mmio_wiring());
    if (nsm) {
        vm->m_nsm = virtio::NsmDevice::create(std::make_unique<virtio::GuestMemoryRam>(vm->m_machine->memory()), std::move(nsm));
        vm->m_machine->mmio_devices().attach(vm->m_nsm->mmio_wiring());
        vm->m_nsm->start();
    }
    vm->m_vsock->start();
    vm->m_machine->set_on_exit(std::move(on_exit));
    return vm;
}

KvmEnclaveVm::~KvmEnclaveVm()
{
    // The devices first: their threads must not touch guest memory once the Machine is gone.
    if (m_nsm)
        m_nsm->stop();
    m_nsm.reset();
    if (m_vsock)
        m_vsock->stop();
    m_vsock.reset();
    m_machine.reset();
}

void KvmEnclaveVm::start() { m_machine->start(); }
void KvmEnclaveVm::run_in_vcpu_threads(const std::function<void()>& task) { m_machine->run_in_vcpu_threads(task); }

ExitInfo KvmEnclaveVm::wait()
{
    ExitInfo exit = m_machine->wait();
    m_vsock->stop(); // no more guest traffic; parent sockets close when the device goes
    if (m_nsm)
        m_nsm->stop();
    return exit;
}

ExitInfo KvmEnclaveVm::status() const { return m_machine->status(); }

bool KvmEnclaveVm::request_stop(ExitKind kind, std::string detail) { return m_machine->request_stop(kind, std::move(detail)); }

EnclaveVmStatus KvmEnclaveVm::report() const
{
    const LaunchTimings& t = m_machine->timings();
    EnclaveVmStatus s;
    s.accel = Accel::Kvm;
    s.launch_timings_ms = { { "Memory", t.memory_ms }, { "VM", t.vm_ms }, { "Load", t.load_ms }, { "VCPUs", t.vcpus_ms } };
    s.first_guest_io_ns = m_machine->debug_port().first_write_ns();
    // The guest driver's progress (DRIVER_OK = it probed and set the device up) and traffic.
    virtio::MmioTransport& transport = m_vsock->transport();
    s.vsock = { "virtio-mmio", transport.driver_ok(), transport.status(), transport.negotiated_features(), m_vsock->stats().connections,
        m_vsock->describe() };
    return s;
}

} // namespace vmm
