#include "vmm/vsock/vsock_muxer.h"

#include "base/error.h"
#include "base/unix_address.h"

#include <cerrno>
#include <cstring>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace vmm::vsock {

namespace {

using Clock = std::chrono::steady_clock;

// "CONNECT <port>" (Firecracker's rules: keyword case-insensitive, whitespace separated).
bool parse_connect_line(const std::string& line, std::uint32_t& port)
{
    char keyword[16];
    char rest[32];
    unsigned long value = 0;
    char extra[2];
    if (line.size() > 31 || std::sscanf(line.c_str(), "%15s %31s %1s", keyword, rest, extra) != 2)
        return false;
    if (strcasecmp(keyword, "connect") != 0)
        return false;
    char* end = nullptr;
    errno = 0;
    value = std::strtoul(rest, &end, 10);
    if (errno || *end || rest[0] < '0' || rest[0] > '9' || value > 0xffff'ffffull)
        return false;
    port = static_cast<std::uint32_t>(value);
    return true;
}

} // namespace

VsockMuxer::VsockMuxer(MuxerConfig config, int epoll_fd)
    : m_config(std::move(config))
    , m_epoll(epoll_fd)
{
    // Count what the services report (the callbacks run on the loop thread, like us).
    m_config.services.on_heartbeat = [this, callback = m_config.services.on_heartbeat] {
        ++m_stats.heartbeats;
        if (callback)
            callback();
    };
    m_config.services.on_app_status = [this, callback = m_config.services.on_app_status](const guest_init::StatusRecord& r) {
        ++m_stats.status_records;
        if (callback)
            callback(r);
    };
    if (m_config.uds_path.empty())
        return;
    sockaddr_un address;
    if (!base::unix_address(m_config.uds_path, address))
        throw base::Error(base::ErrorKind::InvalidInput, "VSOCK_SOCKET_PATH",
            "vsock socket path is empty or longer than 107 bytes: " + m_config.uds_path + "; use a shorter run directory");
    m_listener.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!m_listener.valid())
        base::throw_errno("VSOCK_SOCKET", "cannot create the vsock socket", m_config.uds_path);
    ::unlink(m_config.uds_path.c_str());
    if (::bind(m_listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        base::throw_errno("VSOCK_SOCKET", "cannot bind the vsock socket", m_config.uds_path);
    if (::listen(m_listener.get(), 128) != 0)
        base::throw_errno("VSOCK_SOCKET", "cannot listen on the vsock socket", m_config.uds_path);
    epoll_event e {};
    e.events = EPOLLIN;
    e.data.u64 = kListenerToken;
    if (::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_listener.get(), &e) != 0)
        base::throw_errno("VSOCK_EPOLL", "cannot watch the vsock socket", m_config.uds_path);
}

VsockMuxer::~VsockMuxer()
{
    reset();
    for (auto& [token, h] : m_handshakes)
        ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, h.fd.get(), nullptr);
    if (m_listener.valid()) {
        ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, m_listener.get(), nullptr);
        ::unlink(m_config.uds_path.c_str());
    }
}

std::size_t VsockMuxer::buffered_bytes() const
{
    std::size_t total = 0;
    for (const auto& [key, c] : m_connections)
        total += c->to_host.size() + c->handshake_out.size();
    return total;
}

Connection* VsockMuxer::find(std::uint64_t key)
{
    auto it = m_connections.find(key);
    return it == m_connections.end() ? nullptr : it->second.get();
}

// --- guest → device ---------------------------------------------------------------------------

