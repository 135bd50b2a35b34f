// vmm/enclave/run_dir.h — the run directory where every enclave daemon publishes itself.
//
//   /run/qt-vmm/ (QT_VMM_RUN_DIR overrides; created root:qt-vmm 1770, see access_group.h; as root
//                 it must be a real directory owned by root and not writable by others,
//                 group-writable only if sticky, or open() refuses it: RUN_DIR_UNSAFE, see
//                 trusted_dir.h)
//     .lock          flock()ed while a start picks an EnclaveID, CID, CPUs and memory, so two
//                    concurrent starts can never take the same ones
//     <id>.sock      the control socket of the daemon that owns enclave <id> (root:qt-vmm 0660;
//                    owner-only rules are decided per request from the peer's credentials)
//     <id>.json      the record of an enclave that ended (why, app exit status); removed by stop
//     <id>.vsock     the enclave's hybrid-vsock socket (Firecracker's protocol: "CONNECT <port>\n");
//                    root:qt-vmm 0660 like the control socket: as on Nitro (group `ne`), every
//                    member may reach every enclave's vsock ports. Connections the enclave opens to the parent's
//                    port P go to <id>.vsock_P, which the parent program creates.
//     <id>.console   debug mode only: the console ring as it was when the enclave ended (0600)
//     <id>.log       the daemon's stderr while it runs (created afresh, never through a symlink)
//     <id>.reservation  what a start took for enclave <id> (EnclaveCID, CPUIDs, NumberOfCPUs,
//                    MemoryMiB, ProcessID): written atomically under .lock before the daemon
//                    runs, removed when the daemon ends; 0644, written only by the launcher and
//                    the daemon. Counts only while <id>.sock exists.
//
// Names inside are opened relative to the directory fd that was checked (fd()), with
// O_NOFOLLOW; new files are created (O_EXCL) and renamed into place, never truncated.
//
// Discovery is a directory scan plus a "describe" request to every socket. Only a socket nobody
// listens on (ECONNREFUSED, ENOENT) belongs to a dead daemon: it is removed with its vsock socket
// and reservation, and replaced by a record. A daemon that is alive but does not answer (stopped,
// stuck, its backlog full, busy) is listed from its reservation with State NOT-RESPONDING, so
// placement still counts its CID, CPUs and slot (placement fails closed).
//
// Usage:
//     vmm::RunDir dir = vmm::RunDir::open();
//     vmm::RunDir::Lock lock = dir.lock();                  // exclusive, blocks
//     std::vector<qtvmm::Json> all = dir.list_enclaves();   // running (State RUNNING) + ended
#pragma once

#include "base/error.h"
#include "base/file.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vmm {

using Json = nlohmann::ordered_json;

class RunDir {
public:
    static RunDir open();
    const std::string& path() const { return m_path; }
    // The directory open() checked; names inside are opened relative to it.
    int fd() const { return m_fd->get(); }

    class Lock {
    public:
        explicit Lock(base::UniqueFd fd)
            : m_fd(std::move(fd))
        {
        }
        int fd() const { return m_fd.get(); }
        void release() { m_fd.reset(); }

    private:
        base::UniqueFd m_fd;
    };
    Lock lock() const;

    std::string socket_path(int id) const;
    std::string record_path(int id) const;
    std::string console_path(int id) const;
    std::string vsock_path(int id) const;
    std::string reservation_path(int id) const;
    // Removes the record and saved console of an ended enclave; false if there was none.
    bool remove_record(int id) const;
    // `enclave stop`: asks enclave id's daemon to stop it (it answers once the enclave is gone),
    // or clears the record of one that ended — also of one that was ending on its own when asked
    // (its daemon closes the connection unanswered, then writes the record). False: no such
    // enclave. Throws what the daemon answered if it refused (e.g. not the owner).
    bool stop_enclave(int id) const;

    // Every enclave known: live daemons answer "describe"; ended ones come from records.
    // Dead sockets are cleaned up on the way. Sorted by EnclaveID.
    std::vector<Json> list_enclaves() const;
    // The smallest EnclaveID not used by a socket or a record.
    int next_free_id() const;
    // Writes <id>.json atomically.
    void write_record(int id, const Json& record) const;
    // A new, empty <id>.log for the daemon's stderr (whatever had that name is replaced).
    base::UniqueFd create_log(int id) const;
    // The saved console of an ended enclave, if there is one (a regular file; never a symlink).
    std::optional<std::string> read_saved_console(int id) const;
    // Writes <id>.reservation atomically (0644); removes it.
    void write_reservation(int id, const Json& reservation) const;
    void remove_reservation(int id) const;

private:
    // The entry of a live daemon that did not answer `describe`: its reservation, State NOT-RESPONDING.
    Json not_responding(int id, const base::Error& why) const;
    // A daemon that closed the connection unanswered is ending: true once its record is there
    // (waits up to 2 s), false if it never came.
    bool wait_for_record(int id) const;

    std::string m_path;
    std::shared_ptr<base::UniqueFd> m_fd;
};

} // namespace vmm
