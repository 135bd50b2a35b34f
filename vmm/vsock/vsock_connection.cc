#include "vmm/vsock/vsock_connection.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace vmm::vsock {

namespace {

using Clock = std::chrono::steady_clock;

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

} // namespace

// --- ByteQueue --------------------------------------------------------------------------------

void ByteQueue::append(const std::uint8_t* bytes, std::size_t n)
{
    if (m_head > 0 && m_head == m_data.size()) {
        m_data.clear();
        m_head = 0;
    } else if (m_head >= 16 * 1024 && m_head * 2 >= m_data.size()) {
        m_data.erase(m_data.begin(), m_data.begin() + static_cast<std::ptrdiff_t>(m_head));
        m_head = 0;
    }
    m_data.insert(m_data.end(), bytes, bytes + n);
}

void ByteQueue::consume(std::size_t n)
{
    m_head += std::min(n, size());
    if (m_head == m_data.size()) {
        m_head = 0;
        if (m_data.capacity() > kIdleQueueCapacity)
            std::vector<std::uint8_t>().swap(m_data);
        else
            m_data.clear();
    }
}

void ByteQueue::clear()
{
    m_data.clear();
    m_data.shrink_to_fit();
    m_head = 0;
}

// --- creation ---------------------------------------------------------------------------------

Connection::Connection(ConnectionContext& context, std::uint32_t guest_port, std::uint32_t host_port, std::uint64_t peer_cid,
    std::uint64_t token)
    : m_context(context)
    , m_guest_port(guest_port)
    , m_host_port(host_port)
    , m_peer_cid(peer_cid)
    , m_token(token)
{
}

std::unique_ptr<Connection> Connection::accepted_from_guest(ConnectionContext& context, const PacketHeader& request,
    std::uint64_t token, base::UniqueFd fd, std::unique_ptr<LocalService> service)
{
    std::unique_ptr<Connection> c(new Connection(context, request.src_port, request.dst_port, request.dst_cid, token));
    c->m_peer_buf_alloc = request.buf_alloc;
    c->m_peer_fwd_cnt = request.fwd_cnt;
    c->m_service = std::move(service);
    c->m_fd = std::move(fd);
    c->m_state = State::Established;
    c->m_pending |= kPendResponse;
    c->m_rx_requested = true;
    ++context.stats.connections_total;
    c->update_interest();
    return c;
}

std::unique_ptr<Connection> Connection::requested_by_parent(ConnectionContext& context, std::uint32_t guest_port,
    std::uint32_t host_port, std::uint64_t token, base::UniqueFd fd)
{
    std::unique_ptr<Connection> c(new Connection(context, guest_port, host_port, kParentCid, token));
    c->m_fd = std::move(fd);
    c->m_state = State::LocalInit;
    c->m_deadline = Clock::now() + kConnectTimeout;
    c->m_pending |= kPendRequest;
    c->m_rx_requested = true;
    c->update_interest();
    return c;
}

Connection::~Connection()
{
    if (m_polling == Polling::Registered)
        ::epoll_ctl(m_context.epoll_fd, EPOLL_CTL_DEL, m_fd.get(), nullptr);
}

void Connection::kill()
{
    m_state = State::Killed;
}

// --- queries ----------------------------------------------------------------------------------

std::uint32_t Connection::peer_credit() const
{
    std::uint32_t in_flight = m_tx_cnt - m_peer_fwd_cnt;
    if (in_flight > m_peer_buf_alloc)
        return 0; // the guest's numbers do not add up: send nothing until they do
    return m_peer_buf_alloc - in_flight;
}

bool Connection::has_host_data() const
{
    if (m_service)
        return !m_service->output().empty();
    return m_host_input == HostInput::Readable;
}

bool Connection::has_more_for_guest() const
{
    if (ended())
        return false;
    return m_pending
        || (m_state == State::Established && has_host_data() && (peer_credit() > 0 || !m_credit_requested));
}

bool Connection::take_rx_request()
{
    return std::exchange(m_rx_requested, false) && !ended();
}