void VsockMuxer::handle_guest_packet(const PacketHeader& h, const std::vector<virtio::BufferSegment>& segments)
{
    if (h.src_cid != m_config.guest_cid) {
        ++m_stats.malformed_packets; // a driver must use its own CID; nowhere to answer
        return;
    }
    bool to_parent = h.dst_cid == kParentCid || h.dst_cid == kHostCid;
    if (!to_parent || h.type != kTypeStream) {
        if (h.op != kOpRst)
            queue_rst(h.dst_cid, h.dst_port, h.src_port, true);
        return;
    }
    std::uint64_t key = Connection::make_key(h.src_port, h.dst_port);
    Connection* c = find(key);
    if (!c) {
        if (h.op == kOpRequest)
            connect_to_parent(h);
        else if (h.op != kOpRst)
            queue_rst(h.dst_cid, h.dst_port, h.src_port, true);
        return;
    }
    // Every packet carries the sender's credit.
    bool had_credit = c->peer_credit() > 0;
    c->peer_buf_alloc = h.buf_alloc;
    c->peer_fwd_cnt = h.fwd_cnt;
    if (!had_credit && c->peer_credit() > 0) {
        c->credit_requested = false;
        update_interest(*c);
        if (c->has_host_data())
            schedule(*c);
    }
    std::size_t available = 0;
    for (const virtio::BufferSegment& s : segments)
        available += s.length;
    if (h.op == kOpRw && (h.len > kMaxPacketPayload || available < kHeaderSize + std::size_t(h.len))) {
        ++m_stats.malformed_packets;
        kill(*c);
        return;
    }

    switch (h.op) {
    case kOpResponse:
        if (c->state != Connection::State::LocalInit) {
            kill(*c);
            return;
        }
        c->state = Connection::State::Established;
        c->deadline = {};
        c->handshake_out = "OK " + std::to_string(c->host_port) + "\n";
        ++m_stats.connections_total;
        flush_to_host(*c);
        if (Connection* still = find(key))
            update_interest(*still);
        return;
    case kOpRst:
        remove(*c);
        return;
    case kOpShutdown:
        if (h.flags & kShutdownReceive)
            c->peer_no_recv = true;
        if (h.flags & kShutdownSend)
            c->peer_no_send = true;
        if (c->peer_no_recv && c->peer_no_send && c->deadline == Clock::time_point {})
            c->deadline = Clock::now() + kLingerTimeout;
        check_finished(*c);
        return;
    case kOpRw:
        if (c->state != Connection::State::Established || c->peer_no_send) {
            kill(*c);
            return;
        }
        if (!c->fits_credit(h.len)) {
            ++m_stats.credit_violations;
            kill(*c);
            return;
        }
        deliver_to_host(*c, segments, h.len);
        return;
    case kOpCreditUpdate:
        return; // the credit fields were applied above
    case kOpCreditRequest:
        c->pending |= kPendCreditUpdate;
        schedule(*c);
        return;
    default: // REQUEST on an open connection, or an unknown op
        kill(*c);
        return;
    }
}

void VsockMuxer::connect_to_parent(const PacketHeader& h)
{
    if (m_connections.size() >= kMaxConnections) {
        ++m_stats.refused_connections;
        queue_rst(h.dst_cid, h.dst_port, h.src_port, true);
        return;
    }
    std::unique_ptr<LocalService> service = make_local_service(h.dst_port, m_config.services);
    base::UniqueFd fd;
    if (!service) {
        sockaddr_un address;
        if (m_config.uds_path.empty() || !base::unix_address(m_config.uds_path + "_" + std::to_string(h.dst_port), address)) {
            queue_rst(h.dst_cid, h.dst_port, h.src_port, true);
            return;
        }
        fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        // Non-blocking: a full backlog gives EAGAIN (→ RST) instead of stalling the loop.
        if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            queue_rst(h.dst_cid, h.dst_port, h.src_port, true);
            return;
        }
    }
    Connection* c = add_connection(h.src_port, h.dst_port, h.dst_cid);
    c->peer_buf_alloc = h.buf_alloc;
    c->peer_fwd_cnt = h.fwd_cnt;
    c->service = std::move(service);
    c->fd = std::move(fd);
    c->state = Connection::State::Established;
    c->pending |= kPendResponse;
    ++m_stats.connections_total;
    update_interest(*c);
    schedule(*c);
}

