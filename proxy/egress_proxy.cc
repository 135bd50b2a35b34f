// proxy/egress_proxy.cc — the Unix listener and the TCP dialer of the egress proxy (see the header).
#include "proxy/egress_proxy.h"

#include "base/error.h"
#include "base/unix_address.h"
#include "base/file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace proxy {

namespace {

// Whether a socket listens on path, from /proc/net/unix (a test connection would reach the
// other listener as a real connection, which a proxy would relay to its remote).
bool has_listener(const std::string& path)
{
    constexpr unsigned long kAcceptConnections = 0x10000; // __SO_ACCEPTCON in the Flags column
    std::ifstream table("/proc/net/unix");
    std::string line;
    std::getline(table, line); // the header
    while (std::getline(table, line)) {
        std::istringstream fields(line);
        std::string slot, refs, protocol, flags, type, state, inode, name;
        if (fields >> slot >> refs >> protocol >> flags >> type >> state >> inode >> name && name == path
            && (std::stoul(flags, nullptr, 16) & kAcceptConnections))
            return true;
    }
    return false;
}

base::UniqueFd listen_unix(const std::string& path)
{
    sockaddr_un address {};
    if (!base::unix_address(path, address))
        throw base::Error(base::ErrorKind::InvalidInput, "VSOCK_SOCKET", "socket path too long: " + path);
    if (has_listener(path))
        throw base::Error(base::ErrorKind::Resource, "PROXY_PORT_IN_USE",
            path + " already has a listener (another proxy or program serves that port); stop it or pick another port");
    ::unlink(path.c_str()); // a stale socket of a proxy that was killed
    base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd.get(), 1024) != 0)
        base::throw_errno("LISTEN", "cannot listen on", path);
    return fd;
}

relay::Dialed dial(EgressPolicy& policy, unsigned attempt)
{
    Resolved where = policy.allowed_addresses();
    if (!where.error.empty())
        return relay::Dialed { -1, where.error, policy.remote() };
    if (attempt >= where.addresses.size())
        return relay::Dialed { -1, "", policy.remote() };
    const Address& a = where.addresses[attempt];
    int fd = ::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return relay::Dialed { -1, "cannot create a socket: " + relay::errno_text(errno), a.text() };
    if (::connect(fd, a.sockaddr_ptr(), a.length) != 0 && errno != EINPROGRESS) {
        int error = errno;
        ::close(fd);
        // Like a failed asynchronous connect: logged, then the next address.
        return relay::Dialed { -1, "connect to " + a.text() + " failed: " + relay::errno_text(error), a.text(), true };
    }
    return relay::Dialed { fd, "", a.text() };
}

} // namespace

EgressProxy::EgressProxy(EgressPolicy& policy, std::string listen_path, relay::Limits limits, relay::Log log)
    : m_path(std::move(listen_path))
    , m_relay(limits, std::move(log))
{
    base::UniqueFd listener = listen_unix(m_path);
    std::string name = m_path.substr(m_path.rfind('_') + 1);
    int error = m_relay.add_listener(listener.release(), "port " + name, [&policy](unsigned attempt) { return dial(policy, attempt); });
    if (error) {
        ::unlink(m_path.c_str());
        errno = error;
        base::throw_errno("LISTEN", "cannot watch", m_path);
    }
}

EgressProxy::~EgressProxy()
{
    ::unlink(m_path.c_str());
}

std::string EgressProxy::summary() const
{
    const relay::Stats& s = m_relay.stats();
    return std::to_string(s.accepted) + " connections accepted, " + std::to_string(s.completed) + " completed, " + std::to_string(s.refused)
        + " refused, " + std::to_string(s.failed) + " failed, " + std::to_string(s.idle_closed) + " closed idle, peak "
        + std::to_string(s.peak) + " open, " + std::to_string(s.bytes_out) + " bytes out, " + std::to_string(s.bytes_in) + " bytes in";
}

} // namespace proxy
