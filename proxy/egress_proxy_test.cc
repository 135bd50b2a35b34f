#include "base/error.h"
#include "proxy/egress_proxy.h"
#include "proxy/proxy_test_sockets.h"

#include <arpa/inet.h>
#include <atomic>
#include <cstdlib>
#include <doctest/doctest.h>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace {

int unix_connect(const std::string& path)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a {};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    return fd;
}

} // namespace

TEST_CASE("egress proxy: an enclave connection reaches the allowed remote; the listener is exclusive and removed")
{
    char pattern[] = "/tmp/egress-proxy-XXXXXX";
    std::string dir = ::mkdtemp(pattern);
    std::string path = dir + "/0.vsock_8000";
    std::uint16_t echo_port = 0, closed_port = 0;
    int echo_listener = proxy_test::loopback_listener(echo_port);
    ::close(proxy_test::loopback_listener(closed_port));
    std::thread echo([echo_listener] {
        int c = ::accept(echo_listener, nullptr, nullptr);
        char buf[4096];
        for (ssize_t n; (n = ::recv(c, buf, sizeof buf, 0)) > 0;)
            ::send(c, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
        ::shutdown(c, SHUT_WR);
        ::close(c);
    });
    std::string yaml = "allowlist:\n- {address: 127.0.0.1, port: " + std::to_string(echo_port) + "}\n- {address: 127.0.0.1, port: "
        + std::to_string(closed_port) + "}\n";
    proxy::DnsCache dns({});
    proxy::EgressPolicy policy(proxy::Allowlist::parse(yaml, "list.yaml"), "127.0.0.1", echo_port, dns, "list.yaml");
    proxy::EgressPolicy nobody_home(proxy::Allowlist::parse(yaml, "list.yaml"), "127.0.0.1", closed_port, dns, "list.yaml");
    std::mutex mutex;
    std::string log;
    auto logger = [&](const std::string& line) {
        std::lock_guard<std::mutex> lock(mutex);
        log += line + "\n";
    };
    {
        proxy::EgressProxy egress(policy, path, { .max_connections = 4, .idle_timeout_ms = 0 }, logger);
        proxy::EgressProxy refused(nobody_home, dir + "/0.vsock_8001", {}, logger);
        CHECK_THROWS_WITH_AS(proxy::EgressProxy(policy, path, {}, logger), doctest::Contains("already has a listener"), base::Error);
        std::atomic<bool> stop { false };
        std::thread loop([&] {
            while (!stop) {
                egress.run_once(50);
                refused.run_once(0);
            }
        });
        int client = unix_connect(path);
        CHECK(::send(client, "hello, remote", 13, MSG_NOSIGNAL) == 13);
        ::shutdown(client, SHUT_WR);
        CHECK(proxy_test::read_some(client, 14) == "hello, remote<EOF>");
        ::close(client);
        int other = unix_connect(dir + "/0.vsock_8001");
        CHECK(proxy_test::read_some(other, 1) == "<EOF>");
        ::close(other);
        stop = true;
        loop.join();
        CHECK(egress.summary().find("1 connections accepted") == 0);
        std::lock_guard<std::mutex> lock(mutex);
        CHECK(log.find("port 8001: connection #1: connect to 127.0.0.1:" + std::to_string(closed_port) + " failed: ECONNREFUSED") != std::string::npos);
    }
    echo.join();
    ::close(echo_listener);
    CHECK(::access(path.c_str(), F_OK) != 0);
    ::rmdir(dir.c_str());
}
