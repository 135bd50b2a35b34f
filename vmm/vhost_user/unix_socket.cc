#include "vmm/vhost_user/unix_socket.h"

#include "base/error.h"
#include "base/unix_address.h"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace vmm::vhost_user {

namespace {

sockaddr_un unix_address(const std::string& path)
{
    sockaddr_un a;
    if (!base::unix_address(path, a))
        throw base::Error(base::ErrorKind::InvalidInput, "VHOST_USER_SOCKET",
            "vhost-user socket path '" + path + "' is empty or longer than 107 bytes; use a shorter path");
    return a;
}

// True if something accepts connections on `path` right now.
bool someone_listens(const sockaddr_un& a)
{
    base::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    return probe.valid() && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
}

} // namespace

base::UniqueFd listen_unix(const std::string& path, int backlog)
{
    sockaddr_un a = unix_address(path);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw base::Error(base::ErrorKind::InvalidInput, "VHOST_USER_SOCKET",
                "'" + path + "' exists and is not a socket; remove it or choose another --socket path");
        if (someone_listens(a))
            throw base::Error(base::ErrorKind::Resource, "VHOST_USER_SOCKET_IN_USE",
                "another process serves the vhost-user socket '" + path + "'; stop it or choose another --socket path");
        ::unlink(path.c_str()); // stale: its server is gone
    }
    base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid())
        base::throw_errno("VHOST_USER_SOCKET", "cannot create the vhost-user socket", path);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
        base::throw_errno("VHOST_USER_SOCKET", "cannot bind the vhost-user socket", path);
    if (::listen(fd.get(), backlog) != 0)
        base::throw_errno("VHOST_USER_SOCKET", "cannot listen on the vhost-user socket", path);
    return fd;
}

base::UniqueFd accept_unix(int listener, int timeout_ms, int cancel_fd)
{
    for (;;) {
        pollfd p[2] = { { listener, POLLIN, 0 }, { cancel_fd, POLLIN, 0 } };
        int n = ::poll(p, cancel_fd >= 0 ? 2 : 1, timeout_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            base::throw_errno("VHOST_USER_SOCKET", "cannot wait for a vhost-user frontend on", "the socket");
        if (n == 0 || (cancel_fd >= 0 && p[1].revents))
            return {};
        base::UniqueFd conn(::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (conn.valid())
            return conn;
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
            continue;
        base::throw_errno("VHOST_USER_SOCKET", "cannot accept a vhost-user frontend on", "the socket");
    }
}

} // namespace vmm::vhost_user
