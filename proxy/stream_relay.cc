// proxy/stream_relay.cc — the epoll relay (see the header). Sockets of connections are
// registered edge-triggered once (in, out, peer half-close) and each side remembers whether it
// may still be readable or writable, so nothing is re-armed per event and a full buffer simply
// stops reading until the other side drains it. Listeners are level-triggered.
#include "proxy/stream_relay.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace relay {

std::int64_t monotonic_ms()
{
    timespec ts {};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string errno_text(int error)
{
    const char* name = strerrorname_np(error);
    return std::string(name ? name : "errno " + std::to_string(error)) + " (" + std::strerror(error) + ")";
}

struct StreamRelay::Handle {
    Conn* conn { nullptr };
    Listener* listener { nullptr };
    int side { 0 }; // 0 = accepted, 1 = dialled
};

struct StreamRelay::Listener {
    int fd { -1 };
    std::string name;
    Dialer dialer;
    Handle handle;
    bool paused { false }; // out of descriptors: not watched until a connection closes
};

namespace {

struct Side {
    int fd { -1 };
    bool readable { false };
    bool writable { false };
    bool read_eof { false };
    bool write_shut { false };
};

struct Buffer {
    std::unique_ptr<char[]> data;
    std::size_t begin { 0 };
    std::size_t end { 0 };
    bool empty() const { return begin == end; }
};

} // namespace

struct StreamRelay::Conn {
    std::uint64_t id { 0 };
    std::size_t index { 0 }; // in m_conns
    Listener* listener { nullptr };
    Side sides[2];
    Handle handles[2];
    Buffer buffers[2]; // [0]: accepted → dialled, [1]: dialled → accepted
    bool connecting { false };
    unsigned attempt { 0 };
    std::string target;
    std::int64_t last_ms { 0 };
    bool closed { false };
};

StreamRelay::StreamRelay(Limits limits, Log log)
    : m_limits(limits)
    , m_log(std::move(log))
    , m_epoll(::epoll_create1(EPOLL_CLOEXEC))
    , m_last_sweep_ms(monotonic_ms())
{
}

StreamRelay::~StreamRelay()
{
    for (auto& c : m_conns)
        for (Side& s : c->sides)
            if (s.fd >= 0)
                ::close(s.fd);
    for (auto& l : m_listeners)
        ::close(l->fd);
    if (m_epoll >= 0)
        ::close(m_epoll);
}

int StreamRelay::add_listener(int fd, std::string name, Dialer dialer)
{
    if (m_epoll < 0)
        return EMFILE;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    auto l = std::make_unique<Listener>();
    l->fd = fd;
    l->name = std::move(name);
    l->dialer = std::move(dialer);
    l->handle.listener = l.get();
    epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.ptr = &l->handle;
    if (::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &ev) != 0)
        return errno;
    m_listeners.push_back(std::move(l));
    return 0;
}

int StreamRelay::run_once(int timeout_ms)
{
    if (m_epoll < 0)
        return EMFILE;
    if (m_limits.idle_timeout_ms > 0 && !m_conns.empty() && (timeout_ms < 0 || timeout_ms > 1000))
        timeout_ms = 1000;
    epoll_event events[256];
    int n = ::epoll_wait(m_epoll, events, 256, timeout_ms);
    if (n < 0)
        return errno;
    for (int i = 0; i < n; i++)
        on_event(*static_cast<Handle*>(events[i].data.ptr), events[i].events);
    std::int64_t now = monotonic_ms();
    if (m_limits.idle_timeout_ms > 0 && now - m_last_sweep_ms >= 1000) {
        m_last_sweep_ms = now;
        sweep_idle(now);
    }
    m_closed.clear();
    return 0;
}