std::string Connection::describe() const
{
    static constexpr const char* kStates[] = { "local-init", "established", "killed", "closed" };
    static constexpr const char* kGuestSend[] = { "open", "shutdown-pending", "shut-down" };
    static constexpr const char* kHostInput[] = { "waiting", "readable", "eof" };
    static constexpr const char* kPolling[] = { "unregistered", "registered", "hung-up" };
    auto n = [](std::uint64_t v) { return std::to_string(v); };
    return "guest_port=" + n(m_guest_port) + " host_port=" + n(m_host_port) + " state=" + kStates[int(m_state)]
        + " guest_send=" + kGuestSend[int(m_guest_send)] + (m_guest_stopped_receiving ? " guest_stopped_receiving" : "")
        + " host_input=" + kHostInput[int(m_host_input)] + " polling=" + kPolling[int(m_polling)] + " interest=" + n(m_interest)
        + " pending=" + n(m_pending) + (in_rx_queue ? " in_rx_queue" : "") + (m_credit_requested ? " credit_requested" : "")
        + " | from guest: rx_cnt=" + n(m_rx_cnt) + " fwd_cnt=" + n(m_fwd_cnt) + " fwd_cnt_sent=" + n(m_last_fwd_cnt_sent)
        + " to_host=" + n(m_to_host.size()) + " handshake_out=" + n(m_handshake_out.size())
        + " | to guest: tx_cnt=" + n(m_tx_cnt) + " peer_buf_alloc=" + n(m_peer_buf_alloc) + " peer_fwd_cnt=" + n(m_peer_fwd_cnt);
}

// --- guest → parent ---------------------------------------------------------------------------

void Connection::recv_pkt(const PacketHeader& h, const std::vector<virtio::BufferSegment>& segments)
{
    // Every packet carries the sender's credit.
    bool had_credit = peer_credit() > 0;
    m_peer_buf_alloc = h.buf_alloc;
    m_peer_fwd_cnt = h.fwd_cnt;
    if (!had_credit && peer_credit() > 0) {
        m_credit_requested = false;
        update_interest();
        if (has_host_data())
            m_rx_requested = true;
    }
    std::size_t available = 0;
    for (const virtio::BufferSegment& s : segments)
        available += s.length;
    if (h.op == kOpRw && (h.len > kMaxPacketPayload || available < kHeaderSize + std::size_t(h.len))) {
        ++m_context.stats.malformed_packets;
        kill();
        return;
    }

    switch (h.op) {
    case kOpResponse:
        if (m_state != State::LocalInit) {
            kill();
            return;
        }
        m_state = State::Established;
        m_deadline = {};
        m_handshake_out = "OK " + std::to_string(m_host_port) + "\n";
        ++m_context.stats.connections_total;
        flush_to_host();
        if (!ended())
            update_interest();
        return;
    case kOpRst:
        m_state = State::Closed;
        return;
    case kOpShutdown:
        apply_guest_shutdown(h.flags);
        check_finished();
        return;
    case kOpRw:
        if (m_state != State::Established || guest_stopped_sending()) {
            kill();
            return;
        }
        if (!fits_credit(h.len)) {
            ++m_context.stats.credit_violations;
            kill();
            return;
        }
        deliver_to_host(segments, h.len);
        return;
    case kOpCreditUpdate:
        return; // the credit fields were applied above
    case kOpCreditRequest:
        m_pending |= kPendCreditUpdate;
        m_rx_requested = true;
        return;
    default: // REQUEST on an open connection, or an unknown op
        kill();
        return;
    }
}

void Connection::apply_guest_shutdown(std::uint32_t flags)
{
    if (flags & kShutdownReceive)
        m_guest_stopped_receiving = true;
    if ((flags & kShutdownSend) && m_guest_send == GuestSend::Open)
        m_guest_send = GuestSend::ShutdownPending;
    if (m_guest_stopped_receiving && guest_stopped_sending() && !has_deadline())
        m_deadline = Clock::now() + kLingerTimeout;
}

