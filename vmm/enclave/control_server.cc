#include "vmm/enclave/control_server.h"

#include "base/error.h"
#include "base/unix_address.h"
#include "vmm/enclave/access_group.h"
#include "vmm/enclave/console_stream.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

namespace vmm {

struct ControlServer::Client {
    base::UniqueFd fd;
    uid_t uid { 0 };
    std::string input;
    // Until its request line is complete: it is hung up on at this time.
    std::optional<Clock::time_point> deadline;
    std::unique_ptr<ConsoleStream> console; // set once it follows the console
};

namespace {

// An fd kept open so that, when the process is out of descriptors, closing it makes room to
// accept (and at once close) a pending connection instead of leaving it in the backlog, where
// the level-triggered listener would report it again and again.
base::UniqueFd open_reserve_fd() { return base::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

} // namespace

std::optional<uid_t> socket_peer_uid(int fd)
{
    ucred cred {};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return std::nullopt;
    return cred.uid;
}

ControlServer::ControlServer(const std::string& socket_path, ControlServerConfig config, ControlHandler& handler)
    : m_config(std::move(config))
    , m_handler(handler)
{
    sockaddr_un address;
    if (!base::unix_address(socket_path, address))
        throw base::Error(base::ErrorKind::InvalidInput, "SOCKET_PATH", "run directory path too long: " + socket_path);
    m_listen.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    ::unlink(socket_path.c_str());
    if (::bind(m_listen.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        base::throw_errno("CONTROL_SOCKET", "cannot bind", socket_path);
    restrict_to_access_group(socket_path);
    if (::listen(m_listen.get(), 16) != 0)
        base::throw_errno("CONTROL_SOCKET", "cannot listen on", socket_path);
    m_timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!m_timer.valid())
        base::throw_errno("CONTROL_TIMER", "cannot create", "the control socket's request timer");
    m_reserve_fd = open_reserve_fd();
}

ControlServer::~ControlServer() = default;

void ControlServer::watch(int epoll_fd)
{
    m_epoll = epoll_fd;
    auto add = [this](int fd) {
        epoll_event e {};
        e.events = EPOLLIN;
        e.data.fd = fd;
        ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &e);
    };
    add(m_listen.get());
    add(m_timer.get());
    if (m_config.console)
        add(m_config.console->notify_fd());
}

bool ControlServer::handle(int fd, std::uint32_t events)
{
    if (fd == m_listen.get()) {
        accept_clients();
        return true;
    }
    if (fd == m_timer.get()) {
        std::uint64_t expirations;
        [[maybe_unused]] ssize_t r = ::read(fd, &expirations, sizeof expirations);
        on_timer();
        return true;
    }
    if (m_config.console && fd == m_config.console->notify_fd()) {
        m_config.console->clear_notify();
        // pump_console() may drop its client: not while iterating over m_clients.
        if (m_console_viewer >= 0)
            for (auto& c : m_clients)
                if (c->fd.get() == m_console_viewer && c->console) {
                    pump_console(*c);
                    break;
                }
        return true;
    }
    for (auto& c : m_clients) {
        if (c->fd.get() != fd)
            continue;
        if (events & (EPOLLHUP | EPOLLERR)) {
            drop(fd);
        } else if (c->console) {
            if (events & EPOLLIN) {
                char sink[256];
                ssize_t r = ::read(fd, sink, sizeof sink);
                if (r <= 0) {
                    drop(fd);
                    return true;
                }
            }
            pump_console(*c);
        } else {
            handle_input(*c);
        }
        return true;
    }
    return false;
}

void ControlServer::accept_clients()
{
    // Bounded work per round: a flood of connections cannot keep the loop here.
    for (std::size_t round = 0; round < kMaxControlClients; ++round) {
        int fd = ::accept4(m_listen.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                shed_one_connection();
            return;
        }
        auto client = std::make_unique<Client>();
        client->fd.reset(fd);
        std::optional<uid_t> uid = m_config.peer_uid(fd);
        if (!uid)
            continue;
        client->uid = *uid;
        if (std::optional<std::string> why = admission_refusal(*uid)) {
            send_all_nonblocking(fd, encode_line(error_reply("DAEMON_BUSY", static_cast<int>(base::ErrorKind::Resource), *why)));
            continue;
        }
        epoll_event e {};
        e.events = EPOLLIN | EPOLLRDHUP;
        e.data.fd = fd;
        ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &e);
        client->deadline = Clock::now() + m_config.request_deadline;
        m_clients.push_back(std::move(client));
        arm_timer();
    }
}

std::optional<std::string> ControlServer::admission_refusal(uid_t uid) const
{
    bool privileged = uid == 0 || uid == m_config.owner_uid;
    std::size_t same_uid = 0, unprivileged = 0;
    for (const auto& c : m_clients) {
        same_uid += c->uid == uid;
        unprivileged += !(c->uid == 0 || c->uid == m_config.owner_uid);
    }
    std::string id = std::to_string(m_config.enclave_id);
    if (m_clients.size() >= kMaxControlClients)
        return "enclave " + id + "'s daemon has " + std::to_string(kMaxControlClients) + " control connections open; retry in a few seconds";
    if (uid != 0 && same_uid >= kMaxControlClientsPerUid)
        return "uid " + std::to_string(uid) + " already has " + std::to_string(kMaxControlClientsPerUid)
            + " control connections open to enclave " + id + "; close some and retry";
    if (!privileged && unprivileged >= kMaxControlClients - kControlSlotsKeptForOwner)
        return "the control connections of enclave " + id + " that other users may hold are taken; retry in a few seconds";
    return std::nullopt;
}

void ControlServer::shed_one_connection()
{
    // Out of descriptors: make room with the reserve, take the oldest pending connection and
    // close it at once (it gets EOF), then keep the reserve again. Without a reserve (it could
    // not be reopened) the listener pauses until the next tick instead of spinning.
    if (m_reserve_fd.valid()) {
        m_reserve_fd.reset();
        base::UniqueFd pending(::accept4(m_listen.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (pending.valid())
            send_all_nonblocking(pending.get(), encode_line(error_reply("DAEMON_BUSY", static_cast<int>(base::ErrorKind::Resource),
                "enclave " + std::to_string(m_config.enclave_id) + "'s daemon is out of file descriptors; retry in a few seconds")));
        pending.reset();
        m_reserve_fd = open_reserve_fd();
        ++m_shed_connections;
        if (m_reserve_fd.valid())
            return;
    }
    if (!m_listener_paused) {
        ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, m_listen.get(), nullptr);
        m_listener_paused = true;
        m_resume_listener_at = Clock::now() + kListenerPause;
        arm_timer();
    }
}

void ControlServer::on_timer()
{
    Clock::time_point now = Clock::now();
    std::vector<int> expired;
    for (const auto& c : m_clients)
        if (c->deadline && *c->deadline <= now)
            expired.push_back(c->fd.get());
    for (int fd : expired) {
        ++m_timed_out_clients;
        refuse(fd, "REQUEST_TIMEOUT", base::ErrorKind::Usage,
            "no complete request line within " + std::to_string(m_config.request_deadline.count()) + " ms; send one JSON object on one line at once");
    }
    if (m_listener_paused && m_resume_listener_at <= now) {
        m_listener_paused = false;
        if (!m_reserve_fd.valid())
            m_reserve_fd = open_reserve_fd();
        epoll_event e {};
        e.events = EPOLLIN;
        e.data.fd = m_listen.get();
        ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_listen.get(), &e);
    }
    arm_timer();
}

void ControlServer::arm_timer()
{
    std::optional<Clock::time_point> next;
    if (m_listener_paused)
        next = m_resume_listener_at;
    for (const auto& c : m_clients)
        if (c->deadline && (!next || *c->deadline < *next))
            next = c->deadline;
    itimerspec spec {};
    if (next) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*next - Clock::now()).count();
        ns = std::max<long long>(ns, 1); // 0 would disarm it
        spec.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
        spec.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
    }
    ::timerfd_settime(m_timer.get(), 0, &spec, nullptr);
}

