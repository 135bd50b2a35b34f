// vmm/enclave/qemu_enclave_vm.h — an enclave under software emulation (--accel tcg): QEMU's
// microvm machine with the EIF's kernel, ramdisks and command line, and qt-vmm's own virtio-vsock
// device model served to it over vhost-user (vmm/vhost_user/vsock_backend.h), so heartbeat,
// app status, the hybrid-vsock socket and CID rules are exactly those of --accel kvm.
//
// For hosts where KVM is missing or cannot run guest user mode. QEMU runs as a child of the
// enclave daemon with PR_SET_PDEATHSIG, so it dies with the daemon. The kernel and the
// concatenated ramdisks reach it as memfds (/proc/self/fd/N), never as files. In debug mode
// the UART comes back over a socket into the same read-only console ring as under KVM; QEMU's
// own stderr is kept (the last lines explain a failed start) and copied to the daemon's log.
// Hugepages, NUMA and CPU pinning do not apply: guest RAM is a shared memfd of QEMU's.
//
// The end: QEMU exits when the guest resets the machine (reboot=k through the i8042, with
// -no-reboot) — recorded as guest-reset — or when it is stopped (SIGTERM, SIGKILL after 5 s).
// A vhost-user connection that fails stops the enclave (vcpu-error, with the backend's reason).
//
// The NSM device (attestation): given a request handler, QEMU also gets a second vhost-user
// socket and `-device vhost-user-device,virtio-id=33,num_vqs=1` (start() checks that the binary
// lets -device create it, else QEMU_NO_VHOST_USER_DEVICE: upstream QEMU, 10.0.2 included, does
// not; see qemu_probe.h), served by vhost_user::VhostUserNsmBackend
// on its thread "vhost-nsm"; it ends with the enclave. run_in_device_thread() stays the vsock
// thread's.
//
// Usage:
//     auto vm = vmm::QemuEnclaveVm::create(machine_config, image, vsock_config,
//         [module](std::string_view r) { return module->handle(r); },  // nullptr: no NSM device
//         on_exit);
//     vm->start();   // throws QEMU_MISSING / QEMU_EXEC when QEMU cannot be run
#pragma once

#include "base/file.h"
#include "base/sized_thread.h"
#include "eif-format/eif_arch.h"
#include "vmm/enclave/enclave_vm.h"
#include "vmm/nsm/nsm_types.h"
#include "vmm/vsock/vsock_device.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <sys/types.h>

namespace vmm {

namespace vhost_user {
class VhostUserVsockBackend;
class VhostUserNsmBackend;
}

class QemuEnclaveVm final : public EnclaveVm {
public:
    // nsm: answers the NSM device's requests (NsmModule::handle, holding the module); nullptr =
    // no NSM device. arch: the EIF's (qemu-system-x86_64 microvm or qemu-system-aarch64 virt).
    static std::unique_ptr<QemuEnclaveVm> create(const MachineConfig& machine, const BootImage& image, VsockConfig vsock,
        nsm::RequestHandler nsm, OnExit on_exit, eif::Arch arch = eif::Arch::X86_64);
    ~QemuEnclaveVm() override;

    void start() override;
    ExitInfo wait() override;
    ExitInfo status() const override;
    bool request_stop(ExitKind kind, std::string detail) override;
    EnclaveVmStatus report() const override;
    bool run_in_device_thread(const std::function<void()>& task) override;

private:
    QemuEnclaveVm() = default;
    void supervise();

    MachineConfig m_machine;
    eif::Arch m_arch { eif::Arch::X86_64 };
    OnExit m_on_exit;
    std::unique_ptr<vhost_user::VhostUserVsockBackend> m_backend;
    base::UniqueFd m_qemu_vhost_end;   // QEMU's end of the vhost-user socketpair
    std::unique_ptr<vhost_user::VhostUserNsmBackend> m_nsm; // null: no NSM device
    base::UniqueFd m_qemu_nsm_end;     // QEMU's end of the NSM device's socketpair
    base::UniqueFd m_console_ours;     // debug mode: our end of the UART socketpair
    base::UniqueFd m_console_qemu;
    base::UniqueFd m_kernel;           // memfds
    base::UniqueFd m_initrd;
    base::UniqueFd m_stderr;           // read end of QEMU's stderr
    base::UniqueFd m_pidfd;
    base::UniqueFd m_stop_event;
    pid_t m_pid { -1 };
    double m_spawn_ms { 0 };
    std::string m_stderr_tail;         // QEMU's last words, for a failed start
    base::SizedThread m_supervisor;

    ExitLatch m_exit;                  // why the guest ended: the first reason wins
    mutable std::mutex m_lock;
    std::condition_variable m_ended;
    bool m_finished { false };         // QEMU reaped, on_exit called
};

} // namespace vmm
