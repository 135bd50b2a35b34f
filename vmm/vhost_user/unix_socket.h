// vmm/vhost_user/unix_socket.h — the Unix socket a vhost-user frontend (QEMU's
// `-chardev socket,path=...`) connects to: listen on a path, accept one connection.
//
// listen_unix() replaces a stale socket file (nobody accepting on it) but refuses a path where
// a live server listens or that is not a socket, so two backends never steal each other's path.
// It finds out by connecting and closing at once: a server should treat a connection that
// closes before its first message as no frontend and accept again (the command does).
// accept_unix() waits for one connection, or until `cancel_fd` becomes readable (a signalfd,
// an eventfd), or the timeout; the accepted socket is non-blocking and close-on-exec.
//
// Usage:
//     base::UniqueFd listener = vmm::vhost_user::listen_unix("/run/qt-vmm/1.vhost");
//     base::UniqueFd conn = vmm::vhost_user::accept_unix(listener.get(), -1, stop_fd);
//     if (conn.valid()) backend = VhostUserVsockBackend::create(std::move(conn), config);
#pragma once

#include "base/file.h"

#include <string>

namespace vmm::vhost_user {

// Throws base::Error (VHOST_USER_SOCKET, VHOST_USER_SOCKET_IN_USE) on failure.
base::UniqueFd listen_unix(const std::string& path, int backlog = 1);
// An invalid fd when cancelled or timed out (timeout_ms < 0: no timeout); throws on errors.
base::UniqueFd accept_unix(int listener, int timeout_ms, int cancel_fd = -1);

} // namespace vmm::vhost_user
