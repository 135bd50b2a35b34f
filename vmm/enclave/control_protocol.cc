#include "vmm/enclave/control_protocol.h"

#include "base/error.h"
#include "base/unix_address.h"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace vmm {

namespace {

base::UniqueFd connect_unix(const std::string& path)
{
    sockaddr_un address;
    if (!base::unix_address(path, address))
        throw base::Error(base::ErrorKind::InvalidInput, "SOCKET_PATH", "socket path too long: " + path);
    base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid())
        base::throw_errno("SOCKET", "cannot create a socket for", path);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        int saved = errno;
        if (saved == ECONNREFUSED || saved == ENOENT)
            throw base::Error(base::ErrorKind::NotFound, "DAEMON_GONE", "no enclave daemon answers on " + path);
        errno = saved;
        base::throw_errno("DAEMON_CONNECT", "cannot connect to", path);
    }
    return fd;
}

// Reads one line (without the newline); throws on timeout, EOF or an over-long line.
std::string read_line(int fd, const std::string& path, int timeout_ms)
{
    std::string line;
    char c;
    while (line.size() < (1 << 20)) {
        pollfd p { fd, POLLIN, 0 };
        int r = ::poll(&p, 1, timeout_ms);
        if (r == 0)
            throw base::Error(base::ErrorKind::Io, "DAEMON_TIMEOUT", "the enclave daemon on " + path + " did not answer in time");
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

Json exchange(int fd, const std::string& path, const Json& request, int timeout_ms)
{
    std::string out = encode_line(request);
    base::write_all(fd, out.data(), out.size(), path);
    std::string line = read_line(fd, path, timeout_ms);
    Json reply = Json::parse(line, nullptr, false);
    if (reply.is_discarded() || !reply.is_object())
        throw base::Error(base::ErrorKind::Io, "DAEMON_PROTOCOL", "malformed reply from " + path);
    if (!reply.value("ok", false))
        throw base::Error(static_cast<base::ErrorKind>(reply.value("kind", 70)), reply.value("code", std::string("DAEMON_ERROR")),
            reply.value("message", std::string("the enclave daemon refused the request")));
    return reply;
}

} // namespace

Json control_request(const std::string& socket_path, const Json& request, int timeout_ms)
{
    base::UniqueFd fd = connect_unix(socket_path);
    return exchange(fd.get(), socket_path, request, timeout_ms);
}

base::UniqueFd control_open(const std::string& socket_path, const Json& request, int timeout_ms)
{
    base::UniqueFd fd = connect_unix(socket_path);
    exchange(fd.get(), socket_path, request, timeout_ms);
    return fd;
}

std::string encode_line(const Json& value) { return value.dump() + "\n"; }

Json error_reply(const std::string& code, int kind, const std::string& message)
{
    return Json { { "ok", false }, { "code", code }, { "kind", kind }, { "message", message } };
}

} // namespace vmm
