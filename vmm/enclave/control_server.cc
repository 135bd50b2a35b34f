#include "vmm/enclave/control_server.h"

#include "base/error.h"
#include "base/unix_address.h"
#include "vmm/enclave/access_group.h"
#include "vmm/enclave/console_stream.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace vmm {

struct ControlServer::Client {
    base::UniqueFd fd;
    uid_t uid { 0 };
    std::string input;
    std::unique_ptr<ConsoleStream> console; // set once it follows the console
};

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
    if (m_config.console)
        add(m_config.console->notify_fd());
}

bool ControlServer::handle(int fd, std::uint32_t events)
{
    if (fd == m_listen.get()) {
        accept_clients();
        return true;
    }
    if (m_config.console && fd == m_config.console->notify_fd()) {
        m_config.console->clear_notify();
        for (auto& c : m_clients)
            if (c->console)
                pump_console(*c);
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
    for (;;) {
        int fd = ::accept4(m_listen.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        auto client = std::make_unique<Client>();
        client->fd.reset(fd);
        std::optional<uid_t> uid = m_config.peer_uid(fd);
        if (!uid)
            continue;
        client->uid = *uid;
        epoll_event e {};
        e.events = EPOLLIN | EPOLLRDHUP;
        e.data.fd = fd;
        ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &e);
        if (m_clients.size() >= 64) {
            send_all_nonblocking(fd, encode_line(error_reply("DAEMON_BUSY", 6, "too many control connections")));
            continue;
        }
        m_clients.push_back(std::move(client));
    }
}

void ControlServer::handle_input(Client& client)
{
    char buffer[1024];
    ssize_t n = ::read(client.fd.get(), buffer, sizeof buffer);
    if (n <= 0) {
        drop(client.fd.get());
        return;
    }
    client.input.append(buffer, static_cast<std::size_t>(n));
    std::size_t newline = client.input.find('\n');
    if (newline == std::string::npos) {
        if (client.input.size() > 4096)
            drop(client.fd.get());
        return;
    }
    Json request = Json::parse(client.input.substr(0, newline), nullptr, false);
    std::string op = request.is_object() ? request.value("op", std::string()) : std::string();
    int fd = client.fd.get();
    bool privileged = client.uid == 0 || client.uid == m_config.owner_uid;

    if (op == "describe") {
        send_all_nonblocking(fd, encode_line(Json { { "ok", true }, { "enclave", m_handler.describe() } }));
        drop(fd);
    } else if (op == "stop") {
        if (!privileged) {
            send_all_nonblocking(fd, encode_line(error_reply("NOT_OWNER", 9, "only the enclave's owner or root may stop it")));
            drop(fd);
            return;
        }
        m_stop_requester = fd;
        m_handler.stop(client.uid);
    } else if (op == "console") {
        handle_console(client, request, privileged);
    } else {
        send_all_nonblocking(fd, encode_line(error_reply("BAD_REQUEST", 2, "unknown request")));
        drop(fd);
    }
}

void ControlServer::handle_console(Client& client, const Json& request, bool privileged)
{
    int fd = client.fd.get();
    std::string id = std::to_string(m_config.enclave_id);
    if (!m_config.console) {
        send_all_nonblocking(fd, encode_line(error_reply("CONSOLE_NOT_DEBUG", 9,
            "enclave " + id + " was not started with --debug-mode; its console cannot be read")));
        drop(fd);
    } else if (!privileged) {
        send_all_nonblocking(fd, encode_line(error_reply("NOT_OWNER", 9, "only the enclave's owner or root may read its console")));
        drop(fd);
    } else if (m_console_viewer >= 0) {
        send_all_nonblocking(fd, encode_line(error_reply("CONSOLE_BUSY", 6,
            "another console viewer is attached to enclave " + id + "; only one is allowed at a time")));
        drop(fd);
    } else if (!request.value("follow", true)) {
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