void StreamRelay::on_event(Handle& h, std::uint32_t events)
{
    if (h.listener) {
        accept_all(*h.listener);
        return;
    }
    Conn& c = *h.conn;
    if (c.closed)
        return;
    Side& s = c.sides[h.side];
    if (h.side == 1 && c.connecting) {
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error == 0 && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (error == 0 && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLOUT))
            error = ECONNRESET;
        if (error != 0) {
            m_log(c.listener->name + ": connection #" + std::to_string(c.id) + ": connect to " + c.target + " failed: " + errno_text(error));
            ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, s.fd, nullptr);
            ::close(s.fd);
            s = Side {};
            c.attempt++;
            start_dial(c);
            return;
        }
        c.connecting = false;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        s.readable = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        s.writable = true;
    pump(c);
}

void StreamRelay::accept_all(Listener& l)
{
    for (;;) {
        int fd = ::accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int error = errno;
            if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
                m_log(l.name + ": cannot accept a connection: " + errno_text(error) + "; waiting for one to close");
                epoll_event ev {};
                ev.data.ptr = &l.handle;
                ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, l.fd, &ev);
                l.paused = true;
            }
            return; // EAGAIN, or a connection that went away before it was accepted
        }
        m_stats.accepted++;
        std::uint64_t id = m_next_id++;
        if (m_conns.size() >= m_limits.max_connections) {
            m_stats.refused++;
            m_log(l.name + ": connection #" + std::to_string(id) + " refused: " + std::to_string(m_conns.size())
                + " connections are open, the limit (raise it with --max-connections)");
            ::close(fd);
            continue;
        }
        auto c = std::make_unique<Conn>();
        c->id = id;
        c->index = m_conns.size();
        c->listener = &l;
        c->last_ms = monotonic_ms();
        c->sides[0].fd = fd;
        for (int side = 0; side < 2; side++) {
            c->handles[side].conn = c.get();
            c->handles[side].side = side;
        }
        Conn& conn = *c;
        m_conns.push_back(std::move(c));
        m_stats.open = m_conns.size();
        if (m_stats.open > m_stats.peak)
            m_stats.peak = m_stats.open;
        epoll_event ev {};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = &conn.handles[0];
        if (::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close_conn(conn, ConnEnd::Failed, "cannot watch it: " + errno_text(errno));
            continue;
        }
        start_dial(conn);
    }
}

void StreamRelay::start_dial(Conn& c)
{
    Dialed d = c.listener->dialer(c.attempt);
    while (d.fd < 0 && d.try_next) {
        m_log(c.listener->name + ": connection #" + std::to_string(c.id) + ": " + d.error);
        d = c.listener->dialer(++c.attempt);
    }
    if (d.fd < 0) {
        close_conn(c, c.attempt == 0 ? ConnEnd::Refused : ConnEnd::Failed, c.attempt == 0 ? "refused: " + d.error : "no more addresses to try" + (d.error.empty() ? "" : ": " + d.error));
        return;
    }
    c.target = d.target;
    c.connecting = true;
    Side& s = c.sides[1];
    s = Side {};
    s.fd = d.fd;
    epoll_event ev {};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &c.handles[1];
    if (::epoll_ctl(m_epoll, EPOLL_CTL_ADD, s.fd, &ev) != 0)
        close_conn(c, ConnEnd::Failed, "cannot watch the connection to " + c.target + ": " + errno_text(errno));
}

