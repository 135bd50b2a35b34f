// vmm/testing/vsock_test_sockets.h — the parent side of the vsock unit tests (VsockDevice and the
// vhost-user backend): a private directory for the hybrid-vsock sockets and small blocking
// Unix-socket helpers that fail the current doctest case on error. Tests only.
//
// Usage (inside a doctest TEST_CASE):
//     std::string dir = vsock_test::temp_dir("vsock-test");
//     int listener = vsock_test::unix_listen(dir + "/1.vsock_5000");
//     std::string got = vsock_test::read_now(conn);   // "", bytes, "<EOF>" or "<ERR>"
#pragma once

#include "base/unix_address.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <doctest/doctest.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace vsock_test {

inline std::string temp_dir(const std::string& prefix)
{
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    char* dir = ::mkdtemp(pattern.data());
    REQUIRE(dir != nullptr);
    return dir;
}

inline sockaddr_un unix_address(const std::string& path)
{
    sockaddr_un a;
    REQUIRE(base::unix_address(path, a));
    return a;
}

inline int unix_listen(const std::string& path, int backlog = 4096)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un a = unix_address(path);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, backlog) == 0);
    return fd;
}

inline int unix_connect(const std::string& path)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a = unix_address(path);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    return fd;
}

inline void send_text(int fd, const std::string& s)
{
    REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
}

// What is readable right now: bytes, "" if nothing, or "<EOF>" at end of stream.
inline std::string read_now(int fd)
{
    char buffer[65536];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n == 0)
        return "<EOF>";
    if (n < 0)
        return errno == EAGAIN ? "" : "<ERR>";
    return std::string(buffer, static_cast<std::size_t>(n));
}

} // namespace vsock_test
