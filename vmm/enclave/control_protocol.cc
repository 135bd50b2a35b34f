#include "vmm/enclave/control_protocol.h"

#include "base/error.h"
#include "base/unix_address.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

namespace vmm {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void bad_request(const std::string& message)
{
    throw base::Error(base::ErrorKind::Usage, "BAD_REQUEST", message);
}

int remaining_ms(Clock::time_point deadline)
{
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

std::string seconds(int timeout_ms) { return std::to_string((timeout_ms + 999) / 1000) + " s"; }

[[noreturn]] void timed_out(const std::string& path, const std::string& what, int timeout_ms)
{
    throw base::Error(base::ErrorKind::Io, "DAEMON_TIMEOUT",
        "the enclave daemon on " + path + " " + what + " within " + seconds(timeout_ms)
            + " (it is alive but stopped, stuck or flooded); retry, or look at its process (ProcessID in qt-vmm enclave query)");
}

// A blocking connect bounded by SO_SNDTIMEO: a Unix socket whose listen backlog is full makes
// connect() wait for room (a non-blocking one fails with EAGAIN at once, and poll() cannot wait
// for it), and the kernel ends that wait with EAGAIN when the send timeout runs out. The same
// timeout bounds the request's write.
base::UniqueFd connect_unix(const std::string& path, Clock::time_point deadline, int timeout_ms)
{
    sockaddr_un address;
    if (!base::unix_address(path, address))
        throw base::Error(base::ErrorKind::InvalidInput, "SOCKET_PATH", "socket path too long: " + path);
    base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid())
        base::throw_errno("SOCKET", "cannot create a socket for", path);
    for (;;) {
        int left = remaining_ms(deadline);
        if (left == 0)
            timed_out(path, "did not accept the connection", timeout_ms);
        timeval tv { left / 1000, (left % 1000) * 1000 };
        ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0)
            return fd;
        int saved = errno;
        if (saved == EINTR)
            continue;
        if (saved == ECONNREFUSED || saved == ENOENT)
            throw base::Error(base::ErrorKind::NotFound, "DAEMON_GONE", "no enclave daemon answers on " + path);
        if (saved == EAGAIN || saved == EINPROGRESS || saved == ETIMEDOUT)
            timed_out(path, "did not accept the connection", timeout_ms);
        errno = saved;
        base::throw_errno("DAEMON_CONNECT", "cannot connect to", path);
    }
}

// Reads one line (without the newline) before the deadline; throws on timeout, EOF or an
// over-long line. One byte at a time: what follows the line (a console stream) stays unread.
std::string read_line(int fd, const std::string& path, Clock::time_point deadline, int timeout_ms)
{
    std::string line;
    char c;
    while (line.size() < (1 << 20)) {
        pollfd p { fd, POLLIN, 0 };
        int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r == 0)
            timed_out(path, "did not answer", timeout_ms);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            base::throw_errno("DAEMON_READ", "cannot read from", path);
        }
        ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw base::Error(base::ErrorKind::NotFound, "DAEMON_CLOSED", "the enclave daemon on " + path + " closed the connection (the enclave is ending)");
        if (c == '\n')
            return line;
        line.push_back(c);
    }
    throw base::Error(base::ErrorKind::Io, "DAEMON_PROTOCOL", "over-long reply from " + path);
}

Json exchange(int fd, const std::string& path, const Json& request, Clock::time_point deadline, int timeout_ms)
{
    std::string out = encode_line(request);
    if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
        if (errno == EAGAIN)
            timed_out(path, "did not take the request", timeout_ms);
        base::throw_errno("DAEMON_WRITE", "cannot send the request to", path);
    }
    return parse_reply(read_line(fd, path, deadline, timeout_ms), path);
}

} // namespace

ControlRequest parse_request(std::string_view line)
{
    const std::string example = "; send one JSON object on one line, e.g. {\"op\":\"describe\"}";
    Json request = Json::parse(line.begin(), line.end(), nullptr, false);
    if (request.is_discarded())
        bad_request("the request is not valid JSON (UTF-8)" + example);
    if (!request.is_object())
        bad_request("the request is a JSON " + std::string(request.type_name()) + ", not an object" + example);
    auto op = request.find("op");
    if (op == request.end())
        bad_request("the request has no \"op\"; use describe, stop or console");
    if (!op->is_string())
        bad_request("\"op\" is a " + std::string(op->type_name()) + ", not a string; use describe, stop or console");
    ControlRequest result;
    const std::string& name = op->get_ref<const std::string&>();
    if (name == "describe")
        result.op = ControlOp::Describe;
    else if (name == "stop")
        result.op = ControlOp::Stop;
    else if (name == "console")
        result.op = ControlOp::Console;
    else
        bad_request("unknown op; use describe, stop or console");
    if (result.op == ControlOp::Console) {
        if (auto follow = request.find("follow"); follow != request.end()) {
            if (!follow->is_boolean())
                bad_request("\"follow\" is a " + std::string(follow->type_name()) + ", not true or false");
            result.follow = follow->get<bool>();
        }
    }
    return result;
}

Json parse_reply(std::string_view line, const std::string& socket_path)
{
    Json reply = Json::parse(line.begin(), line.end(), nullptr, false);
    if (reply.is_discarded() || !reply.is_object())
        throw base::Error(base::ErrorKind::Io, "DAEMON_PROTOCOL", "malformed reply from " + socket_path);
    auto ok = reply.find("ok");
    if (ok != reply.end() && ok->is_boolean() && ok->get<bool>())
        return reply;
    auto text = [&reply](const char* key, const std::string& fallback) {
        auto it = reply.find(key);
        return it != reply.end() && it->is_string() && !it->get_ref<const std::string&>().empty() ? it->get<std::string>() : fallback;
    };
    auto kind = reply.find("kind");
    int exit_status = kind != reply.end() && kind->is_number_integer() ? kind->get<int>() : 70;
    if (exit_status < 1 || exit_status > 125)
        exit_status = 70;
    throw base::Error(static_cast<base::ErrorKind>(exit_status), text("code", "DAEMON_ERROR"),
        text("message", "the enclave daemon on " + socket_path + " refused the request"));
}

Json control_request(const std::string& socket_path, const Json& request, int timeout_ms)
{
    Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    base::UniqueFd fd = connect_unix(socket_path, deadline, timeout_ms);
    return exchange(fd.get(), socket_path, request, deadline, timeout_ms);
}

base::UniqueFd control_open(const std::string& socket_path, const Json& request, int timeout_ms)
{
    Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    base::UniqueFd fd = connect_unix(socket_path, deadline, timeout_ms);
    exchange(fd.get(), socket_path, request, deadline, timeout_ms);
    return fd;
}

std::string encode_line(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n"; }

Json error_reply(const std::string& code, int kind, const std::string& message)
{
    return Json { { "ok", false }, { "code", code }, { "kind", kind }, { "message", message } };
}

} // namespace vmm
