#include "vmm/vhost_user/vsock_backend.h"

#include "base/error.h"
#include "base/eventfd.h"
#include "base/hex.h"
#include "vmm/vhost_user/fd_kind.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace vmm::vhost_user {

namespace {

void set_nonblocking(int fd)
{
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK))
        ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

std::string ring_name(std::uint32_t index)
{
    return index == vsock::kQueueRx ? "ring 0 (rx)" : index == vsock::kQueueTx ? "ring 1 (tx)" : "ring " + std::to_string(index);
}

} // namespace

std::unique_ptr<VhostUserVsockBackend> VhostUserVsockBackend::create(base::UniqueFd connected_socket, const VsockConfig& config)
{
    vsock::VsockCore::check_guest_cid(config.guest_cid);
    if (!connected_socket.valid())
        throw base::Error(base::ErrorKind::Internal, "VHOST_USER_SOCKET", "no vhost-user connection was given to the vsock backend");
    return std::unique_ptr<VhostUserVsockBackend>(new VhostUserVsockBackend(std::move(connected_socket), config));
}

VhostUserVsockBackend::VhostUserVsockBackend(base::UniqueFd socket, const VsockConfig& config)
    : m_config(config)
    , m_socket(std::move(socket))
{
    set_nonblocking(m_socket.get());
    m_done_fd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!m_done_fd.valid())
        base::throw_errno("VHOST_USER_EVENTFD", "cannot create an eventfd for", "the vhost-user vsock backend");
    for (std::uint16_t i = 0; i < kRingCount; ++i)
        m_queues.emplace_back(kMaxRingSize);
    m_core = std::make_unique<vsock::VsockCore>(muxer_config(config), m_lock, [this](unsigned mask) { raise_interrupts(mask); });
    m_core->set_external_handler([this](std::uint64_t, std::uint32_t) { on_socket_event(); });
    m_core->watch(m_socket.get(), kSocketToken, EPOLLIN | EPOLLRDHUP);
}

VhostUserVsockBackend::~VhostUserVsockBackend()
{
    stop();
    m_core.reset(); // closes the vsock connections before the memory they point into goes
}

void VhostUserVsockBackend::start()
{
    m_core->start("vhost-vsock");
}

void VhostUserVsockBackend::stop()
{
    m_core->stop();
}

int VhostUserVsockBackend::run_once(int timeout_ms)
{
    return m_core->run_once(timeout_ms);
}

std::string VhostUserVsockBackend::error()
{
    std::lock_guard guard(m_lock);
    return m_error;
}

vsock::VsockStats VhostUserVsockBackend::stats()
{
    return m_core->stats();
}

std::uint64_t VhostUserVsockBackend::messages()
{
    std::lock_guard guard(m_lock);
    return m_messages;
}

std::uint64_t VhostUserVsockBackend::acked_features()
{
    std::lock_guard guard(m_lock);
    return m_acked_features;
}

bool VhostUserVsockBackend::device_started()
{
    std::lock_guard guard(m_lock);
    return m_core->active_locked();
}

std::vector<std::string> VhostUserVsockBackend::describe()
{
    return m_core->describe();
}

// --- the control socket (loop thread, lock held) -------------------------------------------

void VhostUserVsockBackend::on_socket_event()
{
    if (m_done.load())
        return;
    for (int i = 0; i < kMessagesPerRound; ++i) {
        Message m;
        switch (m_reader.read(m_socket.get(), m)) {
        case MessageReader::Result::Again:
            return;
        case MessageReader::Result::Closed:
            end_connection({});
            return;
        case MessageReader::Result::Error:
            end_connection(m_reader.error());
            return;
        case MessageReader::Result::Message:
            ++m_messages;
            m_problem.clear();
            bool handled;
            try {
                // An acknowledgement nobody negotiated cannot be sent (the frontend would take it
                // for the answer to something else), and silence would hang it: end it.
                if ((m.header.flags & kFlagNeedReply) && !(m_protocol_features & protocol::kReplyAck))
                    handled = fail(request_name(m.header.request) + " asks for a reply (NEED_REPLY) but REPLY_ACK was not negotiated");
                else
                    handled = handle(m);
            } catch (const std::exception& e) {
                // Nothing a frontend sends may take the process down: it ends its connection.
                handled = fail(request_name(m.header.request) + " failed: " + e.what());
            }
            if (!handled) {
                // A frontend that asked for an acknowledgement hears that this one failed.
                if ((m_protocol_features & protocol::kReplyAck) && (m.header.flags & kFlagNeedReply)) {
                    std::uint64_t failed = 1;
                    std::string ignored;
                    send_message(m_socket.get(), encode_reply(m.header.request, &failed, sizeof failed), {}, ignored);
                }
                end_connection(m_problem);
                return;
            }
            break;
        }
    }
    // More may be waiting: epoll is level-triggered, so the next round comes back for it after
    // the queues had their turn.
}

