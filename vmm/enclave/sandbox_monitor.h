// vmm/enclave/sandbox_monitor.h — privilege separation for the enclave daemon, as OpenSSH does
// it: the process `enclave start` forks splits in two. The parent stays root as a tiny
// "monitor" that only answers the daemon's few requests over a socketpair; the child is the
// daemon, which drops root after setup (sandbox_privileges.h) and asks the monitor for the
// things an unprivileged process in an empty root cannot do:
//   connect_parent(P)    connect to the parent program's listener <run>/<id>.vsock_P (the
//                        monitor builds the path from the port, checks the listener is a socket
//                        owned by root or a qt-vmm member, and passes the connected fd back)
//   socket_identity()    stat of <run>/<id>.sock, for the watchdog that stops an orphan
//   save_console(text)   <run>/<id>.console (0600), write_record(json) <run>/<id>.json (0644)
//   remove_sockets()     unlink <id>.sock and <id>.vsock
// When the daemon dies without having removed its sockets, the monitor removes them and writes
// the `daemon-killed` record, naming the signal ("killed by seccomp (SIGSYS)" for a filter
// violation). Before that, once the daemon is gone (and with it every mapping of guest RAM), it
// runs `after_daemon`: the launcher's scrub of the enclave's pre-zeroed pool chunks
// (vmm/host/zeroed_pool.h), off every launch path. The monitor then exits with the daemon's status.
//
// Usage (in the launcher's daemon process, root, single-threaded):
//     auto monitor = vmm::fork_monitor(dir, id, log_path, [&] { close what the monitor must not hold; });
//     // only the daemon (child) returns here
//     monitor->write_record(json);
#pragma once

#include "base/file.h"
#include "vmm/enclave/run_dir.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <sys/stat.h>

namespace vmm {

// The daemon's end of the socketpair. Thread-safe (the vsock thread connects, the main thread
// does the rest). Every call is synchronous; a monitor that is gone makes them fail quietly
// (false / invalid fd), never throw.
class MonitorClient {
public:
    explicit MonitorClient(base::UniqueFd channel);

    base::UniqueFd connect_parent(std::uint32_t port);
    // dev and inode of the control socket, or nullopt if it is gone.
    std::optional<std::pair<dev_t, ino_t>> socket_identity();
    bool save_console(const std::string& text);
    bool write_record(const std::string& json_text);
    bool remove_sockets();

private:
    int call(std::uint32_t op, const std::string& payload, std::string* reply, base::UniqueFd* fd);

    std::mutex m_lock;
    base::UniqueFd m_channel;
};

// Forks the monitor. Returns in the child (the daemon) with its client; the parent runs
// `in_monitor` (close the run-dir lock, the ready pipe and anything else the daemon owns), then
// serves until the daemon exits and _exit()s with the daemon's status (never returns).
// `log_path` (the daemon's stderr) is removed when the daemon exits normally, kept otherwise.
// `after_daemon` runs in the monitor once the daemon has exited (under the monitor's filter).
std::shared_ptr<MonitorClient> fork_monitor(const RunDir& dir, int id, const std::string& log_path, const std::function<void()>& in_monitor,
    std::function<void()> after_daemon = {});

// The monitor's judgement of a parent listener (exposed for tests): a Unix socket (not a
// symlink) owned by root or by a member of group qt-vmm; otherwise why not.
std::optional<std::string> refuse_parent_listener(const struct stat& st);

} // namespace vmm
