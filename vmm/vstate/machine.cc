#include "vmm/vstate/machine.h"

#include "base/error.h"
#include "base/hex.h"
#include "base/sized_thread.h"
#include "vmm/arch/machine_arch.h"
#include "vmm/host/cpu_affinity.h"

#include <chrono>
#include <csignal>
#include <cstring>
#include <exception>
#include <pthread.h>
#include <sched.h>

namespace vmm {

namespace {

// A vCPU thread runs KVM_RUN and the exits' device handlers (no allocation-heavy or recursive
// work): < 16 KiB touched, measured in the daemon under vsock traffic; the rest is margin.
constexpr std::size_t kVcpuThreadStack = 64 << 10;

constexpr int kKickSignal = SIGUSR1;

void install_kick_handler()
{
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_handler = [](int) {};
        sigemptyset(&action.sa_mask);
        action.sa_flags = 0; // no SA_RESTART: KVM_RUN must return EINTR
        ::sigaction(kKickSignal, &action, nullptr);
    });
}

double ms_since(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

Machine::Machine(const MachineConfig& config, std::unique_ptr<MachineArch> arch, GuestMemory memory)
    : m_config(config)
    , m_arch(std::move(arch))
    , m_memory(std::move(memory))
{
}

std::unique_ptr<Machine> Machine::create(const MachineConfig& config, const BootImage& image)
{
    if (config.vcpus == 0 || config.vcpus > 254)
        throw base::Error(base::ErrorKind::InvalidInput, "VCPU_COUNT", "vCPU count must be 1..254");
    if (!config.host_cpus.empty() && config.host_cpus.size() != config.vcpus)
        throw base::Error(base::ErrorKind::Internal, "VCPU_PINNING", "one host CPU per vCPU is needed for pinning");
    // Validate the kernel before reserving anything.
    std::unique_ptr<MachineArch> arch = MachineArch::create(config, image.kernel);

    auto t = std::chrono::steady_clock::now();
    GuestMemory memory = GuestMemory::create(
        { config.memory_bytes, config.page_size, config.numa_node, true, arch->ram_base() }, config.memory_chunks);
    std::unique_ptr<Machine> m(new Machine(config, std::move(arch), std::move(memory)));
    MachineArch& a = *m->m_arch;
    m->m_config.cmdline = a.kernel_cmdline(config.cmdline, config.virtio_mmio_devices);
    const std::string& cmdline = m->m_config.cmdline;
    m->m_timings.memory_ms = ms_since(t);

    t = std::chrono::steady_clock::now();
    std::uint64_t initrd_address = a.plan_boot(m->m_memory, image.initrd_size, cmdline);
    m->m_kvm = std::make_unique<KvmSystem>(KvmSystem::open());
    m->m_vm = std::make_unique<VmFd>(m->m_kvm->create_vm());
    VmFd& vm = *m->m_vm;
    // x86: guest memory first, then the interrupt controller: on the project's nested hosts the
    // first KVM_SET_USER_MEMORY_REGION made after KVM_CREATE_IRQCHIP costs 5-7 ms whatever the
    // slot's size (this-host.md, "The launch floor"), made before it 0.1 ms, and neither the
    // irqchip nor the vCPUs pay it instead (README, "Where launch time went next").
    auto register_memory = [&] {
        std::uint32_t slot = 0;
        for (const GuestMemory::Region& r : m->m_memory.regions())
            vm.set_memory_region(slot++, r.guest_address, r.size, m->m_memory.host_base() + r.host_offset);
    };
    if (a.memory_before_interrupt_controller())
        register_memory();
    a.create_interrupt_controller(vm);
    if (!a.memory_before_interrupt_controller())
        register_memory();

    Machine* self = m.get();
    ConsoleBuffer* console = config.console;
    m->m_serial = std::make_unique<Serial16550>(
        [self](bool level) { self->m_arch->set_console_irq(*self->m_vm, level); },
        [console](std::uint8_t byte) {
            if (console)
                console->append(byte);
        });
    m->m_keyboard = std::make_unique<KeyboardResetPort>(
        [self] { self->request_stop(ExitKind::GuestReset, "the guest reset the machine (keyboard controller, reboot=k)"); });
    a.attach_platform_devices(m->m_bus, { *m->m_serial, *m->m_keyboard, m->m_cmos, m->m_debug_port });
    m->m_mmio_devices = std::make_unique<MmioDeviceManager>(vm, m->m_bus, config.virtio_mmio_devices);
    m->m_timings.vm_ms = ms_since(t);

    t = std::chrono::steady_clock::now();
    if (image.initrd_size) {
        std::uint8_t* initrd = m->m_memory.translate(initrd_address, image.initrd_size);
        if (!initrd)
            throw base::Error(base::ErrorKind::Internal, "INITRD_PLACEMENT", "initrd does not fit where it was planned");
        image.load_initrd(initrd);
    }
    a.write_boot_structures(m->m_memory, cmdline);
    m->m_timings.load_ms = ms_since(t);

    t = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < config.vcpus; ++i)
        m->m_vcpus.push_back(a.create_vcpu(*m->m_kvm, vm, i));
    a.vcpus_created(vm);
    // KVM's per-VM worker threads start at the first KVM_RUN with that thread's CPU affinity: make
    // it here, on the caller's (the VMM's) CPUs, not in a vCPU thread pinned to an enclave CPU.
    m->m_vcpus.front().run_without_entering();
    m->m_timings.vcpus_ms = ms_since(t);
    return m;
}