Connection* VsockMuxer::add_connection(std::uint32_t guest_port, std::uint32_t host_port, std::uint64_t peer_cid)
{
    auto c = std::make_unique<Connection>();
    c->guest_port = guest_port;
    c->host_port = host_port;
    c->peer_cid = peer_cid;
    c->token = m_next_token++;
    Connection* raw = c.get();
    m_token_to_key[raw->token] = raw->key();
    m_connections[raw->key()] = std::move(c);
    m_stats.connections = m_connections.size();
    return raw;
}

void VsockMuxer::remove(Connection& c)
{
    if (c.registered)
        ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, c.fd.get(), nullptr);
    m_token_to_key.erase(c.token);
    m_connections.erase(c.key()); // destroys c (closes the Unix socket)
    m_stats.connections = m_connections.size();
}

void VsockMuxer::kill(Connection& c)
{
    queue_rst(c.peer_cid, c.host_port, c.guest_port, false);
    remove(c);
}

void VsockMuxer::queue_rst(std::uint64_t src_cid, std::uint32_t src_port, std::uint32_t dst_port, bool unsolicited)
{
    std::size_t limit = unsolicited ? kMaxUnsolicitedRsts : kMaxUnsolicitedRsts + kMaxConnections;
    if (m_rsts.size() >= limit) {
        ++m_stats.rsts_dropped;
        return;
    }
    PacketHeader h;
    h.src_cid = src_cid;
    h.dst_cid = m_config.guest_cid;
    h.src_port = src_port;
    h.dst_port = dst_port;
    h.type = kTypeStream;
    h.op = kOpRst;
    m_rsts.push_back(h);
}

void VsockMuxer::schedule(Connection& c)
{
    if (c.in_rx_queue)
        return;
    c.in_rx_queue = true;
    m_rx_queue.push_back(c.key());
}

void VsockMuxer::deliver_to_host(Connection& c, const std::vector<virtio::BufferSegment>& segments, std::uint32_t length)
{
    c.rx_cnt += length;
    m_stats.bytes_to_host += length;
    if (c.service) {
        std::vector<std::uint8_t> bytes(length);
        virtio::copy_from_segments(segments, kHeaderSize, bytes.data(), length);
        c.fwd_cnt += length;
        if (!c.service->receive(bytes.data(), length)) {
            kill(c);
            return;
        }
        if (!c.service->output().empty())
            schedule(c);
        return;
    }
    std::size_t offset = 0;
    if (c.to_host.empty() && c.handshake_out.empty() && !c.shut_wr_done) {
        // Fast path: straight from guest memory into the socket.
        virtio::segments_to_iovecs(segments, kHeaderSize, length, m_iov);
        msghdr msg {};
        msg.msg_iov = m_iov.data();
        msg.msg_iovlen = m_iov.size();
        ssize_t n = m_iov.empty() ? 0 : ::sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            kill(c); // the parent is gone
            return;
        }
        if (n > 0) {
            offset = static_cast<std::size_t>(n);
            c.fwd_cnt += static_cast<std::uint32_t>(n);
        }
    }
    if (offset < length) {
        // Bounded by the credit check: rx_cnt - fwd_cnt <= kConnectionBuffer.
        std::size_t rest = length - offset;
        std::vector<std::uint8_t> tmp(rest);
        virtio::copy_from_segments(segments, kHeaderSize + offset, tmp.data(), rest);
        c.to_host.append(tmp.data(), rest);
    }
    after_consumed(c); // may end the connection
}

void VsockMuxer::flush_to_host(Connection& c)
{
    while (!c.handshake_out.empty()) {
        ssize_t n = ::send(c.fd.get(), c.handshake_out.data(), c.handshake_out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            kill(c);
            return;
        }
        c.handshake_out.erase(0, static_cast<std::size_t>(n));
    }
    std::uint32_t consumed = 0;
    while (!c.to_host.empty()) {
        ssize_t n = ::send(c.fd.get(), c.to_host.data(), c.to_host.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            kill(c);
            return;
        }
        c.to_host.consume(static_cast<std::size_t>(n));
        consumed += static_cast<std::uint32_t>(n);
    }
    if (consumed) {
        c.fwd_cnt += consumed;
        after_consumed(c);
    } else {
        update_interest(c);
    }
}

