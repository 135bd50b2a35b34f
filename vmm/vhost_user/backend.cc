// vmm/vhost_user/backend.cc — see backend.h.
#include "vmm/vhost_user/backend.h"

#include "base/error.h"
#include "base/eventfd.h"
#include "base/hex.h"
#include "vmm/vhost_user/fd_kind.h"

#include <cstring>
#include <fcntl.h>
#include <sys/eventfd.h>

namespace vmm::vhost_user {

namespace {

void set_nonblocking(int fd)
{
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK))
        ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

} // namespace

VhostUserBackend::VhostUserBackend(base::UniqueFd connected_socket, VhostUserDevice& device, std::uint16_t ring_count)
    : m_device(device)
    , m_socket(std::move(connected_socket))
    , m_socket_fd(m_socket.get())
    , m_rings(ring_count)
{
    if (!m_socket.valid())
        throw base::Error(base::ErrorKind::Internal, "VHOST_USER_SOCKET", "no vhost-user connection was given to the backend");
    set_nonblocking(m_socket.get());
    m_done_fd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!m_done_fd.valid())
        base::throw_errno("VHOST_USER_EVENTFD", "cannot create an eventfd for", "the vhost-user backend");
    for (std::uint16_t i = 0; i < ring_count; ++i)
        m_queues.emplace_back(kMaxRingSize);
}

VhostUserBackend::~VhostUserBackend() = default;

std::string VhostUserBackend::error()
{
    std::lock_guard guard(m_lock);
    return m_error;
}

std::uint64_t VhostUserBackend::messages()
{
    std::lock_guard guard(m_lock);
    return m_messages;
}

std::uint64_t VhostUserBackend::acked_features()
{
    std::lock_guard guard(m_lock);
    return m_acked_features;
}

void VhostUserBackend::on_socket_event()
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
    // the rings had their turn.
}

bool VhostUserBackend::fail(std::string problem)
{
    m_problem = std::move(problem);
    return false;
}

bool VhostUserBackend::reply(const Message& m, const void* payload, std::size_t size)
{
    std::string problem;
    if (!send_message(m_socket.get(), encode_reply(m.header.request, payload, size), {}, problem))
        return fail(problem);
    return true;
}

bool VhostUserBackend::ring_enabled(const Ring& ring) const
{
    // Without PROTOCOL_FEATURES a ring is enabled as soon as it starts (vhost-user.rst).
    return !(m_acked_features & kFeatureProtocolFeatures) || ring.enabled;
}

std::string VhostUserBackend::no_such_ring(const std::string& what, std::uint64_t index) const
{
    return what + " names ring " + std::to_string(index) + "; " + m_device.device_name() + " has rings 0 to " + std::to_string(m_rings.size() - 1);
}

