// vmm/vsock/hybrid_client.h — the parent's side of Firecracker's hybrid-vsock handshake, written
// once for every client of an enclave's VsockSocket (`qt-vmm vsock connect|forward`, the test
// peer): connect to the Unix socket and send "CONNECT <port>\n". The "OK <host-port>\n" answer
// (or a close, when nothing listens in the enclave) is read by the caller, which knows whether
// it waits for it blocking or from a poll loop.
//
// Usage:
//     base::UniqueFd fd = vmm::vsock::hybrid_connect("/run/qt-vmm/0.vsock", 5000, vmm::vsock::SocketMode::NonBlocking);
//     ... read "OK 1073741824\n", then the byte stream ...
#pragma once

#include "base/file.h"

#include <cstdint>
#include <string>

namespace vmm::vsock {

enum class SocketMode { Blocking, NonBlocking };

// Throws base::Error: VSOCK_SOCKET_GONE (nothing accepts on the socket: the enclave is not
// running), VSOCK_BUSY (its backlog is full; non-blocking only), VSOCK_SOCKET (anything else).
base::UniqueFd hybrid_connect(const std::string& vsock_socket, std::uint32_t port, SocketMode mode);

} // namespace vmm::vsock
