#include "tools/qt-vmm/byte_relay.h"

#include "base/error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace qtvmm {

namespace {

constexpr std::size_t kMaxOkLine = 64;

int write_fd_of(const ByteRelay::Side& side)
{
    return side.write_fd.valid() ? side.write_fd.get() : side.read_fd.get();
}

} // namespace

ByteRelay::Side ByteRelay::Side::socket(base::UniqueFd fd)
{
    Side side;
    side.read_fd = std::move(fd);
    side.is_socket = true;
    return side;
}

ByteRelay::Side ByteRelay::Side::stdio()
{
    // The descriptors themselves, not duplicates: closing stdout is how its reader learns that
    // the enclave closed its side.
    Side side;
    side.read_fd.reset(0);
    side.write_fd.reset(1);
    return side;
}

struct ByteRelay::Direction {
    Side* from { nullptr };
    Side* to { nullptr };
    std::string buffer;
    bool eof { false };      // `from` reached end-of-file
    bool shut { false };     // ... and that was passed on to `to`
};

struct ByteRelay::Link {
    Side a;
    Side b;
    Direction a_to_b;
    Direction b_to_a;
    bool awaiting_ok { false };
    std::string ok_line;
    OnEnd on_end;
    bool ended { false };
};

ByteRelay::ByteRelay() = default;
ByteRelay::~ByteRelay() = default;

void ByteRelay::add_link(Side a, Side b, bool b_awaits_ok, OnEnd on_end)
{
    auto link = std::make_unique<Link>();
    link->a = std::move(a);
    link->b = std::move(b);
    link->a_to_b.from = &link->a;
    link->a_to_b.to = &link->b;
    link->b_to_a.from = &link->b;
    link->b_to_a.to = &link->a;
    link->awaiting_ok = b_awaits_ok;
    link->on_end = std::move(on_end);
    m_links.push_back(std::move(link));
}

void ByteRelay::watch(int fd, OnReadable on_readable)
{
    m_watched.emplace_back(fd, std::move(on_readable));
}

void ByteRelay::poll_once(int timeout_ms)
{
    // Per link four entries (A read, B write, B read, A write); -1 where nothing is wanted.
    std::vector<pollfd> fds;
    fds.reserve(m_watched.size() + 4 * m_links.size());
    for (auto& [fd, callback] : m_watched)
        fds.push_back(pollfd { fd, POLLIN, 0 });
    auto want = [&fds](int fd, short events) { fds.push_back(pollfd { events ? fd : -1, events, 0 }); };
    for (auto& link : m_links) {
        for (Direction* d : { &link->a_to_b, &link->b_to_a }) {
            bool may_read = !link->awaiting_ok || d == &link->b_to_a;
            want(d->from->read_fd.get(), (may_read && !d->eof && d->buffer.size() < kBufferSize) ? POLLIN : 0);
            want(write_fd_of(*d->to), d->buffer.empty() ? 0 : POLLOUT);
        }
    }
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n <= 0)
        return;
    std::size_t i = 0;
    std::size_t watched = m_watched.size();
    for (; i < watched; ++i)
        if (fds[i].revents)
            m_watched[i].second();
    // Links added by the callbacks above have no entries yet: only walk the first ones.
    std::size_t polled_links = (fds.size() - watched) / 4;
    for (std::size_t l = 0; l < polled_links; ++l) {
        Link& link = *m_links[l];
        short a_read = fds[i].revents, b_write = fds[i + 1].revents, b_read = fds[i + 2].revents, a_write = fds[i + 3].revents;
        i += 4;
        if (link.awaiting_ok) {
            if (b_read && !read_ok_line(link))
                continue;
            if (link.awaiting_ok)
                continue;
        }
        // A socket that hung up (both directions closed, e.g. the enclave ended) takes no more
        // bytes: what would go to it is dropped and that direction ends.
        for (Direction* d : { &link.a_to_b, &link.b_to_a }) {
            short to_events = d == &link.a_to_b ? (b_read | b_write) : (a_read | a_write);
            if (d->to->is_socket && (to_events & POLLHUP) && !d->shut) {
                d->eof = d->shut = true;
                d->buffer.clear();
            }
        }
        pump(link, link.a_to_b, a_read, b_write);
        if (!link.ended)
            pump(link, link.b_to_a, b_read, a_write);
        if (!link.ended && link.a_to_b.shut && link.b_to_a.shut)
            end_link(link, "");
    }
    std::vector<std::unique_ptr<Link>> ended;
    for (auto& link : m_links)
        if (link->ended)
            ended.push_back(std::move(link));
    std::erase_if(m_links, [](const std::unique_ptr<Link>& link) { return !link; });
    for (auto& link : ended)
        link.reset(); // closes its descriptors
}

bool ByteRelay::read_ok_line(Link& link)
{
    char chunk[kMaxOkLine];
    ssize_t n = ::read(link.b.read_fd.get(), chunk, sizeof chunk);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0) {
        end_link(link, "the enclave refused the connection: nothing listens on that port in the enclave, or it did not accept within 2 s");
        return false;
    }
    link.ok_line.append(chunk, static_cast<std::size_t>(n));
    std::size_t newline = link.ok_line.find('\n');
    if (newline == std::string::npos) {
        if (link.ok_line.size() >= kMaxOkLine) {
            end_link(link, "unexpected answer from the vsock socket (not \"OK <port>\")");
            return false;
        }
        return true;
    }
    if (link.ok_line.compare(0, 3, "OK ") != 0) {
        end_link(link, "unexpected answer from the vsock socket: " + link.ok_line.substr(0, newline));
        return false;
    }
    link.b_to_a.buffer = link.ok_line.substr(newline + 1); // the stream's first bytes
    link.ok_line.clear();
    link.awaiting_ok = false;
    return true;
}

void ByteRelay::pump(Link& link, Direction& d, short read_events, short write_events)
{
    if (read_events && !d.eof && d.buffer.size() < kBufferSize) {
        std::size_t old = d.buffer.size();
        d.buffer.resize(kBufferSize);
        ssize_t n = ::read(d.from->read_fd.get(), d.buffer.data() + old, kBufferSize - old);
        d.buffer.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
        if (n == 0) {
            d.eof = true;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            end_link(link, std::string("read failed: ") + std::strerror(errno));
            return;
        }
    }
    (void)write_events; // writing is tried whenever bytes wait: most of the time it succeeds at once
    if (!d.buffer.empty()) {
        int fd = write_fd_of(*d.to);
        ssize_t n = d.to->is_socket ? ::send(fd, d.buffer.data(), d.buffer.size(), MSG_NOSIGNAL | MSG_DONTWAIT)
                                    : ::write(fd, d.buffer.data(), d.buffer.size());
        if (n > 0) {
            d.buffer.erase(0, static_cast<std::size_t>(n));
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            end_link(link, std::string("write failed: ") + std::strerror(errno));
            return;
        }
    }
    if (d.eof && d.buffer.empty() && !d.shut) {
        d.shut = true;
        if (d.to->is_socket)
            ::shutdown(write_fd_of(*d.to), SHUT_WR);
        else if (d.to->write_fd.valid())
            d.to->write_fd.reset();
    }
}

void ByteRelay::end_link(Link& link, const std::string& problem)
{
    if (link.ended)
        return;
    link.ended = true;
    if (link.on_end)
        link.on_end(problem);
}

} // namespace qtvmm