// We consumed guest bytes: tell the guest when its view of our buffer has shrunk to half.
void VsockMuxer::after_consumed(Connection& c)
{
    if (c.fwd_cnt != c.last_fwd_cnt_sent && c.advertised_free() < kConnectionBuffer / 2) {
        c.pending |= kPendCreditUpdate;
        schedule(c);
    }
    check_finished(c);
}

// Applies the guest's SHUTDOWN once our buffer toward the parent is empty; ends the connection
// when neither side will send any more.
void VsockMuxer::check_finished(Connection& c)
{
    if (!c.to_host.empty() || !c.handshake_out.empty()) {
        update_interest(c); // EPOLLOUT: the rest goes when the parent's socket has room
        return;
    }
    if (c.peer_no_send && !c.shut_wr_done && c.fd.valid()) {
        ::shutdown(c.fd.get(), SHUT_WR);
        c.shut_wr_done = true;
    }
    bool host_done = c.local_eof || c.peer_no_recv || (c.service && c.service->output().empty());
    if (c.peer_no_send && host_done) {
        kill(c); // the final RST of a clean close
        return;
    }
    update_interest(c);
}

void VsockMuxer::update_interest(Connection& c)
{
    if (!c.fd.valid() || c.hung_up)
        return;
    std::uint32_t want = 0;
    if (c.state == Connection::State::Established) {
        if (!c.host_readable && !c.local_eof && !c.peer_no_recv && c.peer_credit() > 0)
            want |= EPOLLIN;
        if (!c.to_host.empty() || !c.handshake_out.empty())
            want |= EPOLLOUT;
    }
    if (c.registered && want == c.interest)
        return;
    epoll_event e {};
    e.events = want;
    e.data.u64 = c.token;
    if (::epoll_ctl(m_epoll, c.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd.get(), &e) == 0) {
        c.registered = true;
        c.interest = want;
    }
}

// --- parent side ------------------------------------------------------------------------------

void VsockMuxer::handle_event(std::uint64_t token, std::uint32_t events)
{
    if (token == kListenerToken) {
        accept_parents();
        return;
    }
    if (m_handshakes.count(token)) {
        read_connect_line(token);
        return;
    }
    auto it = m_token_to_key.find(token);
    if (it == m_token_to_key.end())
        return; // a connection closed since epoll_wait returned
    std::uint64_t key = it->second;
    Connection* c = find(key);
    if (!c)
        return;
    if (events & EPOLLERR) {
        kill(*c);
        return;
    }
    if (events & EPOLLOUT) {
        flush_to_host(*c);
        c = find(key);
        if (!c)
            return;
    }
    if (events & EPOLLHUP) {
        // The parent closed both ways. Stop watching (HUP never clears); whatever it sent is
        // still readable and ends in EOF.
        if (!c->to_host.empty()) {
            kill(*c);
            return;
        }
        if (c->registered)
            ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, c->fd.get(), nullptr);
        c->registered = false;
        c->hung_up = true;
        if (c->state == Connection::State::Established && !c->peer_no_recv)
            c->host_readable = true;
        else if (c->state == Connection::State::Established)
            c->local_eof = true;
    }
    if (events & EPOLLIN)
        c->host_readable = true;
    if (c->has_host_data())
        schedule(*c);
    check_finished(*c);
}

void VsockMuxer::accept_parents()
{
    for (;;) {
        int fd = ::accept4(m_listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        base::UniqueFd owned(fd);
        if (m_handshakes.size() >= kMaxHandshakes)
            continue; // closed: too many parents that have not said CONNECT yet
        std::uint64_t token = m_next_token++;
        epoll_event e {};
        e.events = EPOLLIN;
        e.data.u64 = token;
        if (::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &e) != 0)
            continue;
        m_handshakes[token] = Handshake { std::move(owned), Clock::now() + kConnectTimeout };
    }
}

