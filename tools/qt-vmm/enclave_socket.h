// tools/qt-vmm/enclave_socket.h — the hybrid-vsock socket (VsockSocket) of a running enclave,
// asked of its daemon, for the `vsock` commands.
//
//     std::string path = qtvmm::enclave_vsock_socket(0);   // "/run/qt-vmm/0.vsock"
#pragma once

#include <string>

namespace qtvmm {

// Throws base::Error ENCLAVE_NOT_FOUND (no such running enclave) or NO_VSOCK.
std::string enclave_vsock_socket(int id);

} // namespace qtvmm
