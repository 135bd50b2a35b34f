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
    m_context.epoll_fd = m_epoll;
    m_context.guest_cid = m_config.guest_cid;
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
        total += c->buffered_bytes();
    return total;
}

Connection* VsockMuxer::find(std::uint64_t key)
{
    auto it = m_connections.find(key);
    return it == m_connections.end() ? nullptr : it->second.get();
}

std::vector<std::string> VsockMuxer::describe() const
{
    std::vector<std::string> lines;
    for (const auto& [key, c] : m_connections) {
        if (lines.size() == kDescribedConnections) {
            lines.push_back("connections not shown: " + std::to_string(m_connections.size() - kDescribedConnections));
            break;
        }
        lines.push_back("connection " + c->describe());
    }
    lines.push_back("muxer rx_queue=" + std::to_string(m_rx_queue.size()) + " rsts=" + std::to_string(m_rsts.size())
        + " handshakes=" + std::to_string(m_handshakes.size()) + " listener_pauses=" + std::to_string(m_listener_pauses)
        + (m_listener_paused_until != Clock::time_point {} ? " (paused: out of file descriptors)" : ""));
    return lines;
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
    Connection* c = find(Connection::make_key(h.src_port, h.dst_port));
    if (!c) {
        if (h.op == kOpRequest)
            connect_to_parent(h);
        else if (h.op != kOpRst)
            queue_rst(h.dst_cid, h.dst_port, h.src_port, true);
        return;
    }
    c->recv_pkt(h, segments);
    settle(*c);
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
    if (!service && m_config.connect_parent) {
        fd = m_config.connect_parent(h.dst_port);
        if (!fd.valid()) {
            queue_rst(h.dst_cid, h.dst_port, h.src_port, true);
            return;
        }
    } else if (!service) {
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
    add(Connection::accepted_from_guest(m_context, h, m_next_token++, std::move(fd), std::move(service)));
}

void VsockMuxer::add(std::unique_ptr<Connection> c)
{
    Connection& added = *c;
    m_token_to_key[added.token()] = added.key();
    m_connections[added.key()] = std::move(c);
    m_stats.connections = m_connections.size();
    settle(added);
}

bool VsockMuxer::settle(Connection& c)
{
    if (c.state() == Connection::State::Killed)
        queue_rst(c.peer_cid(), c.host_port(), c.guest_port(), false);
    if (c.ended()) {
        remove(c);
        return false;
    }
    if (c.take_rx_request())
        schedule(c);
    return true;
}

void VsockMuxer::remove(Connection& c)
{
    m_token_to_key.erase(c.token());
    m_connections.erase(c.key()); // destroys c (leaves the epoll set, closes the Unix socket)
    m_stats.connections = m_connections.size();
}

void VsockMuxer::queue_rst(std::uint64_t src_cid, std::uint32_t src_port, std::uint32_t dst_port, bool unsolicited)
{
    std::size_t limit = unsolicited ? kMaxUnsolicitedRsts : kMaxUnsolicitedRsts + kMaxConnections;
    if (m_rsts.size() >= limit) {
        ++m_stats.rsts_dropped;
        return;
    }
    m_rsts.push_back(PacketHeader::stream(src_cid, src_port, m_config.guest_cid, dst_port, kOpRst));
}

void VsockMuxer::schedule(Connection& c)
{
    if (c.in_rx_queue)
        return;
    c.in_rx_queue = true;
    m_rx_queue.push_back(c.key());
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
    Connection* c = find(it->second);
    if (!c)
        return;
    c->notify(events);
    settle(*c);
}

void VsockMuxer::accept_parents()
{
    for (;;) {
        int fd = ::accept4(m_listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_listener(); // else the listener stays readable and wakes us in a loop
            return;
        }
        base::UniqueFd owned(fd);
        if (m_handshakes.size() >= kMaxHandshakes)
            continue; // closed: too many parents that have not said CONNECT yet
        std::uint64_t token = m_next_token++;
        epoll_event e {};
        e.events = EPOLLIN;
        e.data.u64 = token;
        if (::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &e) != 0)
            continue;
        m_handshakes[token] = Handshake { std::move(owned), Clock::now() + kConnectTimeout, {} };
    }
}