void StreamRelay::pump(Conn& c)
{
    for (int dir = 0; dir < 2 && !c.closed; dir++) {
        Side& from = c.sides[dir];
        Side& to = c.sides[1 - dir];
        Buffer& b = c.buffers[dir];
        bool to_ready = to.fd >= 0 && !(dir == 0 && c.connecting);
        for (;;) {
            bool progress = false;
            if (from.readable && !from.read_eof && b.end < kBufferSize) {
                if (!b.data)
                    b.data = std::make_unique<char[]>(kBufferSize);
                ssize_t n = ::recv(from.fd, b.data.get() + b.end, kBufferSize - b.end, 0);
                if (n > 0) {
                    b.end += static_cast<std::size_t>(n);
                    progress = true;
                } else if (n == 0) {
                    from.read_eof = true;
                } else if (errno == EAGAIN) {
                    from.readable = false;
                } else if (errno != EINTR) {
                    close_conn(c, ConnEnd::Failed, std::string("receive from the ") + (dir == 0 ? "accepted" : "dialled") + " side failed: " + errno_text(errno));
                    return;
                }
            }
            if (to_ready && to.writable && !b.empty()) {
                ssize_t n = ::send(to.fd, b.data.get() + b.begin, b.end - b.begin, MSG_NOSIGNAL);
                if (n > 0) {
                    b.begin += static_cast<std::size_t>(n);
                    (dir == 0 ? m_stats.bytes_out : m_stats.bytes_in) += static_cast<std::uint64_t>(n);
                    c.last_ms = monotonic_ms();
                    progress = true;
                } else if (n < 0 && errno == EAGAIN) {
                    to.writable = false;
                } else if (n < 0 && errno != EINTR) {
                    close_conn(c, ConnEnd::Failed, std::string("send to the ") + (dir == 0 ? "dialled" : "accepted") + " side failed: " + errno_text(errno));
                    return;
                }
            }
            if (b.empty()) {
                // Drained: give the memory back, so idle connections hold no buffer.
                b.data.reset();
                b.begin = b.end = 0;
            } else if (b.end == kBufferSize && b.begin > 0) {
                std::memmove(b.data.get(), b.data.get() + b.begin, b.end - b.begin);
                b.end -= b.begin;
                b.begin = 0;
            }
            if (!progress)
                break;
        }
        if (to_ready && from.read_eof && b.empty() && !to.write_shut) {
            ::shutdown(to.fd, SHUT_WR);
            to.write_shut = true;
        }
    }
    if (!c.closed && c.sides[0].write_shut && c.sides[1].write_shut) {
        close_conn(c, ConnEnd::Completed, "");
    }
}

void StreamRelay::close_conn(Conn& c, ConnEnd end, const std::string& problem)
{
    if (c.closed)
        return;
    c.closed = true;
    (end == ConnEnd::Completed ? m_stats.completed : end == ConnEnd::Refused ? m_stats.refused
        : end == ConnEnd::Idle                      ? m_stats.idle_closed
                                                    : m_stats.failed)++;
    if (!problem.empty()) {
        m_log(c.listener->name + ": connection #" + std::to_string(c.id) + (c.target.empty() ? "" : " to " + c.target) + ": " + problem);
    }
    for (Side& s : c.sides) {
        if (s.fd < 0)
            continue;
        ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, s.fd, nullptr);
        ::close(s.fd);
        s.fd = -1;
    }
    std::size_t index = c.index;
    std::unique_ptr<Conn> mine = std::move(m_conns[index]);
    if (index + 1 != m_conns.size()) {
        m_conns[index] = std::move(m_conns.back());
        m_conns[index]->index = index;
    }
    m_conns.pop_back();
    m_closed.push_back(std::move(mine));
    m_stats.open = m_conns.size();
    for (auto& l : m_listeners) {
        if (!l->paused)
            continue;
        epoll_event ev {};
        ev.events = EPOLLIN;
        ev.data.ptr = &l->handle;
        ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, l->fd, &ev);
        l->paused = false;
    }
}

void StreamRelay::sweep_idle(std::int64_t now_ms)
{
    // close_conn reorders m_conns: collect first.
    std::vector<Conn*> idle;
    for (auto& c : m_conns)
        if (now_ms - c->last_ms >= m_limits.idle_timeout_ms)
            idle.push_back(c.get());
    for (Conn* c : idle)
        close_conn(*c, ConnEnd::Idle, "closed: idle for " + std::to_string((now_ms - c->last_ms) / 1000) + " s (the idle timeout)");
}

} // namespace relay
