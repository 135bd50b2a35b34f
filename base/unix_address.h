// base/unix_address.h — the one place that turns a path into a struct sockaddr_un (every Unix
// socket qt-vmm binds or connects to: control sockets, hybrid vsock, vhost-user).
//
// Usage:
//     sockaddr_un address;
//     if (!base::unix_address(path, address))
//         throw base::Error(..., "socket path is empty or longer than 107 bytes: " + path);
//     ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
#pragma once

#include <string>
#include <sys/un.h>

namespace base {

// Fills `address` (AF_UNIX, NUL-terminated path); false when `path` is empty or does not fit
// sun_path (more than 107 bytes), in which case `address` holds no path.
bool unix_address(const std::string& path, sockaddr_un& address);

} // namespace base
