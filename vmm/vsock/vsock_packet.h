// vmm/vsock/vsock_packet.h — the virtio-vsock packet header (virtio 1.2 §5.10.6) and constants.
//
// 44 bytes, packed, little-endian. Only stream sockets exist here (no SEQPACKET feature).
//
// Usage:
//     vmm::vsock::PacketHeader h = vmm::vsock::PacketHeader::decode(bytes);   // 44 bytes
//     h.op = vmm::vsock::kOpResponse; h.encode(out);
#pragma once

#include <cstddef>
#include <cstdint>

namespace vmm::vsock {

inline constexpr std::size_t kHeaderSize = 44;
inline constexpr std::uint32_t kDeviceId = 19;
inline constexpr std::uint16_t kQueueRx = 0;
inline constexpr std::uint16_t kQueueTx = 1;
inline constexpr std::uint16_t kQueueEvent = 2;

inline constexpr std::uint16_t kTypeStream = 1;

inline constexpr std::uint16_t kOpInvalid = 0;
inline constexpr std::uint16_t kOpRequest = 1;
inline constexpr std::uint16_t kOpResponse = 2;
inline constexpr std::uint16_t kOpRst = 3;
inline constexpr std::uint16_t kOpShutdown = 4;
inline constexpr std::uint16_t kOpRw = 5;
inline constexpr std::uint16_t kOpCreditUpdate = 6;
inline constexpr std::uint16_t kOpCreditRequest = 7;

inline constexpr std::uint32_t kShutdownReceive = 1;
inline constexpr std::uint32_t kShutdownSend = 2;

// The parent's addresses as the guest sees them: 3 (Nitro/QingTian) and 2 (VMADDR_CID_HOST).
inline constexpr std::uint64_t kParentCid = 3;
inline constexpr std::uint64_t kHostCid = 2;

struct PacketHeader {
    std::uint64_t src_cid { 0 };
    std::uint64_t dst_cid { 0 };
    std::uint32_t src_port { 0 };
    std::uint32_t dst_port { 0 };
    std::uint32_t len { 0 };
    std::uint16_t type { 0 };
    std::uint16_t op { 0 };
    std::uint32_t flags { 0 };
    std::uint32_t buf_alloc { 0 };
    std::uint32_t fwd_cnt { 0 };

    // A stream-socket header from (src_cid, src_port) to (dst_cid, dst_port): no payload, no credit.
    static PacketHeader stream(std::uint64_t src_cid, std::uint32_t src_port, std::uint64_t dst_cid, std::uint32_t dst_port,
        std::uint16_t op);
    static PacketHeader decode(const std::uint8_t* bytes);
    void encode(std::uint8_t* out) const;
};

} // namespace vmm::vsock