Machine::~Machine()
{
    request_stop(ExitKind::Stopped, "the VMM shut down");
    for (base::SizedThread& t : m_threads) {
        if (t.joinable())
            t.join();
    }
}

void Machine::start()
{
    install_kick_handler();
    m_thread_handles.resize(m_vcpus.size());
    // Each vCPU thread pins itself to its host CPU, then waits at this gate until every thread
    // has pinned: no vCPU enters KVM_RUN unpinned, and if one cannot pin, none runs at all.
    // Shared, because a released thread may still hold it after start() has returned.
    struct Gate {
        std::mutex lock;
        std::condition_variable changed;
        std::size_t pinned { 0 };
        bool open { false };
        int failed_vcpu { -1 }; // the first that could not pin, and why
        int failure { 0 };
        std::vector<std::unique_ptr<host::CpuMask>> masks; // built here: a thread only applies its own
    };
    auto gate = std::make_shared<Gate>();
    for (int cpu : m_config.host_cpus)
        gate->masks.push_back(std::make_unique<host::CpuMask>(std::vector<int> { cpu }));
    for (unsigned i = 0; i < m_vcpus.size(); ++i) {
        m_threads.emplace_back(kVcpuThreadStack, [this, i, gate] {
            char name[16];
            std::snprintf(name, sizeof name, "vcpu%u", i);
            pthread_setname_np(pthread_self(), name);
            int error = gate->masks.empty() ? 0 : gate->masks[i]->apply_to_current_thread();
            {
                std::unique_lock guard(gate->lock);
                m_thread_handles[i] = pthread_self();
                if (error && gate->failed_vcpu < 0) {
                    gate->failed_vcpu = static_cast<int>(i);
                    gate->failure = error;
                }
                ++gate->pinned;
                gate->changed.notify_all();
                gate->changed.wait(guard, [&] { return gate->open; });
            }
            if (!m_stopping.load())
                vcpu_loop(i);
        });
    }
    std::unique_lock lock(gate->lock);
    gate->changed.wait(lock, [&] { return gate->pinned == m_vcpus.size(); });
    if (gate->failed_vcpu >= 0)
        m_stopping.store(true); // the threads leave without running
    gate->open = true;
    gate->changed.notify_all();
    lock.unlock();
    if (gate->failed_vcpu >= 0) {
        for (base::SizedThread& t : m_threads)
            t.join();
        m_threads.clear();
        m_thread_handles.clear();
        const int vcpu = gate->failed_vcpu;
        throw base::Error(base::ErrorKind::Resource, "CPU_PINNING",
            host::pinning_error("vCPU " + std::to_string(vcpu), { m_config.host_cpus[static_cast<std::size_t>(vcpu)] }, gate->failure));
    }
}

ExitInfo Machine::wait()
{
    m_exit.wait();
    for (base::SizedThread& t : m_threads) {
        if (t.joinable())
            t.join();
    }
    return m_exit.current();
}

ExitInfo Machine::status() const
{
    return m_exit.current();
}

bool Machine::request_stop(ExitKind kind, std::string detail)
{
    bool first = m_exit.record(kind, std::move(detail));
    m_stopping.store(true);
    for (std::size_t i = 0; i < m_vcpus.size(); ++i) {
        m_vcpus[i].run_state()->immediate_exit = 1;
        if (i < m_thread_handles.size() && m_thread_handles[i])
            pthread_kill(m_thread_handles[i], kKickSignal);
    }
    if (first && m_on_exit)
        m_on_exit(status());
    return first;
}