bool VhostUserBackend::handle(Message& m)
{
    using namespace request;
    const std::uint32_t r = m.header.request;
    bool has_reply = false;
    switch (r) {
    case kGetFeatures:
    case kGetProtocolFeatures:
    case kGetQueueNum: {
        std::uint64_t value = r == kGetFeatures ? m_device.features() : r == kGetProtocolFeatures ? m_device.protocol_features() : m_device.served_rings();
        if (!reply(m, &value, sizeof value))
            return false;
        has_reply = true;
        break;
    }
    case kSetFeatures: {
        std::uint64_t features = *decode_u64(m);
        if (features & ~m_device.features())
            return fail("SET_FEATURES acknowledges features " + base::hex_u64(features & ~m_device.features()) + " that were not offered");
        bool event_idx_changed = (features ^ m_acked_features) & virtio::kFeatureEventIdx;
        for (std::uint16_t i = 0; i < m_rings.size(); ++i)
            if (m_rings[i].started && event_idx_changed)
                return fail("SET_FEATURES changes EVENT_IDX while " + m_device.ring_name(i) + " runs");
        m_acked_features = features;
        update_rings();
        break;
    }
    case kSetProtocolFeatures: {
        std::uint64_t features = *decode_u64(m);
        if (features & ~m_device.protocol_features())
            return fail("SET_PROTOCOL_FEATURES acknowledges " + base::hex_u64(features & ~m_device.protocol_features()) + " that were not offered");
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
    case kSetVringNum:
    case kSetVringBase:
    case kGetVringBase:
    case kSetVringEnable:
    case kSetVringAddr:
        if (!handle_ring_state(m))
            return false;
        has_reply = r == kGetVringBase;
        break;
    case kSetVringKick:
    case kSetVringCall:
    case kSetVringErr:
        if (!handle_ring_fd(m))
            return false;
        break;
    case kGetConfig: {
        ConfigAccess c = *decode_config(m);
        if (std::uint64_t(c.offset) + c.size > kMaxConfigSize)
            return fail("GET_CONFIG of " + std::to_string(c.size) + " bytes at offset " + std::to_string(c.offset) + " (the config space is 256 bytes)");
        std::vector<std::uint8_t> payload(kConfigHeaderSize + c.size);
        std::memcpy(payload.data(), m.payload.data(), kConfigHeaderSize);
        m_device.read_config(c.offset, payload.data() + kConfigHeaderSize, c.size);
        if (!reply(m, payload.data(), payload.size()))
            return false;
        has_reply = true;
        break;
    }
    case kSetConfig:
        return fail("SET_CONFIG: the config space of " + m_device.device_name() + " is read-only");
    default:
        return fail("unsupported vhost-user " + request_name(r)); // check_header already refuses these
    }
    if (!has_reply && (m.header.flags & kFlagNeedReply)) {
        std::uint64_t ok = 0;
        return reply(m, &ok, sizeof ok);
    }
    return true;
}

bool VhostUserBackend::handle_ring_state(Message& m)
{
    using namespace request;
    const std::uint32_t r = m.header.request;
    if (r == kSetVringAddr) {
        VringAddress a = *decode_address(m);
        if (a.index >= m_rings.size())
            return fail(no_such_ring("SET_VRING_ADDR", a.index));
        std::string name = m_device.ring_name(static_cast<std::uint16_t>(a.index));
        if (a.flags & ~1u)
            return fail("SET_VRING_ADDR with unknown flags " + base::hex_u64(a.flags) + " for " + name);
        if (m_rings[a.index].started)
            return fail("SET_VRING_ADDR while " + name + " runs (send GET_VRING_BASE first)");
        m_rings[a.index].address = a;
        return true;
    }
    VringState s = *decode_state(m);
    if (s.index >= m_rings.size())
        return fail(no_such_ring(request_name(r), s.index));
    const std::uint16_t index = static_cast<std::uint16_t>(s.index);
    std::string name = m_device.ring_name(index);
    Ring& ring = m_rings[index];
    if (r == kGetVringBase) {
        VringState stopped { s.index, ring.started ? m_queues[index].next_avail() : ring.base };
        stop_ring(index);
        std::vector<std::uint8_t> payload = encode_state(stopped);
        return reply(m, payload.data(), payload.size());
    }
    if (r == kSetVringEnable) {
        if (s.num > 1)
            return fail("SET_VRING_ENABLE with " + std::to_string(s.num) + " for " + name + " (0 or 1)");
        ring.enabled = s.num == 1;
        update_rings();
        return true;
    }
    if (ring.started)
        return fail(request_name(r) + " while " + name + " runs (send GET_VRING_BASE first)");
    if (r == kSetVringNum) {
        if (s.num == 0 || s.num > kMaxRingSize || (s.num & (s.num - 1)) != 0)
            return fail("SET_VRING_NUM " + std::to_string(s.num) + " for " + name + ": a split ring holds a power of two up to 32768");
        ring.size = static_cast<std::uint16_t>(s.num);
    } else {
        if (s.num > 0xffff)
            return fail("SET_VRING_BASE " + std::to_string(s.num) + " for " + name + ": split rings have 16-bit indexes");
        ring.base = static_cast<std::uint16_t>(s.num);
    }
    return true;
}

bool VhostUserBackend::handle_ring_fd(Message& m)
{
    using namespace request;
    const std::uint32_t r = m.header.request;
    std::uint64_t value = *decode_u64(m);
    std::uint64_t index64 = value & kVringIndexMask;
    if (index64 >= m_rings.size())
        return fail(no_such_ring(request_name(r), index64));
    const std::uint16_t index = static_cast<std::uint16_t>(index64);
    std::string name = m_device.ring_name(index);
    base::UniqueFd fd = m.fds.empty() ? base::UniqueFd() : std::move(m.fds[0]);
    Ring& ring = m_rings[index];
    if (r == kSetVringErr)
        return true; // accepted; we never report ring errors, so the fd is closed here
    if (fd.valid() && !is_eventfd(fd.get()))
        return fail(request_name(r) + " for " + name + ": its fd is not an eventfd (pass an eventfd)");
    if (fd.valid())
        set_nonblocking(fd.get());
    if (r == kSetVringCall) {
        ring.call = std::move(fd); // the latest one counts; invalid-fd = the frontend polls
        return true;
    }
    // -1 with the invalid-fd bit: the ring is polled (update_rings).
    bool watched = m_device.watch_kick(index, fd.get());
    ring.kick = std::move(fd);
    if (!watched) {
        ring.kick.reset();
        return fail("SET_VRING_KICK for " + name + ": its fd cannot be waited on (pass an eventfd)");
    }
    if (!ring.started && !start_ring(index))
        return false;
    update_rings();
    return true;
}

bool VhostUserBackend::start_ring(std::uint16_t index)
{
    Ring& ring = m_rings[index];
    std::string name = m_device.ring_name(index);
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

void VhostUserBackend::stop_ring(std::uint16_t index)
{
    Ring& ring = m_rings[index];
    if (ring.started)
        ring.base = m_queues[index].next_avail();
    ring.started = false;
    m_queues[index].reset();
    m_device.watch_kick(index, -1);
    ring.kick.reset(); // a new SET_VRING_KICK starts it again
    update_rings();
}

void VhostUserBackend::update_rings()
{
    std::vector<bool> started(m_rings.size());
    std::vector<bool> running(m_rings.size());
    bool polled = false;
    for (std::size_t i = 0; i < m_rings.size(); ++i) {
        started[i] = m_rings[i].started;
        running[i] = m_rings[i].started && ring_enabled(m_rings[i]);
        polled = polled || (m_rings[i].started && !m_rings[i].kick.valid());
    }
    m_device.rings_changed(started, running, polled);
}

// RESET_DEVICE / RESET_OWNER: the device's state goes, the connection's stays — the negotiated
// protocol features (and, after RESET_DEVICE, ownership). QEMU 10 resets the device when the
// guest's driver probes it and does not negotiate them again: forgetting REPLY_ACK here left its
// next NEED_REPLY (SET_MEM_TABLE) unanswered and its vCPU thread waiting forever.
void VhostUserBackend::reset_device()
{
    for (std::uint16_t i = 0; i < m_rings.size(); ++i) {
        stop_ring(i);
        m_rings[i] = {};
    }
    update_rings();
    m_memory.clear();
    m_acked_features = 0;
}

void VhostUserBackend::end_connection(const std::string& problem)
{
    if (m_done.load())
        return;
    m_error = problem;
    std::uint64_t features = m_acked_features;
    reset_device();
    m_acked_features = features; // still reported by acked_features()
    m_done.store(true);
    m_device.connection_ended(); // unwatches the socket before it closes
    m_socket.reset();            // the frontend sees EOF
    base::signal_eventfd(m_done_fd.get());
}

void VhostUserBackend::raise_interrupts(unsigned ring_mask)
{
    for (std::size_t i = 0; i < m_rings.size() && i < 32; ++i) {
        if ((ring_mask & (1u << i)) && m_rings[i].call.valid())
            base::signal_eventfd(m_rings[i].call.get());
    }
}

} // namespace vmm::vhost_user
