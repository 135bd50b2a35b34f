// vmm/enclave/run_dir.h — the run directory where every enclave daemon publishes itself.
//
//   /run/qt-vmm/ (QT_VMM_RUN_DIR overrides; created root:qt-vmm 1770, see access_group.h)
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
//
// Discovery is a directory scan plus a "describe" request to every socket; a socket nobody
// answers on belongs to a daemon that was killed: it is removed and replaced by a record.
//
// Usage:
//     vmm::RunDir dir = vmm::RunDir::open();
//     vmm::RunDir::Lock lock = dir.lock();                  // exclusive, blocks
//     std::vector<qtvmm::Json> all = dir.list_enclaves();   // running (State RUNNING) + ended
#pragma once

#include "base/file.h"

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
    // Removes the record and saved console of an ended enclave; false if there was none.
    bool remove_record(int id) const;

    // Every enclave known: live daemons answer "describe"; ended ones come from records.
    // Dead sockets are cleaned up on the way. Sorted by EnclaveID.
    std::vector<Json> list_enclaves() const;
    // The smallest EnclaveID not used by a socket or a record.
    int next_free_id() const;
    // Writes <id>.json atomically.
    void write_record(int id, const Json& record) const;

private:
    std::string m_path;
};

} // namespace vmm