void Machine::vcpu_loop(unsigned index)
{
    VcpuFd& cpu = m_vcpus[index];
    std::uint64_t tasks_seen = 0;
    try {
        while (!m_stopping.load()) {
            if (std::uint64_t generation = m_task_generation.load(); generation != tasks_seen) {
                tasks_seen = generation;
                run_vcpu_task(cpu);
                continue; // re-check m_stopping after clearing immediate_exit
            }
            if (!cpu.run())
                continue; // interrupted: re-check m_stopping
            if (!handle_exit(index, cpu))
                break;
        }
    } catch (const std::exception& e) {
        request_stop(ExitKind::VcpuError, "vCPU " + std::to_string(index) + ": " + e.what());
    }
}

void Machine::run_in_vcpu_threads(const std::function<void()>& task)
{
    std::unique_lock lock(m_task_lock);
    m_task = task;
    m_task_runs = 0;
    m_task_generation.fetch_add(1);
    // immediate_exit: a thread that takes the kick just before entering KVM_RUN still leaves it.
    for (unsigned i = 0; i < m_vcpus.size(); ++i) {
        m_vcpus[i].run_state()->immediate_exit = 1;
        if (i < m_thread_handles.size())
            pthread_kill(m_thread_handles[i], kKickSignal);
    }
    m_task_done.wait_for(lock, std::chrono::seconds(10), [this] { return m_task_runs == m_vcpus.size() || m_stopping.load(); });
}

void Machine::run_vcpu_task(VcpuFd& cpu)
{
    std::function<void()> task;
    {
        std::lock_guard guard(m_task_lock);
        task = m_task;
    }
    cpu.run_state()->immediate_exit = 0; // before the caller re-checks m_stopping (a stop sets it again)
    task();
    {
        std::lock_guard guard(m_task_lock);
        ++m_task_runs;
    }
    m_task_done.notify_all();
}

bool Machine::handle_exit(unsigned index, VcpuFd& cpu)
{
    kvm_run* run = cpu.run_state();
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
        auto* data = reinterpret_cast<std::uint8_t*>(run) + run->io.data_offset;
        for (std::uint32_t i = 0; i < run->io.count; ++i) {
            std::uint8_t* item = data + i * run->io.size;
            if (run->io.direction == KVM_EXIT_IO_OUT)
                m_bus.port_write(run->io.port, item, run->io.size);
            else
                m_bus.port_read(run->io.port, item, run->io.size);
        }
        return true;
    }
    case KVM_EXIT_MMIO:
        if (run->mmio.is_write)
            m_bus.mmio_write(run->mmio.phys_addr, run->mmio.data, std::min<std::uint32_t>(run->mmio.len, 8));
        else
            m_bus.mmio_read(run->mmio.phys_addr, run->mmio.data, std::min<std::uint32_t>(run->mmio.len, 8));
        return true;
    case KVM_EXIT_SHUTDOWN:
        request_stop(ExitKind::TripleFault, "vCPU " + std::to_string(index) + " triple-faulted (shutdown)");
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        // arm64's PSCI SYSTEM_RESET is what x86's keyboard-controller reset is: the guest's reboot.
        if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
            request_stop(ExitKind::GuestReset, "the guest reset the machine (system event reset: PSCI SYSTEM_RESET)");
        else
            request_stop(ExitKind::SystemEvent, "system event " + std::to_string(run->system_event.type)
                    + (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ? " (shutdown: PSCI SYSTEM_OFF)" : ""));
        return false;
    case KVM_EXIT_HLT:
        request_stop(ExitKind::VcpuError, "vCPU " + std::to_string(index) + " halted with interrupts off");
        return false;
    case KVM_EXIT_INTERNAL_ERROR: {
        std::string detail = "vCPU " + std::to_string(index) + ": KVM internal error, suberror " + std::to_string(run->internal.suberror);
        if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
            && (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)
            && run->emulation_failure.insn_size > 0) {
            if (m_config.on_emulation_failure && m_config.on_emulation_failure(cpu, *run))
                return true;
            detail += ", instruction bytes";
            for (std::uint32_t i = 0; i < std::min<std::uint32_t>(run->emulation_failure.insn_size, 15); ++i) {
                char b[4];
                std::snprintf(b, sizeof b, " %02x", run->emulation_failure.insn_bytes[i]);
                detail += b;
            }
        }
        try {
            detail += m_arch->program_counter(cpu);
        } catch (const std::exception&) {
        }
        request_stop(ExitKind::VcpuError, detail);
        return false;
    }
    case KVM_EXIT_FAIL_ENTRY:
        request_stop(ExitKind::VcpuError,
            "vCPU " + std::to_string(index) + ": VM entry failed, reason " + base::hex_u64(run->fail_entry.hardware_entry_failure_reason));
        return false;
    default:
        request_stop(ExitKind::VcpuError, "vCPU " + std::to_string(index) + ": unexpected exit reason " + std::to_string(run->exit_reason));
        return false;
    }
}

} // namespace vmm
