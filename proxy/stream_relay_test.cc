#include "proxy/proxy_test_sockets.h"
#include "proxy/stream_relay.h"

#include <arpa/inet.h>
#include <atomic>
#include <doctest/doctest.h>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace {

int tcp_connect(std::uint16_t port, bool nonblocking = false)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    sockaddr_in a {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    REQUIRE((rc == 0 || errno == EINPROGRESS));
    return fd;
}

// A relay on its own thread: one listener on 127.0.0.1 that dials `target_port`.
struct RelayThread {
    std::uint16_t port { 0 };
    std::atomic<bool> stop { false };
    std::mutex mutex;
    std::vector<std::string> lines;
    relay::StreamRelay relay;
    std::thread thread;

    RelayThread(relay::Limits limits, relay::Dialer dialer)
        : relay(limits, [this](const std::string& line) {
            std::lock_guard<std::mutex> lock(mutex);
            lines.push_back(line);
        })
    {
        REQUIRE(relay.add_listener(proxy_test::loopback_listener(port), "test", std::move(dialer)) == 0);
        thread = std::thread([this] {
            while (!stop)
                relay.run_once(50);
        });
    }
    ~RelayThread()
    {
        stop = true;
        thread.join();
    }
    std::string log()
    {
        std::lock_guard<std::mutex> lock(mutex);
        std::string all;
        for (const auto& l : lines)
            all += l + "\n";
        return all;
    }
};

relay::Dialer dial_port(std::uint16_t port)
{
    return [port](unsigned attempt) {
        if (attempt > 0)
            return relay::Dialed { -1, "", "" };
        return relay::Dialed { tcp_connect(port, true), "", "127.0.0.1:" + std::to_string(port) };
    };
}

} // namespace

TEST_CASE("stream relay: bytes both ways, half-closes passed on, 1 MiB through 64 KiB buffers")
{
    std::uint16_t server_port = 0;
    int server = proxy_test::loopback_listener(server_port);
    RelayThread r({ .max_connections = 8, .idle_timeout_ms = 0 }, dial_port(server_port));
    int client = tcp_connect(r.port);
    int peer = ::accept(server, nullptr, nullptr);
    REQUIRE(peer >= 0);
    std::string big(1 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); i++)
        big[i] = static_cast<char>(i * 7 + i / 251);
    std::thread writer([&] {
        std::size_t off = 0;
        while (off < big.size())
            off += static_cast<std::size_t>(std::max<ssize_t>(0, ::send(client, big.data() + off, big.size() - off, MSG_NOSIGNAL)));
        ::shutdown(client, SHUT_WR);
    });
    CHECK(proxy_test::read_some(peer, big.size() + 1) == big + "<EOF>");
    writer.join();
    CHECK(::send(peer, "pong", 4, MSG_NOSIGNAL) == 4);
    ::shutdown(peer, SHUT_WR);
    CHECK(proxy_test::read_some(client, 5) == "pong<EOF>");
    ::close(client);
    ::close(peer);
    ::close(server);
    for (int i = 0; i < 200 && r.relay.stats().completed == 0; i++)
        ::usleep(10000);
    CHECK(r.relay.stats().completed == 1);
    CHECK(r.relay.stats().bytes_out == big.size());
    CHECK(r.relay.stats().bytes_in == 4);
}

TEST_CASE("stream relay: over the limit, refused by the dialer, connect failure, idle: closed and logged")
{
    std::uint16_t server_port = 0;
    int server = proxy_test::loopback_listener(server_port);
    SUBCASE("connection limit")
    {
        RelayThread r({ .max_connections = 1, .idle_timeout_ms = 0 }, dial_port(server_port));
        int first = tcp_connect(r.port);
        int peer = ::accept(server, nullptr, nullptr);
        int second = tcp_connect(r.port);
        CHECK(proxy_test::read_some(second, 1) == "<EOF>");
        CHECK(r.log().find("test: connection #2 refused: 1 connections are open, the limit (raise it with --max-connections)") != std::string::npos);
        CHECK(::send(first, "x", 1, 0) == 1);
        CHECK(proxy_test::read_some(peer, 1) == "x");
        ::close(first);
        ::close(peer);
    }
    SUBCASE("the dialer refuses")
    {
        RelayThread r({}, [](unsigned) { return relay::Dialed { -1, "203.0.113.9:1 is not on the allowlist", "" }; });
        int client = tcp_connect(r.port);
        CHECK(proxy_test::read_some(client, 1) == "<EOF>");
        CHECK(r.log() == "test: connection #1: refused: 203.0.113.9:1 is not on the allowlist\n");
        CHECK(r.relay.stats().refused == 1);
        ::close(client);
    }
    SUBCASE("nothing listens at the destination")
    {
        std::uint16_t closed_port = 0;
        ::close(proxy_test::loopback_listener(closed_port));
        RelayThread r({}, dial_port(closed_port));
        int client = tcp_connect(r.port);
        CHECK(proxy_test::read_some(client, 1) == "<EOF>");
        std::string log = r.log();
        CHECK(log.find("connect to 127.0.0.1:" + std::to_string(closed_port) + " failed: ECONNREFUSED") != std::string::npos);
        CHECK(log.find("no more addresses to try") != std::string::npos);
        ::close(client);
    }
    SUBCASE("idle timeout")
    {
        RelayThread r({ .max_connections = 4, .idle_timeout_ms = 1000 }, dial_port(server_port));
        int client = tcp_connect(r.port);
        int peer = ::accept(server, nullptr, nullptr);
        CHECK(proxy_test::read_some(client, 1) == "<EOF>");
        CHECK(proxy_test::read_some(peer, 1) == "<EOF>");
        CHECK(r.log().find("(the idle timeout)") != std::string::npos);
        CHECK(r.relay.stats().idle_closed == 1);
        ::close(client);
        ::close(peer);
    }
    ::close(server);
}