bool VhostUserVsockBackend::fail(std::string problem)
{
    m_problem = std::move(problem);
    return false;
}

bool VhostUserVsockBackend::reply(const Message& m, const void* payload, std::size_t size)
{
    std::string problem;
    if (!send_message(m_socket.get(), encode_reply(m.header.request, payload, size), {}, problem))
        return fail(problem);
    return true;
}

bool VhostUserVsockBackend::ring_enabled(const Ring& ring) const
{
    // Without PROTOCOL_FEATURES a ring is enabled as soon as it starts (vhost-user.rst).
    return !(m_acked_features & kFeatureProtocolFeatures) || ring.enabled;
}

bool VhostUserVsockBackend::handle(Message& m)
{
    using namespace request;
    const std::uint32_t r = m.header.request;
    bool has_reply = false;
    switch (r) {
    case kGetFeatures: {
        std::uint64_t features = kFeatures;
        if (!reply(m, &features, sizeof features))
            return false;
        has_reply = true;
        break;
    }
    case kSetFeatures: {
        std::uint64_t features = *decode_u64(m);
        if (features & ~kFeatures)
            return fail("SET_FEATURES acknowledges features " + base::hex_u64(features & ~kFeatures) + " that were not offered");
        bool event_idx_changed = (features ^ m_acked_features) & virtio::kFeatureEventIdx;
        for (std::uint16_t i = 0; i < kRingCount; ++i)
            if (m_rings[i].started && event_idx_changed)
                return fail("SET_FEATURES changes EVENT_IDX while " + ring_name(i) + " runs");
        m_acked_features = features;
        update_rings();
        break;
    }
    case kGetProtocolFeatures: {
        std::uint64_t features = kProtocolFeatures;
        if (!reply(m, &features, sizeof features))
            return false;
        has_reply = true;
        break;
    }
    case kSetProtocolFeatures: {
        std::uint64_t features = *decode_u64(m);
        if (features & ~kProtocolFeatures)
            return fail("SET_PROTOCOL_FEATURES acknowledges " + base::hex_u64(features & ~kProtocolFeatures) + " that were not offered");
        m_protocol_features = features;
        break;
    }
    case kSetOwner:
        if (m_owned)
            return fail("SET_OWNER sent twice on one connection");
        m_owned = true;
        break;
    case kResetOwner:
        reset_device();
        m_owned = false; // the frontend gave the session up: a new SET_OWNER may follow
        break;
    case kResetDevice:
        reset_device();
        break;
    case kSetMemTable: {
        std::string problem = m_memory.set(*decode_regions(m), m.fds);
        if (!problem.empty())
            return fail(problem);
        break;
    }
    case kGetQueueNum: {
        std::uint64_t count = kServedRings;
        if (!reply(m, &count, sizeof count))
            return false;
        has_reply = true;
        break;
    }
    case kSetVringNum:
    case kSetVringBase:
    case kGetVringBase:
    case kSetVringEnable: {
        VringState s = *decode_state(m);
        if (s.index >= kRingCount)
            return fail(request_name(r) + " names ring " + std::to_string(s.index) + "; the vsock device has rings 0 to 2");
        Ring& ring = m_rings[s.index];
        if (r == kGetVringBase) {
            VringState stopped { s.index, ring.started ? m_queues[s.index].next_avail() : ring.base };
            stop_ring(static_cast<std::uint16_t>(s.index));
            std::vector<std::uint8_t> payload = encode_state(stopped);
            if (!reply(m, payload.data(), payload.size()))
                return false;
            has_reply = true;
            break;
        }
        if (r == kSetVringEnable) {
            if (s.num > 1)
                return fail("SET_VRING_ENABLE with " + std::to_string(s.num) + " for " + ring_name(s.index) + " (0 or 1)");
            ring.enabled = s.num == 1;
            update_rings();
            break;
        }
        if (ring.started)
            return fail(request_name(r) + " while " + ring_name(s.index) + " runs (send GET_VRING_BASE first)");
        if (r == kSetVringNum) {
            if (s.num == 0 || s.num > kMaxRingSize || (s.num & (s.num - 1)) != 0)
                return fail("SET_VRING_NUM " + std::to_string(s.num) + " for " + ring_name(s.index) + ": a split ring holds a power of two up to 32768");
            ring.size = static_cast<std::uint16_t>(s.num);
        } else {
            if (s.num > 0xffff)
                return fail("SET_VRING_BASE " + std::to_string(s.num) + " for " + ring_name(s.index) + ": split rings have 16-bit indexes");
            ring.base = static_cast<std::uint16_t>(s.num);
        }
        break;
    }
    case kSetVringAddr: {
        VringAddress a = *decode_address(m);
        if (a.index >= kRingCount)
            return fail("SET_VRING_ADDR names ring " + std::to_string(a.index) + "; the vsock device has rings 0 to 2");
        if (a.flags & ~1u)
            return fail("SET_VRING_ADDR with unknown flags " + base::hex_u64(a.flags) + " for " + ring_name(a.index));
        if (m_rings[a.index].started)
            return fail("SET_VRING_ADDR while " + ring_name(a.index) + " runs (send GET_VRING_BASE first)");
        m_rings[a.index].address = a;
        break;
    }
    case kSetVringKick:
    case kSetVringCall:
    case kSetVringErr: {
        std::uint64_t value = *decode_u64(m);
        std::uint16_t index = static_cast<std::uint16_t>(value & kVringIndexMask);
        if (index >= kRingCount)
            return fail(request_name(r) + " names ring " + std::to_string(index) + "; the vsock device has rings 0 to 2");
        base::UniqueFd fd = m.fds.empty() ? base::UniqueFd() : std::move(m.fds[0]);
        Ring& ring = m_rings[index];
        if (r == kSetVringErr)
            break; // accepted; we never report ring errors, so the fd is closed here
        if (fd.valid() && !is_eventfd(fd.get()))
            return fail(request_name(r) + " for " + ring_name(index) + ": its fd is not an eventfd (pass an eventfd)");
        if (fd.valid())
            set_nonblocking(fd.get());
        if (r == kSetVringCall) {
            ring.call = std::move(fd); // the latest one counts; invalid-fd = the frontend polls
            break;
        }
        // -1 with the invalid-fd bit: the ring is polled (update_rings).
        bool watched = m_core->watch_kick(index, fd.get());
        ring.kick = std::move(fd);
        if (!watched) {
            ring.kick.reset();
            return fail("SET_VRING_KICK for " + ring_name(index) + ": its fd cannot be waited on (pass an eventfd)");
        }
        if (!ring.started && !start_ring(index))
            return false;
        update_rings();
        break;
    }
    case kGetConfig: {
        ConfigAccess c = *decode_config(m);
        if (std::uint64_t(c.offset) + c.size > kMaxConfigSize)
            return fail("GET_CONFIG of " + std::to_string(c.size) + " bytes at offset " + std::to_string(c.offset) + " (the config space is 256 bytes)");
        std::vector<std::uint8_t> payload(kConfigHeaderSize + c.size);
        std::memcpy(payload.data(), m.payload.data(), kConfigHeaderSize);
        vsock::VsockCore::read_config(m_config.guest_cid, c.offset, payload.data() + kConfigHeaderSize, c.size);
        if (!reply(m, payload.data(), payload.size()))
            return false;
        has_reply = true;
        break;
    }
    case kSetConfig:
        return fail("SET_CONFIG: the vsock config space (the guest CID) is read-only");
    default:
        return fail("unsupported vhost-user " + request_name(r)); // check_header already refuses these
    }
    if (!has_reply && (m_protocol_features & protocol::kReplyAck) && (m.header.flags & kFlagNeedReply)) {
        std::uint64_t ok = 0;
        return reply(m, &ok, sizeof ok);
    }
    return true;
}