void VsockMuxer::read_connect_line(std::uint64_t token)
{
    Handshake& h = m_handshakes[token];
    char buffer[32];
    // Peek, then consume exactly the line: bytes after it belong to the stream.
    ssize_t n = ::recv(h.fd.get(), buffer, sizeof buffer, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    auto drop = [&] {
        ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, h.fd.get(), nullptr);
        m_handshakes.erase(token);
    };
    if (n <= 0) {
        drop();
        return;
    }
    auto* newline = static_cast<char*>(std::memchr(buffer, '\n', static_cast<std::size_t>(n)));
    if (!newline) {
        if (n == sizeof buffer)
            drop(); // no CONNECT line fits in 32 bytes
        return;
    }
    std::size_t line_length = static_cast<std::size_t>(newline - buffer) + 1;
    [[maybe_unused]] ssize_t consumed = ::recv(h.fd.get(), buffer, line_length, MSG_DONTWAIT);
    std::uint32_t port = 0;
    if (!parse_connect_line(std::string(buffer, line_length - 1), port) || m_connections.size() >= kMaxConnections) {
        if (m_connections.size() >= kMaxConnections)
            ++m_stats.refused_connections;
        drop();
        return;
    }
    ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, h.fd.get(), nullptr);
    base::UniqueFd fd = std::move(h.fd);
    m_handshakes.erase(token);

    Connection* c = add_connection(port, allocate_host_port(port), kParentCid);
    c->fd = std::move(fd);
    c->state = Connection::State::LocalInit;
    c->deadline = Clock::now() + kConnectTimeout;
    c->pending |= kPendRequest;
    update_interest(*c);
    schedule(*c);
}

std::uint32_t VsockMuxer::allocate_host_port(std::uint32_t guest_port)
{
    for (;;) {
        std::uint32_t port = m_next_host_port;
        m_next_host_port = m_next_host_port + 1 >= (1u << 31) ? kFirstLocalPort : m_next_host_port + 1;
        if (!m_connections.count(Connection::make_key(guest_port, port)))
            return port; // at most kMaxConnections ports are taken, so this ends quickly
    }
}

bool VsockMuxer::sweep(Clock::time_point now)
{
    bool any = false;
    for (auto it = m_handshakes.begin(); it != m_handshakes.end();) {
        if (it->second.deadline <= now) {
            ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, it->second.fd.get(), nullptr);
            it = m_handshakes.erase(it);
        } else {
            any = true;
            ++it;
        }
    }
    std::vector<std::uint64_t> expired;
    for (auto& [key, c] : m_connections) {
        if (c->deadline == Clock::time_point {})
            continue;
        if (c->deadline <= now)
            expired.push_back(key);
        else
            any = true;
    }
    for (std::uint64_t key : expired) {
        if (Connection* c = find(key))
            kill(*c);
    }
    return any;
}

void VsockMuxer::reset()
{
    while (!m_connections.empty())
        remove(*m_connections.begin()->second);
    m_rx_queue.clear();
    m_rsts.clear();
    m_token_to_key.clear();
}

// --- device → guest ---------------------------------------------------------------------------

PacketHeader VsockMuxer::header_for(const Connection& c, std::uint16_t op)
{
    PacketHeader h;
    h.src_cid = c.peer_cid;
    h.dst_cid = m_config.guest_cid;
    h.src_port = c.host_port;
    h.dst_port = c.guest_port;
    h.type = kTypeStream;
    h.op = op;
    h.buf_alloc = kConnectionBuffer;
    h.fwd_cnt = c.fwd_cnt;
    return h;
}

