#include "vmm/vstate/exit_latch.h"

namespace vmm {

const char* exit_kind_name(ExitKind kind)
{
    switch (kind) {
    case ExitKind::Running:
        return "running";
    case ExitKind::GuestReset:
        return "guest-reset";
    case ExitKind::TripleFault:
        return "triple-fault";
    case ExitKind::SystemEvent:
        return "system-event";
    case ExitKind::VcpuError:
        return "vcpu-error";
    case ExitKind::DeviceError:
        return "device-error";
    case ExitKind::EmulatorError:
        return "emulator-error";
    case ExitKind::Stopped:
        return "stopped";
    }
    return "unknown";
}

bool ExitLatch::record(ExitKind kind, std::string detail)
{
    {
        std::lock_guard guard(m_lock);
        if (m_exit.kind != ExitKind::Running)
            return false;
        m_exit = { kind, std::move(detail) };
    }
    m_recorded.notify_all();
    return true;
}

ExitInfo ExitLatch::current() const
{
    std::lock_guard guard(m_lock);
    return m_exit;
}

bool ExitLatch::ended() const
{
    std::lock_guard guard(m_lock);
    return m_exit.kind != ExitKind::Running;
}

ExitInfo ExitLatch::wait() const
{
    std::unique_lock lock(m_lock);
    m_recorded.wait(lock, [this] { return m_exit.kind != ExitKind::Running; });
    return m_exit;
}

} // namespace vmm