bool VhostUserVsockBackend::start_ring(std::uint16_t index)
{
    Ring& ring = m_rings[index];
    std::string name = ring_name(index);
    if (m_memory.empty())
        return fail("SET_VRING_KICK for " + name + " before SET_MEM_TABLE");
    if (ring.size == 0 || !ring.address)
        return fail("SET_VRING_KICK for " + name + " before its SET_VRING_NUM and SET_VRING_ADDR");
    const VringAddress& a = *ring.address;
    std::uint64_t n = ring.size;
    auto desc = m_memory.user_to_guest(a.desc, 16 * n);
    auto avail = m_memory.user_to_guest(a.avail, 6 + 2 * n);
    auto used = m_memory.user_to_guest(a.used, 6 + 8 * n);
    if (!desc || !avail || !used)
        return fail(name + ": its " + std::string(!desc ? "descriptor table" : !avail ? "available ring" : "used ring") + " at "
            + base::hex_u64(!desc ? a.desc : !avail ? a.avail : a.used) + " is not inside the memory table");
    virtio::QueueAddresses addresses { ring.size, *desc, *avail, *used };
    if (!m_queues[index].resume(m_memory, addresses, m_acked_features & virtio::kFeatureEventIdx, ring.base))
        return fail(name + ": its rings are misaligned (descriptor table 16 bytes, available ring 2, used ring 4)");
    ring.started = true;
    return true;
}