void ControlServer::handle_input(Client& client)
{
    char buffer[1024];
    ssize_t n = ::read(client.fd.get(), buffer, sizeof buffer);
    if (n <= 0) {
        drop(client.fd.get());
        return;
    }
    if (!client.deadline)
        return; // its request is being handled (a stop waiting for the enclave to end): more is ignored
    client.input.append(buffer, static_cast<std::size_t>(n));
    std::size_t newline = client.input.find('\n');
    if (newline == std::string::npos) {
        if (client.input.size() > kMaxRequestBytes)
            refuse(client.fd.get(), "REQUEST_TOO_LONG", base::ErrorKind::Usage,
                "the request has no newline within " + std::to_string(kMaxRequestBytes) + " bytes; send one JSON object on one line");
        return;
    }
    // Every request on its own: whatever is wrong with it, or whatever fails while it is
    // handled, is an error reply to this client and never ends the daemon.
    int fd = client.fd.get();
    client.deadline.reset();
    try {
        dispatch(client, parse_request(std::string_view(client.input).substr(0, newline)));
    } catch (const base::Error& e) {
        if (fd == m_stop_requester)
            m_stop_requester = -1;
        refuse(fd, e.code(), e.kind(), e.what());
    } catch (const std::exception& e) {
        if (fd == m_stop_requester)
            m_stop_requester = -1;
        refuse(fd, "DAEMON_INTERNAL", base::ErrorKind::Internal, std::string("the enclave daemon could not handle the request: ") + e.what());
    }
}

