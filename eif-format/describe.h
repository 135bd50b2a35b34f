// eif-format/describe.h — the JSON documents of the EIF commands, in nitro-cli's field order:
// describe-eif's report and the {"Measurements": {...}} object of sign/build.
//
// Usage:
//     qtvmm::Json report = eif::describe_eif("app.eif");   // throws on structural errors
//     qtvmm::Json pcrs = eif::measurements_json(m);        // {"HashAlgorithm", "PCR0", ...}
#pragma once

#include "eif-format/pcr.h"

#include <nlohmann/json.hpp>
#include <string>

namespace eif {

inline constexpr const char* kHashAlgorithmName = "Sha384 { ... }";
inline constexpr std::size_t kMaxMetadataSection = 16 << 20;

nlohmann::ordered_json measurements_json(const Measurements& m);

// EifVersion, Arch (qt-vmm's addition: "x86_64" or "aarch64", from the header's arch flag),
// Measurements, IsSigned, SigningCertificate, CheckCRC, SignatureCheck, ImageName,
// ImageVersion, Metadata. A CRC mismatch is reported (CheckCRC false), not thrown; structural
// errors and unparsable metadata/signature sections throw base::Error.
nlohmann::ordered_json describe_eif(const std::string& path);

} // namespace eif
