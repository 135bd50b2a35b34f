// vmm/vhost_user/message.h — the vhost-user wire format (QEMU docs/interop/vhost-user.rst):
// a 12-byte header (request, flags, payload size; native byte order), a payload, and file
// descriptors in SCM_RIGHTS ancillary data. Only the requests a vsock backend serves are
// known here; everything else is an error.
//
// Validation is strict and happens as early as possible: the header is checked before any
// payload byte is read (known request, version 1, no reply bit, no unknown flag bits, a payload
// size the request allows — at most kMaxPayload), then the whole message (exact size of the
// variable requests, fd count: SET_MEM_TABLE one per region, SET_VRING_KICK/CALL/ERR one
// unless the invalid-fd bit is set, none elsewhere; never more than kMaxFds). The reader never
// reads past the current message, so descriptors always belong to the message they came with.
//
// Usage (the backend):
//     vmm::vhost_user::MessageReader reader;
//     vmm::vhost_user::Message m;
//     switch (reader.read(socket_fd, m)) {          // socket_fd is non-blocking
//     case MessageReader::Result::Message: handle(m); break;
//     case MessageReader::Result::Again: break;     // wait for EPOLLIN
//     case MessageReader::Result::Closed: ...;      // the frontend went away
//     case MessageReader::Result::Error: fail(reader.error());
//     }
//     send_message(socket_fd, encode_reply(m.header.request, &value, 8), {}, error);
#pragma once

#include "base/file.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vmm::vhost_user {

namespace request {
inline constexpr std::uint32_t kGetFeatures = 1;
inline constexpr std::uint32_t kSetFeatures = 2;
inline constexpr std::uint32_t kSetOwner = 3;
inline constexpr std::uint32_t kResetOwner = 4;
inline constexpr std::uint32_t kSetMemTable = 5;
inline constexpr std::uint32_t kSetVringNum = 8;
inline constexpr std::uint32_t kSetVringAddr = 9;
inline constexpr std::uint32_t kSetVringBase = 10;
inline constexpr std::uint32_t kGetVringBase = 11;
inline constexpr std::uint32_t kSetVringKick = 12;
inline constexpr std::uint32_t kSetVringCall = 13;
inline constexpr std::uint32_t kSetVringErr = 14;
inline constexpr std::uint32_t kGetProtocolFeatures = 15;
inline constexpr std::uint32_t kSetProtocolFeatures = 16;
inline constexpr std::uint32_t kGetQueueNum = 17;
inline constexpr std::uint32_t kSetVringEnable = 18;
inline constexpr std::uint32_t kGetConfig = 24;
inline constexpr std::uint32_t kSetConfig = 25;
inline constexpr std::uint32_t kResetDevice = 34;
} // namespace request

// "GET_FEATURES", ..., or "request 42" for the ones we do not know.
std::string request_name(std::uint32_t request);

inline constexpr std::size_t kMessageHeaderSize = 12;
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::uint32_t kFlagVersionMask = 0x3;
inline constexpr std::uint32_t kFlagReply = 0x4;
inline constexpr std::uint32_t kFlagNeedReply = 0x8;
inline constexpr std::size_t kMaxRegions = 8;        // VHOST_MEMORY_BASELINE_NREGIONS
inline constexpr std::size_t kMaxFds = kMaxRegions;
inline constexpr std::size_t kMaxConfigSize = 256;   // VHOST_USER_MAX_CONFIG_SIZE
inline constexpr std::size_t kConfigHeaderSize = 12; // offset, size, flags
inline constexpr std::size_t kRegionSize = 32;
inline constexpr std::size_t kMemTableHeaderSize = 8; // nregions, padding
inline constexpr std::size_t kMaxPayload = kConfigHeaderSize + kMaxConfigSize;

// Virtio feature bit 30 reused by vhost-user: GET/SET_PROTOCOL_FEATURES are understood.
inline constexpr std::uint64_t kFeatureProtocolFeatures = 1ull << 30;
namespace protocol {
inline constexpr std::uint64_t kMq = 1ull << 0;
inline constexpr std::uint64_t kReplyAck = 1ull << 3;
inline constexpr std::uint64_t kConfig = 1ull << 9;
inline constexpr std::uint64_t kResetDevice = 1ull << 13;
} // namespace protocol

