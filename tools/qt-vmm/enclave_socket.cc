// tools/qt-vmm/enclave_socket.cc — see the header.
#include "tools/qt-vmm/enclave_socket.h"

#include "base/error.h"
#include "vmm/enclave/control_protocol.h"
#include "vmm/enclave/run_dir.h"

namespace qtvmm {

// The daemon answers, so a stale or foreign path is never used.
std::string enclave_vsock_socket(int id)
{
    vmm::RunDir dir = vmm::RunDir::open();
    vmm::Json reply;
    try {
        reply = vmm::control_request(dir.socket_path(id), vmm::Json { { "op", "describe" } });
    } catch (const base::Error& e) {
        if (e.code() != "DAEMON_GONE")
            throw;
        throw base::Error(base::ErrorKind::NotFound, "ENCLAVE_NOT_FOUND",
            "no running enclave with id " + std::to_string(id) + "; list them with qt-vmm enclave query");
    }
    std::string path = reply.at("enclave").value("VsockSocket", std::string());
    if (path.empty())
        throw base::Error(base::ErrorKind::NotFound, "NO_VSOCK", "enclave " + std::to_string(id) + " has no vsock socket");
    return path;
}

} // namespace qtvmm
