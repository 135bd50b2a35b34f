// vmm/nsm/nsm_protocol.h — the NSM wire format (nitro-enclaves.md §5.2, vmm/nsm/README.md): CBOR
// requests and responses shaped as serde's externally tagged enums of aws-nitro-enclaves-nsm-api.
// Pure functions with no state: parse_request turns untrusted guest bytes into a Request or the
// ErrorCode to answer; the encode_* functions write each response exactly as libnsm's serde
// (ciborium) would, field order and shortest integers included.
//
// Usage:
//     vmm::nsm::ParsedRequest p = vmm::nsm::parse_request(bytes);     // never throws
//     if (p.error) return vmm::nsm::encode_error(*p.error);
//     if (auto* r = std::get_if<vmm::nsm::DescribePcrRequest>(&p.request)) ...
#pragma once

#include "vmm/nsm/nsm_types.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace vmm::nsm {

// DescribeNSM's version: 1.0.0, as QEMU's emulation reports. nsm-api has one protocol (its
// Request/Response enums); clients check the major version first. No extensions here.
inline constexpr std::uint16_t kVersionMajor = 1;
inline constexpr std::uint16_t kVersionMinor = 0;
inline constexpr std::uint16_t kVersionPatch = 0;
inline constexpr std::size_t kRandomSize = 256;   // GetRandom's bytes per answer (as QEMU)

// nsm-api's ErrorCode, in its order (libnsm's C values are this order with Success = 0). Only the
// name goes on the wire. Never sent by this module: Success (not an error), InvalidResponse and
// BufferTooSmall (client-side, produced by libnsm itself), InvalidOperation (every request of
// protocol 1.0 is implemented).
enum class ErrorCode {
    Success,
    InvalidArgument,
    InvalidIndex,
    InvalidResponse,
    ReadOnlyIndex,
    InvalidOperation,
    BufferTooSmall,
    InputTooLarge,
    InternalError,
};
std::string_view error_name(ErrorCode code);

struct DescribeNsmRequest { };
struct DescribePcrRequest {
    std::uint16_t index { 0 };
};
struct ExtendPcrRequest {
    std::uint16_t index { 0 };
    std::string data;                          // any length the request size allows
};
struct LockPcrRequest {
    std::uint16_t index { 0 };
};
struct LockPcrsRequest {
    std::uint16_t range { 0 };                 // locks 0..range-1
};
struct AttestationRequest {
    std::optional<std::string> user_data;      // null or missing key = nullopt; ≤ kMaxUserFieldSize
    std::optional<std::string> nonce;
    std::optional<std::string> public_key;
};
struct GetRandomRequest { };

using Request = std::variant<DescribeNsmRequest, DescribePcrRequest, ExtendPcrRequest, LockPcrRequest,
    LockPcrsRequest, AttestationRequest, GetRandomRequest>;

struct ParsedRequest {
    Request request;
    std::optional<ErrorCode> error;            // set: answer encode_error(*error), ignore `request`
};

// Checks the whole request: size (InputTooLarge above kMaxRequestSize), one well-formed CBOR item
// with definite lengths and no tags, a known variant with exactly its shape (missing or
// duplicated field, wrong type, an index or range that is not a u16: InvalidArgument; unknown
// keys are ignored, as serde does), and attestation fields ≤ kMaxUserFieldSize (InputTooLarge).
// Index ranges (≥ 32) are the PCR bank's to judge. Never throws.
ParsedRequest parse_request(std::string_view bytes) noexcept;

// Responses. Throw base::Error (Internal) only if libcbor cannot allocate.
std::string encode_describe_nsm(std::string_view module_id, const std::vector<unsigned>& locked_pcrs);
std::string encode_describe_pcr(bool locked, const Digest& value);
std::string encode_extend_pcr(const Digest& value);
std::string encode_lock_pcr();
std::string encode_lock_pcrs();
std::string encode_attestation(std::string_view document);
std::string encode_get_random(std::string_view random);
std::string encode_error(ErrorCode code);

// encode_error(InternalError), built without allocating through libcbor: what handle() answers
// when everything else failed.
inline constexpr std::string_view kInternalErrorResponse { "\xa1\x65" "Error" "\x6d" "InternalError", 21 };

// The largest document an Attestation response can carry within kMaxResponseSize.
std::size_t max_document_size();

} // namespace vmm::nsm