void Connection::deliver_to_host(const std::vector<virtio::BufferSegment>& segments, std::uint32_t length)
{
    m_rx_cnt += length;
    m_context.stats.bytes_to_host += length;
    if (m_service) {
        std::vector<std::uint8_t> bytes(length);
        virtio::copy_from_segments(segments, kHeaderSize, bytes.data(), length);
        m_fwd_cnt += length;
        if (!m_service->receive(bytes.data(), length))
            kill();
        else if (!m_service->output().empty())
            m_rx_requested = true;
        return;
    }
    std::size_t offset = 0;
    if (m_to_host.empty() && m_handshake_out.empty() && m_guest_send != GuestSend::ShutDown) {
        // Fast path: straight from guest memory into the socket.
        std::vector<iovec>& iov = m_context.iov;
        virtio::segments_to_iovecs(segments, kHeaderSize, length, iov);
        msghdr msg {};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = iov.size();
        ssize_t n = iov.empty() ? 0 : ::sendmsg(m_fd.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && !would_block(errno)) {
            kill(); // the parent is gone
            return;
        }
        if (n > 0) {
            offset = static_cast<std::size_t>(n);
            m_fwd_cnt += static_cast<std::uint32_t>(n);
        }
    }
    if (offset < length) {
        // Bounded by the credit check: rx_cnt - fwd_cnt <= kConnectionBuffer.
        std::size_t rest = length - offset;
        std::vector<std::uint8_t> tmp(rest);
        virtio::copy_from_segments(segments, kHeaderSize + offset, tmp.data(), rest);
        m_to_host.append(tmp.data(), rest);
    }
    after_consumed();
}

void Connection::flush_to_host()
{
    while (!m_handshake_out.empty()) {
        ssize_t n = ::send(m_fd.get(), m_handshake_out.data(), m_handshake_out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (!would_block(errno))
                kill();
            return;
        }
        m_handshake_out.erase(0, static_cast<std::size_t>(n));
    }
    std::uint32_t consumed = 0;
    while (!m_to_host.empty()) {
        ssize_t n = ::send(m_fd.get(), m_to_host.data(), m_to_host.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (would_block(errno))
                break;
            kill();
            return;
        }
        m_to_host.consume(static_cast<std::size_t>(n));
        consumed += static_cast<std::uint32_t>(n);
    }
    if (consumed) {
        m_fwd_cnt += consumed;
        after_consumed();
    } else {
        update_interest();
    }
}

// We consumed guest bytes: tell the guest when its view of our buffer has shrunk to half.
void Connection::after_consumed()
{
    if (m_fwd_cnt != m_last_fwd_cnt_sent && advertised_free() < kConnectionBuffer / 2) {
        m_pending |= kPendCreditUpdate;
        m_rx_requested = true;
    }
    check_finished();
}

// Applies the guest's SHUTDOWN once our buffer toward the parent is empty; ends the connection
// when neither side will send any more.
void Connection::check_finished()
{
    if (ended())
        return;
    if (!m_to_host.empty() || !m_handshake_out.empty()) {
        update_interest(); // EPOLLOUT: the rest goes when the parent's socket has room
        return;
    }
    if (m_guest_send == GuestSend::ShutdownPending) {
        if (m_fd.valid()) {
            ::shutdown(m_fd.get(), SHUT_WR);
            m_guest_send = GuestSend::ShutDown;
        }
    }
    bool host_done = m_host_input == HostInput::Eof || m_guest_stopped_receiving || (m_service && m_service->output().empty());
    if (guest_stopped_sending() && host_done) {
        kill(); // the final RST of a clean close
        return;
    }
    update_interest();
}

void Connection::update_interest()
{
    if (!m_fd.valid() || m_polling == Polling::HungUp)
        return;
    std::uint32_t want = 0;
    if (m_state == State::Established) {
        if (m_host_input == HostInput::Waiting && !m_guest_stopped_receiving && peer_credit() > 0)
            want |= EPOLLIN;
        if (!m_to_host.empty() || !m_handshake_out.empty())
            want |= EPOLLOUT;
    }
    bool registered = m_polling == Polling::Registered;
    if (registered && want == m_interest)
        return;
    epoll_event e {};
    e.events = want;
    e.data.u64 = m_token;
    if (::epoll_ctl(m_context.epoll_fd, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, m_fd.get(), &e) == 0) {
        m_polling = Polling::Registered;
        m_interest = want;
    }
}

