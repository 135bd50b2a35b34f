// guest-init/forward_spec.h — the enclave-side egress forwarders an image declares: make-img
// writes them to /forward in ramdisk 1 (from the image label qt-vmm.forward), one per line as
// TCP_PORT:VSOCK_PORT, and guest-init listens on 127.0.0.1:TCP_PORT for each and connects every
// client to the parent (CID 3) on VSOCK_PORT, where `qt-vmm vsock proxy` relays it onwards.
// Shared by make-img (validation) and init (parsing), so both accept exactly the same text.
//
//   ForwardParse f = parse_forwards("443:8000\n5432:8001\n");   // f.error empty on success
//   for (const Forward& x : f.forwards) listen_on(x.tcp_port), dial(x.vsock_port);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace guest_init {

constexpr std::size_t kMaxForwards = 16;

struct Forward {
    std::uint16_t tcp_port = 0;   // 1..65535, on 127.0.0.1 inside the enclave
    std::uint32_t vsock_port = 0; // 1..4294967294, of the parent (CID 3)
};

struct ForwardParse {
    std::vector<Forward> forwards;
    std::string error; // empty on success, else one line naming the bad entry
};

// Entries separated by newlines, commas or spaces; each TCP_PORT:VSOCK_PORT in decimal. Errors:
// a malformed entry, a port out of range, the same TCP port twice, more than kMaxForwards.
ForwardParse parse_forwards(std::string_view text);

// The /forward file for a parse's entries: one TCP_PORT:VSOCK_PORT line each.
std::string forwards_to_lines(const std::vector<Forward>& forwards);

} // namespace guest_init
