// vmm/vstate/machine.h — one running microVM: guest memory, the KVM VM, its devices and one
// thread per vCPU (pinned to a host CPU), from "create" to "why it ended".
//
// Design: everything that can fail (KVM, memory reservation, image sizes) fails in create(),
// before any vCPU runs. The vCPU threads handle their own exits (port I/O, MMIO) through the
// IoBus; anything that ends the guest — keyboard-controller reset (reboot=k), triple fault, a
// system event, an emulation failure, or request_stop() from the outside — records the first
// reason and kicks every vCPU out of KVM_RUN (immediate_exit + a signal), after which wait()
// returns. vCPU threads are pinned before their first KVM_RUN (a CPU that cannot be used fails
// start(), no vCPU having run). A hostile guest can only reach the VMM through the bus, whose devices bounds-check
// everything, and through exits that end the guest; nothing it does can end the VMM process.
//
// Usage:
//     vmm::BootImage image{ kernel_bytes, initrd_size, [&](std::uint8_t* dst) { eif.read_ramdisks(dst, initrd_size); } };
//     auto machine = vmm::Machine::create(config, image);
//     machine->mmio_devices().attach(device->mmio_wiring()); // each of config.virtio_mmio_devices
//     machine->start();
//     vmm::ExitInfo why = machine->wait();      // e.g. { ExitKind::GuestReset, "..." }
#pragma once

#include "base/sized_thread.h"
#if defined(__x86_64__)
#include "vmm/arch/x86/vcpu_setup.h"
#endif
#include "vmm/devices/console_buffer.h"
#include "vmm/devices/io_bus.h"
#include "vmm/devices/legacy_ports.h"
#include "vmm/devices/serial_16550.h"
#include "vmm/kvm/kvm.h"
#include "vmm/memory/guest_memory.h"
#include "vmm/vstate/exit_latch.h"
#include "vmm/vstate/mmio_device_manager.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace vmm {

class MachineArch;

// (the vCPU, its kvm_run with exit_reason KVM_EXIT_INTERNAL_ERROR and the instruction bytes)
using EmulationFailureHandler = std::function<bool(VcpuFd& cpu, const kvm_run& run)>;

struct MachineConfig {
    unsigned vcpus { 1 };
    std::uint64_t memory_bytes { 0 };
    std::uint64_t page_size { 2ull << 20 };
    int numa_node { -1 };
    GuestMemory::Chunks memory_chunks; // pre-zeroed pool chunks backing RAM; empty = fresh hugepages
    std::vector<int> host_cpus;   // vCPU i runs on host_cpus[i]; empty = not pinned
    // Where the VMM's other threads and helper processes (QEMU under tcg) run: the parent's CPUs
    // (placement/daemon_cpus.h); the enclave daemon pins itself there. Empty = not pinned.
    std::vector<int> vmm_cpus;
    std::string cmdline;          // the guest's command line (x86: before the virtio-mmio fragments)
    unsigned virtio_mmio_devices { 0 }; // slots announced to the guest (mmio_devices())
#if defined(__x86_64__)
    x86::CpuidQuirks cpuid_quirks;
#endif
    // Called by a vCPU thread when KVM could not emulate an instruction whose bytes it reports;
    // true = handled, the vCPU resumes; false or unset = the guest ends with vcpu-error. The
    // enclave layer sets it only for a host quirk (enclave/nested_kvm_fixups.h).
    EmulationFailureHandler on_emulation_failure;
    ConsoleBuffer* console { nullptr }; // debug mode: where UART output goes; null = discarded
};

struct BootImage {
    std::vector<std::uint8_t> kernel;                 // bzImage (x86) or Image (arm64)
    std::uint64_t initrd_size { 0 };
    std::function<void(std::uint8_t* destination)> load_initrd; // writes initrd_size bytes
};

struct LaunchTimings {
    double memory_ms { 0 };  // reserve + map guest RAM
    double vm_ms { 0 };      // KVM VM, irqchip, devices
    double load_ms { 0 };    // kernel, initrd and boot structures into RAM
    double vcpus_ms { 0 };   // create and configure vCPUs
};

class Machine {
public:
    static std::unique_ptr<Machine> create(const MachineConfig& config, const BootImage& image);
    ~Machine();

    // Starts one thread per vCPU, named "vcpuN"; each pins itself to host_cpus[N] before its
    // first KVM_RUN. If any cannot pin, no vCPU runs and start() throws CPU_PINNING naming it.
    void start();
    // Blocks until the guest ended; returns the first reason recorded.
    ExitInfo wait();
    // Non-blocking variant: the current state (kind Running while the guest runs).
    ExitInfo status() const;
    // Records why the guest ends (the first reason wins) and kicks every vCPU out of KVM_RUN.
    // Returns true if this reason was the first.
    bool request_stop(ExitKind kind, std::string detail);

    const LaunchTimings& timings() const { return m_timings; }
    const MachineConfig& config() const { return m_config; }
    GuestMemory& memory() { return m_memory; }
    VmFd& vm() { return *m_vm; }
    IoBus& bus() { return m_bus; }
    // Where virtio-mmio devices are attached (after create(), before start()).
    MmioDeviceManager& mmio_devices() { return *m_mmio_devices; }
    const DebugPort& debug_port() const { return m_debug_port; }
    std::uint64_t serial_bytes() const { return m_serial->bytes_written(); }
    // Runs `task` once in every vCPU thread, between two KVM_RUNs (each is kicked out of
    // KVM_RUN for it), and returns once all have (or the guest is stopping, or after 10 s). For
    // per-thread set-up after start, e.g. a vCPU's own seccomp filter. An exception from `task`
    // stops the guest (VcpuError), like any in the vCPU loop.
    void run_in_vcpu_threads(const std::function<void()>& task);
    // Called (from a vCPU or the stopping thread) once when the guest ends.
    void set_on_exit(std::function<void(const ExitInfo&)> callback) { m_on_exit = std::move(callback); }

private:
    Machine(const MachineConfig& config, std::unique_ptr<MachineArch> arch, GuestMemory memory);
    void vcpu_loop(unsigned index);
    void run_vcpu_task(VcpuFd& cpu);
    bool handle_exit(unsigned index, VcpuFd& cpu);

    MachineConfig m_config;
    std::unique_ptr<MachineArch> m_arch; // what differs between x86 and arm64 (vmm/arch/machine_arch.h)
    GuestMemory m_memory;
    std::unique_ptr<KvmSystem> m_kvm;
    std::unique_ptr<VmFd> m_vm;
    std::vector<VcpuFd> m_vcpus;
    std::vector<base::SizedThread> m_threads;
    std::vector<pthread_t> m_thread_handles;
    IoBus m_bus;
    std::unique_ptr<MmioDeviceManager> m_mmio_devices;
    std::unique_ptr<Serial16550> m_serial;
    std::unique_ptr<KeyboardResetPort> m_keyboard;
    CmosClock m_cmos;
    DebugPort m_debug_port;
    LaunchTimings m_timings;
    std::function<void(const ExitInfo&)> m_on_exit;

    ExitLatch m_exit;
    std::atomic<bool> m_stopping { false };

    // run_in_vcpu_threads(): the task, its generation (0 = none yet) and how many threads ran it.
    std::mutex m_task_lock;
    std::condition_variable m_task_done;
    std::function<void()> m_task;
    std::atomic<std::uint64_t> m_task_generation { 0 };
    unsigned m_task_runs { 0 };
};

} // namespace vmm
