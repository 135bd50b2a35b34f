// ControlServer over a real Unix socket in a temp directory: describe answers the handler's
// JSON, stop and console are for the owner or root, bad requests (every wrong type) and overlong
// lines are refused with a reply and the server lives on, a throwing handler is an error reply,
// the 65th client is turned away, other users cannot take the owner's slots, silent clients are
// hung up on at the deadline, EMFILE does not spin, and the console has one viewer at a time.
#include "vmm/enclave/control_server.h"

#include "base/error.h"

#include "vmm/testing/vsock_test_sockets.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <stdexcept>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace vmm;

namespace {

struct FakeHandler final : ControlHandler {
    Json describe() const override { return Json { { "EnclaveID", 7 }, { "State", "RUNNING" } }; }
    void stop(uid_t uid) override { stops.push_back(uid); }
    std::vector<uid_t> stops;
};

constexpr uid_t kOwner = 2000;

// A server for enclave 7 owned by kOwner; `client_uid` fakes every client's SO_PEERCRED uid
// (the tests run as root, who may do anything); `debug` gives it a console ring.
struct Server {
    std::string dir = vsock_test::temp_dir("control-server-test");
    std::string path = dir + "/7.sock";
    FakeHandler handler;
    std::unique_ptr<ConsoleBuffer> console;
    std::unique_ptr<ControlServer> server;
    base::UniqueFd epoll { ::epoll_create1(EPOLL_CLOEXEC) };

    std::optional<uid_t> client_uid; // the uid every new client has (nullopt: the real one)

