// vmm/enclave/enclave_lifecycle.h — the enclave daemon's clocks and the record an enclave leaves
// behind: the one-shot timer that waits for the guest's boot heartbeat, the watchdog that ends an
// enclave whose control socket was removed (nobody could stop it any more: an orphan holding
// hugepages and CPUs), and the TERMINATED record (<run>/<id>.json) built from its description.
//
// Usage (the daemon):
//     base::UniqueFd timer = vmm::arm_heartbeat_timer(30);    // readable once 30 s have passed
//     vmm::SocketWatchdog watchdog(socket_path);              // remembers the socket it bound
//     epoll: watchdog.fd(); on it: if (auto why = watchdog.check()) vm->request_stop(Stopped, *why);
//     Json record = vmm::exit_record(describe(), exit, stopped_for_no_heartbeat, vmm::utc_now());
#pragma once

#include "base/file.h"
#include "vmm/enclave/control_protocol.h"
#include "vmm/vstate/exit_latch.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>

namespace vmm {

// "2026-01-31T12:00:00Z", now.
std::string utc_now();
// CLOCK_MONOTONIC in nanoseconds, for the launch timestamps.
std::uint64_t monotonic_ns();
// "2.5 s": how the daemon's messages write a timeout.
std::string seconds_text(double seconds);

// A timerfd that becomes readable once after `seconds`; throws base::Error HEARTBEAT_TIMER.
base::UniqueFd arm_heartbeat_timer(double seconds);

// Every 2 s: is the control socket at `path` still the one bound there when this was made?
class SocketWatchdog {
public:
    // dev and inode of the socket at `path`, nullopt if it is gone; the default stat()s it, a
    // daemon that dropped root asks its monitor (sandbox_monitor.h).
    using Identify = std::function<std::optional<std::pair<dev_t, ino_t>>(const std::string& path)>;
    explicit SocketWatchdog(std::string path, Identify identify = {});
    int fd() const { return m_timer.get(); }
    // On the timer's tick: nullopt while the socket is there; otherwise why the enclave must be
    // stopped, and the watchdog stops watching (its timer is closed, which leaves the epoll set).
    std::optional<std::string> check();

private:
    std::string m_path;
    Identify m_identify;
    dev_t m_dev { 0 };
    ino_t m_ino { 0 };
    base::UniqueFd m_timer;
};

// The record of an ended enclave: its description with State TERMINATED, Reason (the exit kind,
// or "no-heartbeat" when the daemon stopped it for that), Detail and EndTime.
Json exit_record(Json description, const ExitInfo& exit, bool stopped_for_no_heartbeat, const std::string& end_time);

} // namespace vmm
