#include "vmm/vsock/vsock_packet.h"

#include <cstring>

namespace vmm::vsock {

namespace {

template<typename T>
T get(const std::uint8_t* p)
{
    T v;
    std::memcpy(&v, p, sizeof v); // x86-64 is little-endian, as the header is
    return v;
}

template<typename T>
void put(std::uint8_t* p, T v)
{
    std::memcpy(p, &v, sizeof v);
}

} // namespace

PacketHeader PacketHeader::stream(std::uint64_t src_cid, std::uint32_t src_port, std::uint64_t dst_cid, std::uint32_t dst_port,
    std::uint16_t op)
{
    PacketHeader h;
    h.src_cid = src_cid;
    h.dst_cid = dst_cid;
    h.src_port = src_port;
    h.dst_port = dst_port;
    h.type = kTypeStream;
    h.op = op;
    return h;
}

PacketHeader PacketHeader::decode(const std::uint8_t* b)
{
    PacketHeader h;
    h.src_cid = get<std::uint64_t>(b + 0);
    h.dst_cid = get<std::uint64_t>(b + 8);
    h.src_port = get<std::uint32_t>(b + 16);
    h.dst_port = get<std::uint32_t>(b + 20);
    h.len = get<std::uint32_t>(b + 24);
    h.type = get<std::uint16_t>(b + 28);
    h.op = get<std::uint16_t>(b + 30);
    h.flags = get<std::uint32_t>(b + 32);
    h.buf_alloc = get<std::uint32_t>(b + 36);
    h.fwd_cnt = get<std::uint32_t>(b + 40);
    return h;
}

void PacketHeader::encode(std::uint8_t* b) const
{
    put(b + 0, src_cid);
    put(b + 8, dst_cid);
    put(b + 16, src_port);
    put(b + 20, dst_port);
    put(b + 24, len);
    put(b + 28, type);
    put(b + 30, op);
    put(b + 32, flags);
    put(b + 36, buf_alloc);
    put(b + 40, fwd_cnt);
}

} // namespace vmm::vsock
