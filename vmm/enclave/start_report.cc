#include "vmm/enclave/start_report.h"

#include "vmm/enclave/enclave_lifecycle.h"

#include <unistd.h>
#include <utility>

namespace vmm {

StartReport::StartReport(StartReport&& other) noexcept
    : m_fd(std::exchange(other.m_fd, -1))
{
}

StartReport& StartReport::operator=(StartReport&& other) noexcept
{
    if (this != &other) {
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
}

StartReport::~StartReport()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

void StartReport::send(const std::string& kind, const Json& body)
{
    if (m_fd < 0)
        return;
    std::string line = kind + " " + body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
    [[maybe_unused]] ssize_t n = ::write(m_fd, line.data(), line.size());
    ::close(m_fd);
    m_fd = -1;
}

Json start_error(const base::Error& e)
{
    return Json { { "code", e.code() }, { "kind", e.exit_status() }, { "message", e.what() } };
}

Json internal_error(const std::exception& e)
{
    return Json { { "code", "INTERNAL" }, { "kind", 70 }, { "message", e.what() } };
}

namespace {

std::string console_hint(int id, bool debug_mode)
{
    return debug_mode ? "its console: qt-vmm enclave console --enclave-id " + std::to_string(id)
                      : "start it with --debug-mode to keep its console";
}

} // namespace

Json no_heartbeat_error(int id, double timeout_s, bool debug_mode)
{
    return Json { { "code", "NO_HEARTBEAT" }, { "kind", static_cast<int>(base::ErrorKind::Vm) },
        { "message", "enclave " + std::to_string(id) + " sent no boot heartbeat (0xB7 to CID 3 port 9000) within "
                + seconds_text(timeout_s) + " and was stopped; " + console_hint(id, debug_mode)
                + "; for a guest without qt-vmm's init, or to wait longer, pass --heartbeat-timeout SECONDS (0 = do not wait)" } };
}

Json ended_before_heartbeat_error(int id, const ExitInfo& exit, bool debug_mode)
{
    return Json { { "code", "ENDED_BEFORE_HEARTBEAT" }, { "kind", static_cast<int>(base::ErrorKind::Vm) },
        { "message", "enclave " + std::to_string(id) + " ended before its boot heartbeat (" + std::string(exit_kind_name(exit.kind))
                + ": " + exit.detail + "); " + console_hint(id, debug_mode) } };
}

} // namespace vmm
