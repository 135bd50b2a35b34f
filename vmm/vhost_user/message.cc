#include "vmm/vhost_user/message.h"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>

namespace vmm::vhost_user {

namespace {

struct SizeRule {
    std::size_t min;
    std::size_t max;
};

// The payload sizes a request may carry; nullopt for requests we do not serve.
std::optional<SizeRule> size_rule(std::uint32_t r)
{
    using namespace request;
    switch (r) {
    case kGetFeatures:
    case kSetOwner:
    case kResetOwner:
    case kGetProtocolFeatures:
    case kGetQueueNum:
    case kResetDevice:
        return SizeRule { 0, 0 };
    case kSetFeatures:
    case kSetProtocolFeatures:
    case kSetVringKick:
    case kSetVringCall:
    case kSetVringErr:
    case kSetVringNum:
    case kSetVringBase:
    case kGetVringBase:
    case kSetVringEnable:
        return SizeRule { 8, 8 };
    case kSetVringAddr:
        return SizeRule { kVringAddressSize, kVringAddressSize };
    case kSetMemTable:
        return SizeRule { kMemTableHeaderSize + kRegionSize, kMemTableHeaderSize + kMaxRegions * kRegionSize };
    case kGetConfig:
    case kSetConfig:
        return SizeRule { kConfigHeaderSize, kConfigHeaderSize + kMaxConfigSize };
    default:
        return std::nullopt;
    }
}

template<typename T>
T load(const std::uint8_t* p)
{
    T value;
    std::memcpy(&value, p, sizeof value);
    return value;
}

template<typename T>
void store(std::vector<std::uint8_t>& out, T value)
{
    std::uint8_t bytes[sizeof value];
    std::memcpy(bytes, &value, sizeof value);
    out.insert(out.end(), bytes, bytes + sizeof value);
}

} // namespace

std::string request_name(std::uint32_t r)
{
    using namespace request;
    switch (r) {
    case kGetFeatures: return "GET_FEATURES";
    case kSetFeatures: return "SET_FEATURES";
    case kSetOwner: return "SET_OWNER";
    case kResetOwner: return "RESET_OWNER";
    case kSetMemTable: return "SET_MEM_TABLE";
    case kSetVringNum: return "SET_VRING_NUM";
    case kSetVringAddr: return "SET_VRING_ADDR";
    case kSetVringBase: return "SET_VRING_BASE";
    case kGetVringBase: return "GET_VRING_BASE";
    case kSetVringKick: return "SET_VRING_KICK";
    case kSetVringCall: return "SET_VRING_CALL";
    case kSetVringErr: return "SET_VRING_ERR";
    case kGetProtocolFeatures: return "GET_PROTOCOL_FEATURES";
    case kSetProtocolFeatures: return "SET_PROTOCOL_FEATURES";
    case kGetQueueNum: return "GET_QUEUE_NUM";
    case kSetVringEnable: return "SET_VRING_ENABLE";
    case kGetConfig: return "GET_CONFIG";
    case kSetConfig: return "SET_CONFIG";
    case kResetDevice: return "RESET_DEVICE";
    default: return "request " + std::to_string(r);
    }
}

std::string check_header(const Header& h)
{
    auto rule = size_rule(h.request);
    if (!rule)
        return "unsupported vhost-user " + request_name(h.request);
    if ((h.flags & kFlagVersionMask) != kVersion)
        return request_name(h.request) + " has protocol version " + std::to_string(h.flags & kFlagVersionMask) + ", not 1";
    if (h.flags & kFlagReply)
        return request_name(h.request) + " is marked as a reply";
    if (h.flags & ~(kFlagVersionMask | kFlagNeedReply))
        return request_name(h.request) + " has unknown flag bits " + std::to_string(h.flags);
    if (h.size < rule->min || h.size > rule->max)
        return request_name(h.request) + " with a " + std::to_string(h.size) + "-byte payload (expected "
            + (rule->min == rule->max ? std::to_string(rule->min) : std::to_string(rule->min) + ".." + std::to_string(rule->max)) + ")";
    return {};
}

std::string check_message(const Message& m)
{
    std::string problem = check_header(m.header);
    if (!problem.empty())
        return problem;
    if (m.payload.size() != m.header.size)
        return request_name(m.header.request) + " payload is " + std::to_string(m.payload.size()) + " bytes, header says " + std::to_string(m.header.size);
    std::size_t fds_wanted = 0;
    switch (m.header.request) {
    case request::kSetMemTable: {
        std::uint32_t regions = load<std::uint32_t>(m.payload.data());
        if ((m.payload.size() - kMemTableHeaderSize) % kRegionSize != 0 || regions != (m.payload.size() - kMemTableHeaderSize) / kRegionSize)
            return "SET_MEM_TABLE names " + std::to_string(regions) + " regions in a " + std::to_string(m.payload.size()) + "-byte payload";
        fds_wanted = regions;
        break;
    }
    case request::kSetVringKick:
    case request::kSetVringCall:
    case request::kSetVringErr: {
        std::uint64_t value = load<std::uint64_t>(m.payload.data());
        if (value & ~(kVringIndexMask | kVringInvalidFd))
            return request_name(m.header.request) + " has unknown bits in " + std::to_string(value);
        fds_wanted = (value & kVringInvalidFd) ? 0 : 1;
        break;
    }
    case request::kGetConfig:
    case request::kSetConfig: {
        std::uint32_t size = load<std::uint32_t>(m.payload.data() + 4);
        if (size != m.payload.size() - kConfigHeaderSize)
            return request_name(m.header.request) + " asks for " + std::to_string(size) + " bytes in a " + std::to_string(m.payload.size()) + "-byte payload";
        break;
    }
    default:
        break;
    }
    if (m.fds.size() != fds_wanted)
        return request_name(m.header.request) + " came with " + std::to_string(m.fds.size()) + " file descriptors, expected " + std::to_string(fds_wanted);
    return {};
}

std::optional<std::uint64_t> decode_u64(const Message& m)
{
    if (m.payload.size() != 8)
        return std::nullopt;
    return load<std::uint64_t>(m.payload.data());
}

std::optional<VringState> decode_state(const Message& m)
{
    if (m.payload.size() != 8)
        return std::nullopt;
    return VringState { load<std::uint32_t>(m.payload.data()), load<std::uint32_t>(m.payload.data() + 4) };
}

std::optional<VringAddress> decode_address(const Message& m)
{
    if (m.payload.size() != kVringAddressSize)
        return std::nullopt;
    const std::uint8_t* p = m.payload.data();
    VringAddress a;
    a.index = load<std::uint32_t>(p);
    a.flags = load<std::uint32_t>(p + 4);
    a.desc = load<std::uint64_t>(p + 8);
    a.used = load<std::uint64_t>(p + 16);
    a.avail = load<std::uint64_t>(p + 24);
    a.log = load<std::uint64_t>(p + 32);
    return a;
}

std::optional<std::vector<MemoryRegion>> decode_regions(const Message& m)
{
    if (m.payload.size() < kMemTableHeaderSize)
        return std::nullopt;
    std::uint32_t count = load<std::uint32_t>(m.payload.data());
    if (count > kMaxRegions || m.payload.size() != kMemTableHeaderSize + count * kRegionSize)
        return std::nullopt;
    std::vector<MemoryRegion> regions(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint8_t* p = m.payload.data() + kMemTableHeaderSize + i * kRegionSize;
        regions[i] = { load<std::uint64_t>(p), load<std::uint64_t>(p + 8), load<std::uint64_t>(p + 16), load<std::uint64_t>(p + 24) };
    }
    return regions;
}

std::optional<ConfigAccess> decode_config(const Message& m)
{
    if (m.payload.size() < kConfigHeaderSize)
        return std::nullopt;
    const std::uint8_t* p = m.payload.data();
    ConfigAccess c { load<std::uint32_t>(p), load<std::uint32_t>(p + 4), load<std::uint32_t>(p + 8) };
    if (c.size != m.payload.size() - kConfigHeaderSize)
        return std::nullopt;
    return c;
}

std::vector<std::uint8_t> encode(std::uint32_t request, std::uint32_t flags, const void* payload, std::size_t size)
{
    std::vector<std::uint8_t> out;
    out.reserve(kMessageHeaderSize + size);
    store(out, request);
    store(out, flags);
    store(out, static_cast<std::uint32_t>(size));
    if (size)
        out.insert(out.end(), static_cast<const std::uint8_t*>(payload), static_cast<const std::uint8_t*>(payload) + size);
    return out;
}

std::vector<std::uint8_t> encode_reply(std::uint32_t request, const void* payload, std::size_t size)
{
    return encode(request, kVersion | kFlagReply, payload, size);
}

std::vector<std::uint8_t> encode_state(const VringState& s)
{
    std::vector<std::uint8_t> out;
    store(out, s.index);
    store(out, s.num);
    return out;
}

std::vector<std::uint8_t> encode_address(const VringAddress& a)
{
    std::vector<std::uint8_t> out;
    store(out, a.index);
    store(out, a.flags);
    store(out, a.desc);
    store(out, a.used);
    store(out, a.avail);
    store(out, a.log);
    return out;
}

std::vector<std::uint8_t> encode_regions(const std::vector<MemoryRegion>& regions)
{
    std::vector<std::uint8_t> out;
    store(out, static_cast<std::uint32_t>(regions.size()));
    store(out, std::uint32_t { 0 });
    for (const MemoryRegion& r : regions) {
        store(out, r.guest_address);
        store(out, r.size);
        store(out, r.user_address);
        store(out, r.mmap_offset);
    }
    return out;
}

bool send_message(int fd, const std::vector<std::uint8_t>& bytes, const std::vector<int>& fds, std::string& error)
{
    if (fds.size() > kMaxFds) {
        error = "too many file descriptors for one message";
        return false;
    }
    iovec iov { const_cast<std::uint8_t*>(bytes.data()), bytes.size() };
    msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    if (!fds.empty()) {
        std::memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n;
    do {
        n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error = std::string("cannot send to the vhost-user peer: ") + std::strerror(errno);
        return false;
    }
    if (static_cast<std::size_t>(n) != bytes.size()) {
        error = "the vhost-user peer does not read its socket (short write)";
        return false;
    }
    return true;
}

MessageReader::Result MessageReader::fail(std::string reason)
{
    m_error = std::move(reason);
    m_current = {};
    return Result::Error;
}

long MessageReader::receive(int fd, std::uint8_t* buffer, std::size_t want)
{
    iovec iov { buffer, want };
    msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do {
        n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    bool too_many = (msg.msg_flags & MSG_CTRUNC) != 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int received;
            std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
            m_current.fds.emplace_back(received); // owned (and closed) even if we refuse them
        }
    }
    if (too_many || m_current.fds.size() > kMaxFds) {
        errno = EMSGSIZE;
        return -2;
    }
    return n;
}

MessageReader::Result MessageReader::read(int fd, Message& out)
{
    for (;;) {
        std::uint8_t* buffer;
        std::size_t want;
        if (!m_in_payload) {
            buffer = m_header_bytes + m_have;
            want = kMessageHeaderSize - m_have;
        } else {
            buffer = m_current.payload.data() + m_have;
            want = m_current.payload.size() - m_have;
        }
        long n = receive(fd, buffer, want);
        if (n == -2)
            return fail("a vhost-user message came with more than " + std::to_string(kMaxFds) + " file descriptors");
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return Result::Again;
            return fail(std::string("cannot read the vhost-user socket: ") + std::strerror(errno));
        }
        if (n == 0) {
            if (m_in_payload || m_have > 0 || !m_current.fds.empty())
                return fail("the vhost-user frontend closed the socket in the middle of a message");
            return Result::Closed;
        }
        m_have += static_cast<std::size_t>(n);
        if (!m_in_payload) {
            if (m_have < kMessageHeaderSize)
                continue;
            Header& h = m_current.header;
            h.request = load<std::uint32_t>(m_header_bytes);
            h.flags = load<std::uint32_t>(m_header_bytes + 4);
            h.size = load<std::uint32_t>(m_header_bytes + 8);
            std::string problem = check_header(h);
            if (!problem.empty())
                return fail(problem);
            m_current.payload.assign(h.size, 0);
            m_in_payload = true;
            m_have = 0;
        }
        if (m_have < m_current.payload.size())
            continue;
        std::string problem = check_message(m_current);
        if (!problem.empty())
            return fail(problem);
        out = std::move(m_current);
        m_current = {};
        m_in_payload = false;
        m_have = 0;
        return Result::Message;
    }
}

} // namespace vmm::vhost_user
