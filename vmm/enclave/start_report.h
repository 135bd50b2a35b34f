// vmm/enclave/start_report.h — how the enclave daemon tells `qt-vmm enclave start` how the start
// went: one line on the ready pipe, "ok <json>\n" (the enclave's description, once the guest
// sent its boot heartbeat) or "error <json>\n" ({"code","kind","message"}), then the pipe is
// closed. The launcher's wait_for_daemon() reads it. Also the error bodies the daemon sends:
// a failed start, NO_HEARTBEAT and ENDED_BEFORE_HEARTBEAT.
//
// Usage (the daemon):
//     vmm::StartReport report(ready_fd);
//     report.ok(describe());                                   // or:
//     report.error(vmm::no_heartbeat_error(id, timeout_s, debug_mode));
//     report.pending();                                        // false once either was sent
#pragma once

#include "base/error.h"
#include "vmm/enclave/control_protocol.h"
#include "vmm/vstate/exit_latch.h"

#include <exception>
#include <string>

namespace vmm {

class StartReport {
public:
    // Takes the pipe's write end (-1: nothing left to report).
    explicit StartReport(int ready_fd = -1)
        : m_fd(ready_fd)
    {
    }
    StartReport(StartReport&& other) noexcept;
    StartReport& operator=(StartReport&& other) noexcept;
    StartReport(const StartReport&) = delete;
    StartReport& operator=(const StartReport&) = delete;
    ~StartReport();

    // Not reported yet.
    bool pending() const { return m_fd >= 0; }
    // "ok <description>\n", then closes the pipe; nothing if already reported.
    void ok(const Json& description) { send("ok", description); }
    // "error <body>\n", then closes the pipe; nothing if already reported.
    void error(const Json& body) { send("error", body); }

private:
    void send(const std::string& kind, const Json& body);
    int m_fd;
};

// A start that failed before the guest ran: the error's code, exit status and message.
Json start_error(const base::Error& e);
// Any other exception: code INTERNAL, kind 70.
Json internal_error(const std::exception& e);
// The guest sent no heartbeat within `timeout_s` and the daemon stopped it.
Json no_heartbeat_error(int id, double timeout_s, bool debug_mode);
// The guest ended on its own before its heartbeat.
Json ended_before_heartbeat_error(int id, const ExitInfo& exit, bool debug_mode);

} // namespace vmm
