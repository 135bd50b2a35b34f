// vmm/testing/fake_enclave_vm.h — test-only: an EnclaveVm with no guest behind it, for testing
// the enclave daemon without KVM or QEMU. It ends when asked to (request_stop, or end() for a
// guest that "ended on its own"), firing on_exit once like the real back ends, and plays the
// guest's side of the vsock device: heartbeat() and app_status() call the daemon's callbacks.
//
// Usage (in a doctest file):
//     std::atomic<vmm::FakeEnclaveVm*> vm { nullptr };
//     vmm::EnclaveDaemon daemon(run_dir, settings, vmm::FakeEnclaveVm::factory(&vm));
//     ... daemon.run(...) on another thread; then, once *vm is set:
//     vm.load()->heartbeat();                             // the guest's 0xB7 on port 9000
//     vm.load()->print("boot\n");                         // on its console (debug mode)
//     vm.load()->end(vmm::ExitKind::GuestReset, "reboot"); // or a `stop` request ends it
#pragma once

#include "vmm/devices/console_buffer.h"
#include "vmm/enclave/enclave_daemon.h"
#include "vmm/enclave/enclave_vm.h"
#include "vmm/vstate/exit_latch.h"
#include "vmm/vsock/vsock_device.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace vmm {

class FakeEnclaveVm final : public EnclaveVm {
public:
    FakeEnclaveVm(VsockConfig vsock, OnExit on_exit, ConsoleBuffer* console = nullptr)
        : m_vsock(std::move(vsock))
        , m_on_exit(std::move(on_exit))
        , m_console(console)
    {
    }

    // A factory for EnclaveDaemon that leaves the VM it made in *made (owned by the daemon, gone
    // once run() returns). The guest's console is the daemon's ring (debug mode) if it has one.
    static EnclaveVmFactory factory(std::atomic<FakeEnclaveVm*>* made)
    {
        return [made](const EnclaveSettings& settings, const BootImage&, VsockConfig vsock, OnExit on_exit) {
            auto vm = std::make_unique<FakeEnclaveVm>(std::move(vsock), std::move(on_exit), settings.machine.console);
            *made = vm.get();
            return std::unique_ptr<EnclaveVm>(std::move(vm));
        };
    }

    void start() override { m_started = true; }
    ExitInfo wait() override { return m_exit.wait(); }
    ExitInfo status() const override { return m_exit.current(); }
    bool request_stop(ExitKind kind, std::string detail) override { return end(kind, std::move(detail)); }
    EnclaveVmStatus report() const override
    {
        EnclaveVmStatus status;
        status.vsock.transport = "fake";
        return status;
    }

    // The guest ends (the first reason wins); true if this one was first.
    bool end(ExitKind kind, std::string detail)
    {
        if (!m_exit.record(kind, std::move(detail)))
            return false;
        if (m_on_exit)
            m_on_exit(m_exit.current());
        return true;
    }
    void heartbeat() { m_vsock.on_heartbeat(); }
    void app_status(const guest_init::StatusRecord& record) { m_vsock.on_app_status(record); }
    // The guest writes `text` to its serial console (debug mode only).
    void print(const std::string& text)
    {
        if (m_console)
            m_console->append(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    }
    bool started() const { return m_started; }
    const VsockConfig& vsock() const { return m_vsock; }

private:
    VsockConfig m_vsock;
    OnExit m_on_exit;
    ConsoleBuffer* m_console;
    ExitLatch m_exit;
    std::atomic<bool> m_started { false };
};

} // namespace vmm
