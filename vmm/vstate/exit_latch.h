// vmm/vstate/exit_latch.h — why a guest ended, recorded once: the first reason wins and later
// ones are ignored (a reset racing a stop request, several vCPUs failing at once). Every back
// end that runs a guest keeps its end here — the Machine (KVM) and the enclave layer's QEMU back
// end — so "first exit reason wins" is written once.
//
// Usage:
//     vmm::ExitLatch latch;
//     if (latch.record(ExitKind::GuestReset, "..."))   // true: this was the first reason
//         notify_someone();
//     vmm::ExitInfo why = latch.wait();                 // blocks until a reason is recorded
//     latch.current();                                  // kind Running until then
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>

namespace vmm {

// GuestReset..VcpuError: what the guest's vCPUs did. DeviceError: a device's back end failed
// (e.g. the vhost-user connection to QEMU). EmulatorError: the emulator running the guest
// (QEMU, --accel tcg) exited with an error or was killed. Stopped: ended from the outside.
enum class ExitKind { Running, GuestReset, TripleFault, SystemEvent, VcpuError, DeviceError, EmulatorError, Stopped };
const char* exit_kind_name(ExitKind kind);

struct ExitInfo {
    ExitKind kind { ExitKind::Running };
    std::string detail;
};

class ExitLatch {
public:
    // Records the reason unless one is already recorded; returns true if this one was first.
    bool record(ExitKind kind, std::string detail);
    ExitInfo current() const;
    bool ended() const;
    // Blocks until a reason is recorded, then returns it.
    ExitInfo wait() const;

private:
    mutable std::mutex m_lock;
    mutable std::condition_variable m_recorded;
    ExitInfo m_exit;
};

} // namespace vmm