void VhostUserVsockBackend::stop_ring(std::uint16_t index)
{
    Ring& ring = m_rings[index];
    if (ring.started)
        ring.base = m_queues[index].next_avail();
    ring.started = false;
    m_queues[index].reset();
    m_core->watch_kick(index, -1);
    ring.kick.reset(); // a new SET_VRING_KICK starts it again
    update_rings();
}

// Tells the core which rings it may use, closes every connection when the device stopped.
void VhostUserVsockBackend::update_rings()
{
    bool any = false;
    bool polled = false;
    for (std::uint16_t i = 0; i < kRingCount; ++i) {
        m_core->set_queue_enabled_locked(i, m_rings[i].started && ring_enabled(m_rings[i]));
        if (i == vsock::kQueueRx || i == vsock::kQueueTx)
            any = any || m_rings[i].started;
        polled = polled || (m_rings[i].started && !m_rings[i].kick.valid());
    }
    m_core->set_poll_interval(polled ? 10 : -1);
    if (any && !m_core->active_locked())
        m_core->activate_locked(m_queues);
    else if (!any && m_core->active_locked())
        m_core->reset_locked(); // the device stopped: like a guest reset, connections close
    if (any)
        m_core->wake();
}

// RESET_DEVICE / RESET_OWNER: the device's state goes, the connection's stays — the negotiated
// protocol features (and, after RESET_DEVICE, ownership) (QEMU 10 resets the device when the guest's driver probes it
// and does not negotiate them again: forgetting REPLY_ACK here left its next NEED_REPLY unanswered).
void VhostUserVsockBackend::reset_device()
{
    for (std::uint16_t i = 0; i < kRingCount; ++i) {
        stop_ring(i);
        m_rings[i] = {};
    }
    update_rings();
    m_memory.clear();
    m_acked_features = 0;
}

void VhostUserVsockBackend::end_connection(const std::string& problem)
{
    if (m_done.load())
        return;
    m_error = problem;
    std::uint64_t features = m_acked_features;
    reset_device();
    m_acked_features = features; // still reported by acked_features()
    m_core->unwatch(m_socket.get());
    m_socket.reset(); // the frontend sees EOF
    m_done.store(true);
    base::signal_eventfd(m_done_fd.get());
    m_core->request_stop();
}

void VhostUserVsockBackend::raise_interrupts(unsigned queue_mask)
{
    for (std::uint16_t i = 0; i < kRingCount; ++i) {
        if ((queue_mask & (1u << i)) && m_rings[i].call.valid())
            base::signal_eventfd(m_rings[i].call.get());
    }
}

} // namespace vmm::vhost_user