void VsockMuxer::pause_listener()
{
    epoll_event e {};
    e.data.u64 = kListenerToken;
    ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, m_listener.get(), &e); // no events until sweep() re-arms it
    m_listener_paused_until = Clock::now() + kListenerPause;
    ++m_listener_pauses;
}

void VsockMuxer::read_connect_line(std::uint64_t token)
{
    Handshake& h = m_handshakes[token];
    char buffer[kMaxConnectLine];
    std::size_t room = kMaxConnectLine - h.line.size();
    // Peek to find the end of the line, then consume exactly up to it (bytes after the line
    // belong to the stream); without a newline everything read is part of the line. Either way
    // the bytes leave the socket, so it wakes us again only when new ones arrive.
    ssize_t n = ::recv(h.fd.get(), buffer, room, MSG_PEEK | MSG_DONTWAIT);
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
    std::size_t take = newline ? static_cast<std::size_t>(newline - buffer) + 1 : static_cast<std::size_t>(n);
    ssize_t consumed = ::recv(h.fd.get(), buffer, take, MSG_DONTWAIT);
    if (consumed != static_cast<ssize_t>(take)) {
        drop();
        return;
    }
    h.line.append(buffer, take);
    if (!newline) {
        if (h.line.size() >= kMaxConnectLine)
            drop(); // no CONNECT line is that long
        return;
    }
    std::uint32_t port = 0;
    if (!parse_connect_line(h.line.substr(0, h.line.size() - 1), port) || m_connections.size() >= kMaxConnections) {
        if (m_connections.size() >= kMaxConnections)
            ++m_stats.refused_connections;
        drop();
        return;
    }
    ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, h.fd.get(), nullptr);
    base::UniqueFd fd = std::move(h.fd);
    m_handshakes.erase(token);
    std::uint32_t host_port = allocate_host_port(port);
    add(Connection::requested_by_parent(m_context, port, host_port, m_next_token++, std::move(fd)));
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
    if (m_listener_paused_until != Clock::time_point {}) {
        if (m_listener_paused_until <= now) {
            epoll_event e {};
            e.events = EPOLLIN;
            e.data.u64 = kListenerToken;
            ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, m_listener.get(), &e);
            m_listener_paused_until = {};
        } else {
            any = true;
        }
    }
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
        if (!c->has_deadline())
            continue;
        if (c->expired(now))
            expired.push_back(key);
        else
            any = true;
    }
    for (std::uint64_t key : expired) {
        if (Connection* c = find(key)) {
            c->kill();
            settle(*c);
        }
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

std::size_t VsockMuxer::rx_bytes_wanted() const
{
    if (!m_rsts.empty() || m_rx_queue.empty())
        return 0;
    auto it = m_connections.find(m_rx_queue.front());
    return it == m_connections.end() ? 0 : it->second->data_wanted();
}

std::size_t VsockMuxer::fill_rx_buffers(std::span<const RxBufferView> buffers, std::span<std::uint32_t> lengths)
{
    m_buffer_too_small = false;
    if (buffers.empty() || lengths.empty() || buffers[0].capacity < kHeaderSize)
        return 0;
    if (!m_rsts.empty()) {
        std::uint8_t bytes[kHeaderSize];
        m_rsts.front().encode(bytes);
        m_rsts.pop_front();
        ++m_stats.rsts_sent;
        virtio::copy_to_segments(*buffers[0].segments, 0, bytes, kHeaderSize);
        lengths[0] = kHeaderSize;
        return 1;
    }
    // Each queued connection gets at most one look per call: one that cannot use this buffer
    // (data, but the buffer has no room past the header) goes back in line without looping.
    for (std::size_t looks = m_rx_queue.size(); looks > 0 && !m_rx_queue.empty(); --looks) {
        Connection* c = find(m_rx_queue.front());
        m_rx_queue.pop_front();
        if (!c)
            continue;
        c->in_rx_queue = false;
        std::size_t used = c->send_pkts(buffers, lengths);
        m_buffer_too_small = m_buffer_too_small || c->buffer_too_small();
        // More to say? Back of the line (round-robin between connections).
        if (c->has_more_for_guest())
            schedule(*c);
        settle(*c);
        if (used)
            return used;
    }
    return 0;
}

} // namespace vmm::vsock
