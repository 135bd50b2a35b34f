// eif-format/eif_writer.h — writes an EIF v4 in the AWS section order (kernel, cmdline, metadata,
// ramdisks…, signature) in one streaming pass: every byte is read once, written once, and fed
// to the CRC-32 and the PCR hashes on the way. The output appears atomically (temp file +
// rename); on any error nothing is left behind. A signing key/certificate is loaded and checked
// before the first byte is written.
//
// Usage:
//     eif::BuildRequest req;
//     req.kernel_path = "/path/bzImage";
//     req.cmdline = "console=ttyS0 reboot=k";
//     req.metadata = eif::build_metadata({ .image_name = "hello", .image_version = "1.0",
//                                          .kernel_config_path = eif::kernel_config_path_for(req.kernel_path) });
//     req.ramdisks.push_back(eif::SectionSource::file("init.cpio"));
//     req.ramdisks.push_back(eif::SectionSource::producer([&](const eif::ChunkSink& out) {
//         cpio_writer.write_to(out);                 // stream a ramdisk without a temp file
//     }));
//     req.signing = eif::SigningInput { "key.pem", "cert.pem" };   // optional
//     eif::Measurements m = eif::write_eif(req, "app.eif");
#pragma once

#include "base/byte_sink.h"
#include "eif-format/metadata.h"
#include "eif-format/pcr.h"
#include "eif-format/signature.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace eif {

inline constexpr std::size_t kChunkSizeForFiles = 1 << 20;

// Receives consecutive chunks of a section's data (bytes, or file ranges read straight into the
// writer's buffers: see base/byte_sink.h).
using ChunkSink = base::ByteSink;

// Where a section's bytes come from: a file (streamed in 1 MiB chunks), bytes in memory, or a
// producer that pushes chunks into the sink it is given (its size need not be known in advance).
class SectionSource {
public:
    static SectionSource file(std::string path);
    static SectionSource bytes(std::string data);
    static SectionSource producer(std::function<void(const ChunkSink&)> produce);

    // Pushes the bytes into sink.
    void emit(const ChunkSink& sink) const;
    std::string describe() const; // for error messages: the path, "memory" or "producer"

private:
    enum class Kind { File, Bytes, Producer };
    Kind m_kind { Kind::Bytes };
    std::string m_text; // path or data
    std::function<void(const ChunkSink&)> m_produce;
};

struct BuildRequest {
    std::string kernel_path;              // bzImage (x86_64) or Image (aarch64)
    std::string cmdline;                  // stored as is, without NUL or trailing newline
    nlohmann::ordered_json metadata;      // the metadata section; see build_metadata()
    std::vector<SectionSource> ramdisks;  // in order: ramdisk0 (init), ramdisk1 (app), ...
    std::optional<SigningInput> signing;  // adds the signature section and PCR8
    std::uint16_t arch_flags { 0 };       // 0 = x86_64, kFlagArchArm64 = aarch64
    std::optional<std::int64_t> signing_time; // validity check time (default: now)
};

// Writes the image; returns its PCRs (pcr8 when signed). Throws base::Error; no file on error.
Measurements write_eif(const BuildRequest& request, const std::string& output_path);

} // namespace eif