std::size_t VsockMuxer::fill_rx_buffer(const std::vector<virtio::BufferSegment>& writable, std::size_t capacity)
{
    std::uint8_t bytes[kHeaderSize];
    m_buffer_too_small = false;
    if (capacity < kHeaderSize)
        return 0;
    if (!m_rsts.empty()) {
        m_rsts.front().encode(bytes);
        m_rsts.pop_front();
        ++m_stats.rsts_sent;
        virtio::copy_to_segments(writable, 0, bytes, kHeaderSize);
        return kHeaderSize;
    }
    // Each queued connection gets at most one look per call: one that cannot use this buffer
    // (data, but the buffer has no room past the header) goes back in line without looping.
    for (std::size_t looks = m_rx_queue.size(); looks > 0 && !m_rx_queue.empty(); --looks) {
        std::uint64_t key = m_rx_queue.front();
        m_rx_queue.pop_front();
        Connection* c = find(key);
        if (!c)
            continue;
        c->in_rx_queue = false;

        std::size_t length = kHeaderSize;
        PacketHeader h;
        bool send = true;
        if (c->pending & kPendResponse) {
            c->pending &= ~kPendResponse;
            h = header_for(*c, kOpResponse);
        } else if (c->pending & kPendRequest) {
            c->pending &= ~kPendRequest;
            h = header_for(*c, kOpRequest);
        } else if (c->pending & kPendCreditUpdate) {
            c->pending &= ~kPendCreditUpdate;
            h = header_for(*c, kOpCreditUpdate);
        } else if (c->state == Connection::State::Established && c->has_host_data() && c->peer_credit() > 0
            && capacity > kHeaderSize) {
            std::size_t room = std::min<std::size_t>({ capacity - kHeaderSize, c->peer_credit(), kMaxPacketPayload });
            std::size_t n = 0;
            if (c->service) {
                std::string& out = c->service->output();
                n = virtio::copy_to_segments(writable, kHeaderSize, out.data(), std::min(room, out.size()));
                out.erase(0, n);
            } else {
                virtio::segments_to_iovecs(writable, kHeaderSize, room, m_iov);
                msghdr msg {};
                msg.msg_iov = m_iov.data();
                msg.msg_iovlen = m_iov.size();
                ssize_t r = m_iov.empty() ? -1 : ::recvmsg(c->fd.get(), &msg, MSG_DONTWAIT);
                if (r > 0) {
                    n = static_cast<std::size_t>(r);
                    // Probably drained: let epoll tell us about more. Not after a hang-up: the
                    // socket is out of the epoll set and its end-of-file is still to be read.
                    if (n < room && !c->hung_up)
                        c->host_readable = false;
                } else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                    if (r < 0 && errno != ECONNRESET) {
                        kill(*c);
                        continue;
                    }
                    c->local_eof = true; // the parent will send no more: half-close toward the guest
                    c->host_readable = false;
                    c->pending |= kPendShutdown;
                } else {
                    c->host_readable = false;
                }
            }
            if (n) {
                h = header_for(*c, kOpRw);
                h.len = static_cast<std::uint32_t>(n);
                c->tx_cnt += h.len;
                m_stats.bytes_to_guest += n;
                length += n;
            } else if (c->pending & kPendShutdown) {
                c->pending &= ~kPendShutdown;
                h = header_for(*c, kOpShutdown);
                h.flags = kShutdownSend;
            } else {
                send = false;
            }
        } else if (c->pending & kPendShutdown) {
            c->pending &= ~kPendShutdown;
            h = header_for(*c, kOpShutdown);
            h.flags = kShutdownSend;
        } else if (c->state == Connection::State::Established && c->has_host_data() && c->peer_credit() > 0) {
            m_buffer_too_small = true; // data waits, but this buffer has no room past the header
            send = false;
        } else if (c->state == Connection::State::Established && c->has_host_data() && c->peer_credit() == 0
            && !c->credit_requested) {
            c->credit_requested = true;
            h = header_for(*c, kOpCreditRequest);
        } else {
            send = false;
        }

        if (send) {
            c->last_fwd_cnt_sent = c->fwd_cnt;
            h.encode(bytes);
            virtio::copy_to_segments(writable, 0, bytes, kHeaderSize);
        }
        // More to say? Back of the line (round-robin between connections).
        if (c->pending || (c->state == Connection::State::Established && c->has_host_data() && (c->peer_credit() > 0 || !c->credit_requested)))
            schedule(*c);
        check_finished(*c); // may remove c
        if (Connection* still = find(key))
            update_interest(*still);
        if (send)
            return length;
    }
    return 0;
}

} // namespace vmm::vsock
