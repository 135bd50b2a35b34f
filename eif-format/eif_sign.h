// eif-format/eif_sign.h — adds or replaces the signature section of an existing EIF (what
// `qt-vmm enclave sign` does). The image is rewritten through a temp file and renamed over the
// original: the signature becomes the last section, later offsets, num_sections and the CRC are
// recomputed. PCR0/1/2 do not change; PCR8 is set.
//
// Usage:
//     eif::Measurements m = eif::sign_eif("app.eif", { "key.pem", "cert.pem" });
#pragma once

#include "eif-format/pcr.h"
#include "eif-format/signature.h"

#include <cstdint>
#include <optional>
#include <string>

namespace eif {

// Signs in place (output_path empty) or into output_path. Throws base::Error; the input is
// untouched on error.
Measurements sign_eif(const std::string& eif_path, const SigningInput& signing,
    const std::string& output_path = {}, std::optional<std::int64_t> now = std::nullopt);

} // namespace eif
