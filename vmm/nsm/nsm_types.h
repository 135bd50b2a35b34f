// vmm/nsm/nsm_types.h — what every part of the Nitro Secure Module (NSM) emulation shares: its
// limits, the PCR layout, and the fields of an attestation document before it is signed.
// The protocol itself is in ../shared/reference/nitro-enclaves.md §5 (and vmm/nsm/README.md).
//
// Usage:
//     vmm::nsm::DocumentFields f;  f.module_id = "qt-host-enc4";  f.timestamp_ms = now_ms();
//     f.pcrs[0] = pcr0;  f.nonce = std::string(20, '\x01');
//     std::string cose = signer.sign(f);     // attestation_document.h
#pragma once

#include "eif-format/pcr.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vmm::nsm {

using Digest = eif::Digest;                          // SHA-384, 48 bytes

inline constexpr unsigned kPcrCount = 32;            // DescribeNSM max_pcrs
inline constexpr unsigned kPcrsLockedAtBoot = 16;    // PCR0..15: set by the VMM, never extendable
inline constexpr std::size_t kMaxRequestSize = 0x1000;   // the Linux driver's limit (EMSGSIZE above)
inline constexpr std::size_t kMaxResponseSize = 0x3000;  // the buffer the driver posts
inline constexpr std::size_t kMaxUserFieldSize = 1024;   // user_data, nonce, public_key each
// The stack of a transport's thread that calls a RequestHandler (base::SizedThread): an ES384
// signature in OpenSSL and the CBOR around it touch < 16 KiB; the rest is margin.
inline constexpr std::size_t kHandlerThreadStack = 128 << 10;

// The payload of one attestation document (Nitro's keys; §5.4), before signing.
struct DocumentFields {
    std::string module_id;
    std::uint64_t timestamp_ms { 0 };                // milliseconds since the Unix epoch
    std::map<unsigned, Digest> pcrs;                 // index → value, ascending (the locked PCRs)
    std::optional<std::string> public_key;           // absent = CBOR null
    std::optional<std::string> user_data;
    std::optional<std::string> nonce;
};

// Signs the fields into a COSE_Sign1 document (its bytes). Throws std::exception on failure;
// the module then answers InternalError.
using SignDocument = std::function<std::string(const DocumentFields&)>;

// What a transport (the virtio-mmio NsmDevice, the vhost-user NSM backend) calls with each
// request it took off the queue; returns the response (NsmModule::handle). Never throws.
using RequestHandler = std::function<std::string(std::string_view request)>;

} // namespace vmm::nsm