    explicit Server(std::optional<uid_t> uid = std::nullopt, bool debug = false, std::chrono::milliseconds deadline = std::chrono::milliseconds(2000))
        : client_uid(uid)
    {
        if (debug)
            console = std::make_unique<ConsoleBuffer>(1024);
        ControlServerConfig config;
        config.enclave_id = 7;
        config.owner_uid = kOwner;
        config.console = console.get();
        config.request_deadline = deadline;
        config.peer_uid = [this](int fd) { return client_uid ? client_uid : socket_peer_uid(fd); };
        server = std::make_unique<ControlServer>(path, std::move(config), handler);
        server->watch(epoll.get());
    }
    ~Server()
    {
        server.reset();
        std::filesystem::remove_all(dir);
    }
    // Serves until nothing happened for `quiet_ms`, or `max_events` were handled (a spinning
    // server); returns how many were.
    int serve(int quiet_ms = 50, int max_events = 100000)
    {
        int handled = 0;
        while (handled < max_events) {
            epoll_event events[16];
            int n = ::epoll_wait(epoll.get(), events, 16, quiet_ms);
            if (n <= 0)
                return handled;
            for (int i = 0; i < n; ++i)
                CHECK(server->handle(events[i].data.fd, events[i].events));
            handled += n;
        }
        return handled;
    }
    base::UniqueFd connect() { return base::UniqueFd(vsock_test::unix_connect(path)); }
    // Sends a request line and serves it; returns what the client got, "<EOF>" if it was hung up on.
    std::string ask(int fd, const std::string& line)
    {
        vsock_test::send_text(fd, line);
        serve();
        return received(fd);
    }
    static std::string received(int fd)
    {
        std::string all;
        for (;;) {
            std::string got = vsock_test::read_now(fd);
            if (got.empty())
                return all;
            all += got;
            if (got == "<EOF>" || got == "<ERR>")
                return all;
        }
    }
    void print(const std::string& text)
    {
        console->append(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    }
};

std::string error_line(const std::string& code, int kind, const std::string& message)
{
    return encode_line(error_reply(code, kind, message)) + "<EOF>";
}

} // namespace

TEST_CASE("describe answers the handler's JSON to anyone, then hangs up")
{
    Server s(1234);
    base::UniqueFd c = s.connect();
    CHECK(s.ask(c.get(), "{\"op\":\"describe\"}\n") == "{\"ok\":true,\"enclave\":{\"EnclaveID\":7,\"State\":\"RUNNING\"}}\n<EOF>");
    CHECK(s.server->client_count() == 0);
}

TEST_CASE("the peer's uid comes from SO_PEERCRED")
{
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    base::UniqueFd a(fds[0]), b(fds[1]);
    CHECK(socket_peer_uid(a.get()) == ::getuid());
    CHECK_FALSE(socket_peer_uid(-1).has_value());
}

TEST_CASE("stop: refused to others, passed on for the owner and root, answered once stopped")
{
    SUBCASE("a stranger is refused with NOT_OWNER")
    {
        Server s(1234);
        base::UniqueFd c = s.connect();
        CHECK(s.ask(c.get(), "{\"op\":\"stop\"}\n") == error_line("NOT_OWNER", 9, "only the enclave's owner or root may stop it"));
        CHECK(s.handler.stops.empty());
        CHECK_FALSE(s.server->stop_requested());
    }
    for (uid_t uid : { kOwner, uid_t(0) }) {
        CAPTURE(uid);
        Server s(uid);
        base::UniqueFd c = s.connect();
        CHECK(s.ask(c.get(), "{\"op\":\"stop\"}\n") == "");
        CHECK(s.handler.stops == std::vector<uid_t> { uid });
        REQUIRE(s.server->stop_requested());
        s.server->answer_stop();
        CHECK(Server::received(c.get()) == "{\"ok\":true}\n");
        s.server->close_clients();
        CHECK(Server::received(c.get()) == "<EOF>");
        CHECK_FALSE(s.server->stop_requested());
    }
    SUBCASE("a requester that hung up is not answered")
    {
        Server s(kOwner);
        base::UniqueFd c = s.connect();
        s.ask(c.get(), "{\"op\":\"stop\"}\n");
        c.reset();
        s.serve();
        CHECK_FALSE(s.server->stop_requested());
    }
}

TEST_CASE("every malformed request gets a BAD_REQUEST that says what is wrong; the server lives on")
{
    Server s(1234, true);
    const std::string example = "; send one JSON object on one line, e.g. {\"op\":\"describe\"}";
    struct Case {
        std::string line, message;
    };
    for (const Case& c : std::vector<Case> {
             { "{\"op\":1}\n", "\"op\" is a number, not a string; use describe, stop or console" },
             { "{\"op\":null}\n", "\"op\" is a null, not a string; use describe, stop or console" },
             { "{\"op\":[\"describe\"]}\n", "\"op\" is a array, not a string; use describe, stop or console" },
             { "{\"op\":{}}\n", "\"op\" is a object, not a string; use describe, stop or console" },
             { "{}\n", "the request has no \"op\"; use describe, stop or console" },
             { "{\"op\":\"reboot\"}\n", "unknown op; use describe, stop or console" },
             { "[1,2]\n", "the request is a JSON array, not an object" + example },
             { "\"describe\"\n", "the request is a JSON string, not an object" + example },
             { "7\n", "the request is a JSON number, not an object" + example },
             { "not json\n", "the request is not valid JSON (UTF-8)" + example },
             { "\n", "the request is not valid JSON (UTF-8)" + example },
             { "{\"op\":\"\xff\xfe\"}\n", "the request is not valid JSON (UTF-8)" + example },
         }) {
        CAPTURE(c.line);
        base::UniqueFd client = s.connect();
        CHECK(s.ask(client.get(), c.line) == error_line("BAD_REQUEST", 2, c.message));
    }
    // Wrong types for console's "follow" (checked for the owner, who may read the console).
    Server owner(kOwner, true);
    for (std::string line : { "{\"op\":\"console\",\"follow\":\"yes\"}\n", "{\"op\":\"console\",\"follow\":1}\n" }) {
        CAPTURE(line);
        base::UniqueFd client = owner.connect();
        CHECK(owner.ask(client.get(), line).starts_with("{\"ok\":false,\"code\":\"BAD_REQUEST\",\"kind\":2,\"message\":\"\\\"follow\\\" is a "));
    }
    CHECK(s.server->client_count() == 0);
    base::UniqueFd after = s.connect();
    CHECK(s.ask(after.get(), "{\"op\":\"describe\"}\n").starts_with("{\"ok\":true,"));
}

TEST_CASE("parse_request: only describe, stop and console, with a boolean follow")
{
    CHECK(parse_request("{\"op\":\"describe\"}").op == ControlOp::Describe);
    CHECK(parse_request("{\"op\":\"stop\",\"extra\":[1]}").op == ControlOp::Stop);
    CHECK(parse_request("{\"op\":\"console\"}").follow);
    CHECK_FALSE(parse_request("{\"op\":\"console\",\"follow\":false}").follow);
    CHECK_THROWS_AS(parse_request("{\"op\":\"console\",\"follow\":0}"), base::Error);
}

TEST_CASE("parse_reply: an error reply with fields of the wrong type is still one clear error")
{
    auto error_of = [](const std::string& line) -> std::string {
        try {
            parse_reply(line, "/run/7.sock");
        } catch (const base::Error& e) {
            return e.code() + " " + std::to_string(e.exit_status()) + " " + e.what();
        }
        return "no error";
    };
    CHECK(error_of("{\"ok\":false,\"code\":\"NOT_OWNER\",\"kind\":9,\"message\":\"m\"}") == "NOT_OWNER 9 m");
    CHECK(error_of("{\"ok\":false,\"code\":5,\"kind\":\"x\",\"message\":[]}") == "DAEMON_ERROR 70 the enclave daemon on /run/7.sock refused the request");
    CHECK(error_of("{\"ok\":\"yes\",\"kind\":100000}") == "DAEMON_ERROR 70 the enclave daemon on /run/7.sock refused the request");
    CHECK(error_of("[]") == "DAEMON_PROTOCOL 4 malformed reply from /run/7.sock");
    CHECK(parse_reply("{\"ok\":true,\"enclave\":{}}", "p").contains("enclave"));
}

TEST_CASE("a handler that throws is an error reply to that client, not the daemon's end")
{
    struct Throwing final : ControlHandler {
        Json describe() const override { throw std::runtime_error("broken"); }
        void stop(uid_t) override { throw base::Error(base::ErrorKind::Vm, "VM_GONE", "the VM is gone"); }
    } handler;
    std::string dir = vsock_test::temp_dir("control-server-throw");
    ControlServerConfig config;
    config.peer_uid = [](int) { return std::optional<uid_t>(0); };
    ControlServer server(dir + "/7.sock", std::move(config), handler);
    base::UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    server.watch(epoll.get());
    auto ask = [&](const std::string& line) {
        base::UniqueFd c(vsock_test::unix_connect(dir + "/7.sock"));
        vsock_test::send_text(c.get(), line);
        for (int round = 0; round < 3; ++round) {
            epoll_event events[8];
            int n = ::epoll_wait(epoll.get(), events, 8, 50);
            for (int i = 0; i < n; ++i)
                server.handle(events[i].data.fd, events[i].events);
        }
        return Server::received(c.get());
    };
    CHECK(ask("{\"op\":\"describe\"}\n") == error_line("DAEMON_INTERNAL", 70, "the enclave daemon could not handle the request: broken"));
    CHECK(ask("{\"op\":\"stop\"}\n") == error_line("VM_GONE", 7, "the VM is gone"));
    CHECK_FALSE(server.stop_requested());
    CHECK(server.client_count() == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("encode_line never throws: invalid UTF-8 becomes U+FFFD")
{
    CHECK(encode_line(Json { { "m", std::string("a\xff" "b") } }) == "{\"m\":\"a\xef\xbf\xbd" "b\"}\n");
}

TEST_CASE("root may hold all 64 connections; the 65th gets DAEMON_BUSY; the 64 before it are served")
{
    Server s(0);
    std::vector<base::UniqueFd> clients;
    for (int i = 0; i < 64; ++i) {
        clients.push_back(s.connect());
        if (i % 8 == 7)
            s.serve(); // the listen backlog is 16
    }
    s.serve();
    REQUIRE(s.server->client_count() == 64);
    base::UniqueFd extra = s.connect();
    s.serve();
    CHECK(Server::received(extra.get()) == error_line("DAEMON_BUSY", 6, "enclave 7's daemon has 64 control connections open; retry in a few seconds"));
    CHECK(s.server->client_count() == 64);
    CHECK(s.ask(clients[0].get(), "{\"op\":\"describe\"}\n").starts_with("{\"ok\":true,"));
    base::UniqueFd next = s.connect();
    CHECK(s.ask(next.get(), "{\"op\":\"describe\"}\n").starts_with("{\"ok\":true,"));
}

TEST_CASE("silent connections by other users cannot lock the owner or root out")
{
    Server s;
    std::vector<base::UniqueFd> held;
    auto open_as = [&](uid_t uid) {
        s.client_uid = uid;
        held.push_back(s.connect());
        s.serve(0);
        return held.back().get();
    };
    for (int i = 0; i < 8; ++i)
        open_as(1234);
    CHECK(s.server->client_count() == 8);
    CHECK(Server::received(open_as(1234)) == error_line("DAEMON_BUSY", 6, "uid 1234 already has 8 control connections open to enclave 7; close some and retry"));
    for (uid_t uid = 3000; uid < 3005; ++uid)
        for (int i = 0; i < 8; ++i)
            open_as(uid);
    REQUIRE(s.server->client_count() == 48);
    CHECK(Server::received(open_as(4000))
        == error_line("DAEMON_BUSY", 6, "the control connections of enclave 7 that other users may hold are taken; retry in a few seconds"));
    CHECK(s.server->client_count() == 48);
    s.client_uid = kOwner;
    base::UniqueFd owner = s.connect();
    CHECK(s.ask(owner.get(), "{\"op\":\"describe\"}\n").starts_with("{\"ok\":true,"));
    s.client_uid = 0;
    base::UniqueFd root = s.connect();
    CHECK(s.ask(root.get(), "{\"op\":\"stop\"}\n") == "");
    CHECK(s.handler.stops == std::vector<uid_t> { 0 });
}

TEST_CASE("a client without a complete request line within the deadline is hung up on; a console viewer is not")
{
    Server s(kOwner, true, std::chrono::milliseconds(400));
    base::UniqueFd silent = s.connect();
    base::UniqueFd partial = s.connect();
    base::UniqueFd viewer = s.connect();
    CHECK(s.ask(partial.get(), "{\"op\":\"desc") == "");
    CHECK(s.ask(viewer.get(), "{\"op\":\"console\"}\n") == "{\"ok\":true}\n");
    REQUIRE(s.server->client_count() == 3);
    s.serve(1000); // the timer fires within it
    const std::string timeout = error_line("REQUEST_TIMEOUT", 2, "no complete request line within 400 ms; send one JSON object on one line at once");
    CHECK(Server::received(silent.get()) == timeout);
    CHECK(Server::received(partial.get()) == timeout);
    CHECK(s.server->client_count() == 1);
    CHECK(s.server->timed_out_clients() == 2);
    s.print("still here\n");
    s.serve();
    CHECK(Server::received(viewer.get()) == "still here\n");
}

TEST_CASE("out of file descriptors: a pending connection is closed with DAEMON_BUSY, the listener does not spin")
{
    Server s(0);
    base::UniqueFd waiting = s.connect();
    base::UniqueFd after = s.connect();
    std::vector<base::UniqueFd> filler;
    for (;;) {
        int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        filler.emplace_back(fd);
    }
    REQUIRE(errno == EMFILE);
    int handled = s.serve(50, 1000);
    CHECK(handled < 1000);
    std::string busy = error_line("DAEMON_BUSY", 6, "enclave 7's daemon is out of file descriptors; retry in a few seconds");
    CHECK(Server::received(waiting.get()) == busy);
    CHECK(Server::received(after.get()) == busy);
    CHECK(s.server->shed_connections() == 2);
    filler.clear();
    base::UniqueFd later = s.connect();
    CHECK(s.ask(later.get(), "{\"op\":\"describe\"}\n").starts_with("{\"ok\":true,"));
}

TEST_CASE("console: refused outside debug mode and to strangers")
{
    Server production(kOwner);
    base::UniqueFd c = production.connect();
    CHECK(production.ask(c.get(), "{\"op\":\"console\"}\n")
        == error_line("CONSOLE_NOT_DEBUG", 9, "enclave 7 was not started with --debug-mode; its console cannot be read"));

    Server debug(1234, true);
    base::UniqueFd stranger = debug.connect();
    CHECK(debug.ask(stranger.get(), "{\"op\":\"console\"}\n")
        == error_line("NOT_OWNER", 9, "only the enclave's owner or root may read its console"));
}

TEST_CASE("console: one viewer follows the ring; a second gets CONSOLE_BUSY until it leaves")
{
    Server s(kOwner, true);
    s.print("boot\n");
    base::UniqueFd viewer = s.connect();
    CHECK(s.ask(viewer.get(), "{\"op\":\"console\"}\n") == "{\"ok\":true}\nboot\n");
    s.print("app started\n");
    s.serve();
    CHECK(Server::received(viewer.get()) == "app started\n");

    base::UniqueFd second = s.connect();
    CHECK(s.ask(second.get(), "{\"op\":\"console\"}\n")
        == error_line("CONSOLE_BUSY", 6, "another console viewer is attached to enclave 7; only one is allowed at a time"));

    SUBCASE("the enclave ends: the viewer gets the last output")
    {
        s.print("app exited\n");
        s.server->flush_consoles();
        CHECK(Server::received(viewer.get()) == "app exited\n");
    }
    SUBCASE("once the viewer hung up, another may follow")
    {
        viewer.reset();
        s.serve();
        base::UniqueFd third = s.connect();
        CHECK(s.ask(third.get(), "{\"op\":\"console\"}\n") == "{\"ok\":true}\nboot\napp started\n");
    }
}

TEST_CASE("console with follow false: a snapshot of the ring, then the end of the stream")
{
    Server s(0, true);
    s.print("boot\n");
    base::UniqueFd c = s.connect();
    CHECK(s.ask(c.get(), "{\"op\":\"console\",\"follow\":false}\n") == "{\"ok\":true}\nboot\n<EOF>");
}
