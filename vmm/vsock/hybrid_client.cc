#include "vmm/vsock/hybrid_client.h"

#include "base/error.h"
#include "base/unix_address.h"

#include <cerrno>
#include <sys/socket.h>

namespace vmm::vsock {

base::UniqueFd hybrid_connect(const std::string& vsock_socket, std::uint32_t port, SocketMode mode)
{
    sockaddr_un address;
    if (!base::unix_address(vsock_socket, address))
        throw base::Error(base::ErrorKind::InvalidInput, "VSOCK_SOCKET", "vsock socket path too long: " + vsock_socket);
    int flags = SOCK_STREAM | SOCK_CLOEXEC | (mode == SocketMode::NonBlocking ? SOCK_NONBLOCK : 0);
    base::UniqueFd fd(::socket(AF_UNIX, flags, 0));
    if (!fd.valid())
        base::throw_errno("VSOCK_SOCKET", "cannot create", "a Unix socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        int error = errno;
        if (error == ENOENT || error == ECONNREFUSED)
            throw base::Error(base::ErrorKind::NotFound, "VSOCK_SOCKET_GONE",
                vsock_socket + " does not accept connections: the enclave is not running; list enclaves with qt-vmm enclave query");
        if (error == EAGAIN)
            throw base::Error(base::ErrorKind::Resource, "VSOCK_BUSY",
                vsock_socket + ": too many connections are waiting to be accepted; retry in a moment");
        errno = error;
        base::throw_errno("VSOCK_SOCKET", "cannot connect to", vsock_socket);
    }
    std::string line = "CONNECT " + std::to_string(port) + "\n";
    if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
        base::throw_errno("VSOCK_SOCKET", "cannot send the CONNECT line to", vsock_socket);
    return fd;
}

} // namespace vmm::vsock