// The u64 of SET_VRING_KICK / CALL / ERR: bits 0-7 the ring, bit 8 "no fd attached".
inline constexpr std::uint64_t kVringIndexMask = 0xff;
inline constexpr std::uint64_t kVringInvalidFd = 0x100;

struct Header {
    std::uint32_t request { 0 };
    std::uint32_t flags { 0 };
    std::uint32_t size { 0 };
};

struct Message {
    Header header;
    std::vector<std::uint8_t> payload; // header.size bytes
    std::vector<base::UniqueFd> fds;
};

struct VringState {
    std::uint32_t index { 0 };
    std::uint32_t num { 0 };
};

// Ring addresses are the frontend's (QEMU's) user virtual addresses, not guest-physical.
struct VringAddress {
    std::uint32_t index { 0 };
    std::uint32_t flags { 0 }; // bit 0: VHOST_VRING_F_LOG
    std::uint64_t desc { 0 };
    std::uint64_t used { 0 };
    std::uint64_t avail { 0 };
    std::uint64_t log { 0 };
};
inline constexpr std::size_t kVringAddressSize = 40;

struct MemoryRegion {
    std::uint64_t guest_address { 0 };
    std::uint64_t size { 0 };
    std::uint64_t user_address { 0 };
    std::uint64_t mmap_offset { 0 };
};

struct ConfigAccess {
    std::uint32_t offset { 0 };
    std::uint32_t size { 0 };
    std::uint32_t flags { 0 };
};

// "" if the header may start a valid message, else why not.
std::string check_header(const Header& header);
// "" if the complete message (payload and fds) is well formed, else why not.
std::string check_message(const Message& message);

// Payload decoders: nullopt if the payload has the wrong size (check_message rules it out).
std::optional<std::uint64_t> decode_u64(const Message& message);
std::optional<VringState> decode_state(const Message& message);
std::optional<VringAddress> decode_address(const Message& message);
std::optional<std::vector<MemoryRegion>> decode_regions(const Message& message);
std::optional<ConfigAccess> decode_config(const Message& message);

// Header + payload as bytes. encode_reply sets version 1 and the reply bit.
std::vector<std::uint8_t> encode(std::uint32_t request, std::uint32_t flags, const void* payload, std::size_t size);
std::vector<std::uint8_t> encode_reply(std::uint32_t request, const void* payload, std::size_t size);
// Payload encoders (the frontend side: tests, fuzzers).
std::vector<std::uint8_t> encode_state(const VringState& state);
std::vector<std::uint8_t> encode_address(const VringAddress& address);
std::vector<std::uint8_t> encode_regions(const std::vector<MemoryRegion>& regions);

// Sends one message with optional fds on a stream socket. The socket may be non-blocking: a
// short write (the peer stopped reading) is an error, never a wait. False with `error` set.
bool send_message(int fd, const std::vector<std::uint8_t>& bytes, const std::vector<int>& fds, std::string& error);

// Reads whole messages from a non-blocking stream socket, one at a time.
class MessageReader {
public:
    enum class Result { Message, Again, Closed, Error };
    // Message: `out` holds the next message. Again: nothing complete yet (partial bytes are
    // kept). Closed: the peer closed between messages. Error: see error(); the stream is then
    // unusable (the connection must be dropped).
    Result read(int fd, Message& out);
    const std::string& error() const { return m_error; }

private:
    Result fail(std::string reason);
    // Receives into [buffer, buffer + want) collecting fds; returns bytes, 0 on EOF, -1 + errno.
    long receive(int fd, std::uint8_t* buffer, std::size_t want);

    std::uint8_t m_header_bytes[kMessageHeaderSize] {};
    std::size_t m_have { 0 };          // bytes of the current header or payload
    bool m_in_payload { false };
    Message m_current;
    std::string m_error;
};

} // namespace vmm::vhost_user