void ControlServer::dispatch(Client& client, const ControlRequest& request)
{
    int fd = client.fd.get();
    bool privileged = client.uid == 0 || client.uid == m_config.owner_uid;
    switch (request.op) {
    case ControlOp::Describe: {
        std::string reply = encode_line(Json { { "ok", true }, { "enclave", m_handler.describe() } });
        send_all_nonblocking(fd, reply);
        drop(fd);
        break;
    }
    case ControlOp::Stop:
        if (!privileged) {
            refuse(fd, "NOT_OWNER", base::ErrorKind::Permission, "only the enclave's owner or root may stop it");
            return;
        }
        m_stop_requester = fd;
        m_handler.stop(client.uid);
        break;
    case ControlOp::Console:
        handle_console(client, request, privileged);
        break;
    }
}

void ControlServer::refuse(int fd, const std::string& code, base::ErrorKind kind, const std::string& message)
{
    if (!has_client(fd))
        return; // already answered and gone: the number may belong to someone else by now
    send_all_nonblocking(fd, encode_line(error_reply(code, static_cast<int>(kind), message)));
    drop(fd);
}

bool ControlServer::has_client(int fd) const
{
    return std::any_of(m_clients.begin(), m_clients.end(), [fd](const std::unique_ptr<Client>& c) { return c->fd.get() == fd; });
}

void ControlServer::handle_console(Client& client, const ControlRequest& request, bool privileged)
{
    int fd = client.fd.get();
    std::string id = std::to_string(m_config.enclave_id);
    if (!m_config.console) {
        refuse(fd, "CONSOLE_NOT_DEBUG", base::ErrorKind::Permission,
            "enclave " + id + " was not started with --debug-mode; its console cannot be read");
    } else if (!privileged) {
        refuse(fd, "NOT_OWNER", base::ErrorKind::Permission, "only the enclave's owner or root may read its console");
    } else if (m_console_viewer >= 0) {
        refuse(fd, "CONSOLE_BUSY", base::ErrorKind::Resource,
            "another console viewer is attached to enclave " + id + "; only one is allowed at a time");
    } else if (!request.follow) {
        // A snapshot: what the ring holds now, then the end of the stream.
        std::uint64_t lost = 0;
        std::string text;
        m_config.console->read(0, text, lost);
        send_with_deadline(fd, encode_line(Json { { "ok", true } }) + text);
        drop(fd);
    } else {
        m_console_viewer = fd;
        client.console = std::make_unique<ConsoleStream>(*m_config.console);
        send_all_nonblocking(fd, encode_line(Json { { "ok", true } }));
        pump_console(client);
    }
}

void ControlServer::pump_console(Client& client)
{
    if (!client.console->pump(client.fd.get())) {
        drop(client.fd.get());
        return;
    }
    epoll_event e {};
    e.events = EPOLLIN | EPOLLRDHUP | (client.console->pending() ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
    e.data.fd = client.fd.get();
    ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, client.fd.get(), &e);
    m_config.console->arm_notify();
    if (!client.console->pending() && client.console->behind())
        pump_console(client); // output arrived between the read and arming
}

void ControlServer::drop(int fd)
{
    if (fd == m_console_viewer)
        m_console_viewer = -1;
    if (fd == m_stop_requester)
        m_stop_requester = -1;
    ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, fd, nullptr);
    std::erase_if(m_clients, [fd](const std::unique_ptr<Client>& c) { return c->fd.get() == fd; });
}

void ControlServer::answer_stop()
{
    if (m_stop_requester >= 0)
        send_all_nonblocking(m_stop_requester, encode_line(Json { { "ok", true } }));
}

void ControlServer::flush_consoles()
{
    for (auto& c : m_clients) {
        if (c->console)
            c->console->flush_final(c->fd.get());
    }
}

void ControlServer::close_clients()
{
    m_clients.clear();
    m_console_viewer = -1;
    m_stop_requester = -1;
}

} // namespace vmm