// --- parent's socket --------------------------------------------------------------------------

void Connection::notify(std::uint32_t events)
{
    if (events & EPOLLERR) {
        kill();
        return;
    }
    if (events & EPOLLOUT) {
        flush_to_host();
        if (ended())
            return;
    }
    if (events & EPOLLHUP) {
        // The parent closed both ways. Stop watching (HUP never clears); whatever it sent is
        // still readable and ends in EOF.
        if (!m_to_host.empty()) {
            kill();
            return;
        }
        if (m_polling == Polling::Registered)
            ::epoll_ctl(m_context.epoll_fd, EPOLL_CTL_DEL, m_fd.get(), nullptr);
        m_polling = Polling::HungUp;
        if (m_state == State::Established && m_host_input != HostInput::Eof)
            m_host_input = m_guest_stopped_receiving ? HostInput::Eof : HostInput::Readable;
    }
    if ((events & EPOLLIN) && m_host_input != HostInput::Eof)
        m_host_input = HostInput::Readable;
    if (has_host_data())
        m_rx_requested = true;
    check_finished();
}

// --- device → guest ---------------------------------------------------------------------------

PacketHeader Connection::header_for(std::uint16_t op) const
{
    PacketHeader h = PacketHeader::stream(m_peer_cid, m_host_port, m_context.guest_cid, m_guest_port, op);
    h.buf_alloc = kConnectionBuffer;
    h.fwd_cnt = m_fwd_cnt;
    return h;
}

std::size_t Connection::data_wanted() const
{
    if (m_pending || m_state != State::Established || m_service || !has_host_data())
        return 0;
    return std::min<std::size_t>({ peer_credit(), kMaxRxBatchBytes, std::max<std::size_t>(m_read_hint, 1) });
}

std::size_t Connection::read_host_data(std::span<const RxBufferView> buffers, std::span<std::size_t> rooms)
{
    if (m_service) {
        std::string& out = m_service->output();
        std::size_t n = virtio::copy_to_segments(*buffers[0].segments, kHeaderSize, out.data(), std::min(rooms[0], out.size()));
        out.erase(0, n);
        return n;
    }
    std::vector<iovec>& iov = m_context.iov;
    iov.clear();
    std::size_t total = 0;
    for (std::size_t i = 0; i < buffers.size(); ++i) {
        std::size_t covered = virtio::append_iovecs(*buffers[i].segments, kHeaderSize, rooms[i], iov);
        total += covered;
        if (covered < rooms[i]) {
            // Segments shorter than the capacity claimed: this buffer ends the read, so that
            // every byte lands in the buffer its packet header will name.
            rooms[i] = covered;
            std::fill(rooms.begin() + static_cast<std::ptrdiff_t>(i) + 1, rooms.end(), 0);
            break;
        }
    }
    msghdr msg {};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    ssize_t r = iov.empty() ? -1 : ::recvmsg(m_fd.get(), &msg, MSG_DONTWAIT);
    if (r > 0) {
        std::size_t n = static_cast<std::size_t>(r);
        // A full read asks for twice as much room next time; a short one for what came.
        m_read_hint = n < total ? n : std::min<std::size_t>(2 * total, kMaxRxBatchBytes);
        // Probably drained: let epoll tell us about more. Not after a hang-up: the socket is
        // out of the epoll set and its end-of-file is still to be read.
        if (n < total && m_polling != Polling::HungUp)
            m_host_input = HostInput::Waiting;
        return n;
    }
    if (r == 0 || (r < 0 && !would_block(errno))) {
        if (r < 0 && errno != ECONNRESET) {
            kill();
            return 0;
        }
        m_host_input = HostInput::Eof; // the parent will send no more: half-close toward the guest
        m_pending |= kPendShutdown;
        return 0;
    }
    m_host_input = HostInput::Waiting;
    return 0;
}

