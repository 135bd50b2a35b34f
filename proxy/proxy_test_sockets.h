// proxy/proxy_test_sockets.h — loopback helpers shared by the proxy/ unit tests (tests only):
// a TCP listener on 127.0.0.1 with a free port, and a bounded read.
//
//     std::uint16_t port = 0;
//     int listener = proxy_test::loopback_listener(port);
//     std::string got = proxy_test::read_some(fd, 5);   // bytes, then "<EOF>", "<ERR>" or "<TIMEOUT>"
#pragma once

#include <arpa/inet.h>
#include <cstdint>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>

namespace proxy_test {

inline int loopback_listener(std::uint16_t& port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 64) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return fd;
}

// Reads until EOF or `want` bytes, waiting at most 10 s for each chunk; a marker says how it ended
// short of `want`: "<EOF>", "<ERR>" (a reset) or "<TIMEOUT>".
inline std::string read_some(int fd, std::size_t want)
{
    std::string out;
    char buf[65536];
    while (out.size() < want) {
        pollfd p { fd, POLLIN, 0 };
        if (::poll(&p, 1, 10000) != 1)
            return out + "<TIMEOUT>";
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0)
            return out + "<EOF>";
        if (n < 0)
            return out + "<ERR>";
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

} // namespace proxy_test
