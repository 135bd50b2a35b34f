// ConsoleStream: a console viewer follows the ring through a socket, is told how many bytes it
// lost when it fell a whole ring behind, and gets the rest when the enclave ends.
#include "vmm/enclave/console_stream.h"

#include "base/file.h"

#include <doctest/doctest.h>

#include <string>
#include <sys/socket.h>

using namespace vmm;

namespace {

struct Viewer {
    base::UniqueFd daemon_end;
    base::UniqueFd viewer_end;
    Viewer()
    {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
        daemon_end.reset(fds[0]);
        viewer_end.reset(fds[1]);
    }
    std::string received()
    {
        std::string all;
        char buffer[4096];
        ssize_t n;
        while ((n = ::recv(viewer_end.get(), buffer, sizeof buffer, MSG_DONTWAIT)) > 0)
            all.append(buffer, static_cast<std::size_t>(n));
        return all;
    }
};

void append(ConsoleBuffer& ring, const std::string& text)
{
    ring.append(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

} // namespace

TEST_CASE("a viewer gets the ring from its start, then what is appended later")
{
    ConsoleBuffer ring(1024);
    append(ring, "boot\n");
    Viewer v;
    ConsoleStream stream(ring);
    CHECK(stream.behind());
    REQUIRE(stream.pump(v.daemon_end.get()));
    CHECK_FALSE(stream.pending());
    CHECK_FALSE(stream.behind());
    CHECK(v.received() == "boot\n");
    append(ring, "app\n");
    CHECK(stream.behind());
    REQUIRE(stream.pump(v.daemon_end.get()));
    CHECK(v.received() == "app\n");
}

TEST_CASE("a viewer a whole ring behind is told how many bytes it lost")
{
    ConsoleBuffer ring(16);
    append(ring, std::string(40, 'x'));
    Viewer v;
    ConsoleStream stream(ring);
    REQUIRE(stream.pump(v.daemon_end.get()));
    std::string got = v.received();
    CHECK(got.find("24 console bytes were overwritten") != std::string::npos);
    CHECK(got.substr(got.size() - 16) == std::string(16, 'x'));
}

TEST_CASE("the last output goes out when the enclave ends; a closed viewer is reported broken")
{
    ConsoleBuffer ring(1024);
    Viewer v;
    ConsoleStream stream(ring);
    append(ring, "init: app exited\n");
    stream.flush_final(v.daemon_end.get());
    CHECK(v.received() == "init: app exited\n");

    ConsoleStream other(ring);
    v.viewer_end.reset();
    CHECK_FALSE(other.pump(v.daemon_end.get()));
}