std::size_t Connection::next_packets(std::span<const RxBufferView> buffers, std::span<PacketHeader> headers)
{
    static constexpr std::uint32_t kControlPackets[] = { kPendResponse, kPendRequest, kPendCreditUpdate };
    static constexpr std::uint16_t kControlOps[] = { kOpResponse, kOpRequest, kOpCreditUpdate };
    for (std::size_t i = 0; i < std::size(kControlPackets); ++i) {
        if (m_pending & kControlPackets[i]) {
            m_pending &= ~kControlPackets[i];
            headers[0] = header_for(kControlOps[i]);
            return 1;
        }
    }
    bool data_waits = m_state == State::Established && has_host_data();
    if (data_waits && peer_credit() > 0 && buffers[0].capacity > kHeaderSize) {
        // Each buffer carries one packet of at most kMaxPacketPayload; all of them together at
        // most the guest's credit. A local service's replies are short: one buffer.
        std::size_t limit = std::min<std::size_t>(peer_credit(), kMaxRxBatchBytes);
        std::size_t most = m_service ? 1 : std::min({ buffers.size(), headers.size(), kMaxRxBatch });
        std::array<std::size_t, kMaxRxBatch> rooms {};
        std::size_t count = 0, total = 0;
        for (; count < most && total < limit && buffers[count].capacity > kHeaderSize; ++count) {
            rooms[count] = std::min<std::size_t>({ buffers[count].capacity - kHeaderSize, kMaxPacketPayload, limit - total });
            total += rooms[count];
        }
        std::size_t n = read_host_data(buffers.first(count), std::span(rooms).first(count));
        if (ended())
            return 0;
        if (n) {
            std::size_t used = 0;
            for (std::size_t left = n; left > 0; ++used) {
                std::size_t length = std::min(left, rooms[used]);
                headers[used] = header_for(kOpRw);
                headers[used].len = static_cast<std::uint32_t>(length);
                left -= length;
            }
            m_tx_cnt += static_cast<std::uint32_t>(n);
            m_context.stats.bytes_to_guest += n;
            return used;
        }
        data_waits = false; // nothing was there after all: only a SHUTDOWN may follow
    }
    if (m_pending & kPendShutdown) {
        m_pending &= ~kPendShutdown;
        headers[0] = header_for(kOpShutdown);
        headers[0].flags = kShutdownSend;
        return 1;
    }
    if (data_waits && peer_credit() > 0) {
        m_buffer_too_small = true; // data waits, but this buffer has no room past the header
        return 0;
    }
    if (data_waits && !m_credit_requested) {
        m_credit_requested = true;
        headers[0] = header_for(kOpCreditRequest);
        return 1;
    }
    return 0;
}

std::size_t Connection::send_pkt(const std::vector<virtio::BufferSegment>& writable, std::size_t capacity)
{
    RxBufferView buffer { &writable, capacity };
    std::uint32_t length = 0;
    return send_pkts(std::span(&buffer, 1), std::span(&length, 1)) ? length : 0;
}

std::size_t Connection::send_pkts(std::span<const RxBufferView> buffers, std::span<std::uint32_t> lengths)
{
    m_buffer_too_small = false;
    if (buffers.empty())
        return 0;
    std::array<PacketHeader, kMaxRxBatch> headers;
    std::size_t count = next_packets(buffers, std::span(headers).first(std::min(headers.size(), lengths.size())));
    if (ended())
        return 0;
    if (count)
        m_last_fwd_cnt_sent = m_fwd_cnt;
    for (std::size_t i = 0; i < count; ++i) {
        std::uint8_t bytes[kHeaderSize];
        headers[i].encode(bytes);
        virtio::copy_to_segments(*buffers[i].segments, 0, bytes, kHeaderSize);
        lengths[i] = static_cast<std::uint32_t>(kHeaderSize + headers[i].len);
    }
    check_finished(); // may end the connection: the packets written still go, then its RST
    return count;
}

} // namespace vmm::vsock
