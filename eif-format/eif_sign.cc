#include "eif-format/eif_sign.h"

#include "base/error.h"
#include "base/file.h"
#include "eif-format/eif_reader.h"
#include "eif-format/eif_stream_writer.h"

namespace eif {

Measurements sign_eif(const std::string& eif_path, const SigningInput& signing, const std::string& output_path,
    std::optional<std::int64_t> now)
{
    Signer signer = Signer::load(signing, now);
    ReadOptions options;
    options.verify_crc = false; // checked below during the copy, so the file is read once
    EifReader reader = EifReader::open(eif_path, options);

    // The input's CRC, computed over exactly the bytes it covers while they are copied.
    std::uint8_t raw[kHeaderSize];
    base::pread_exact(reader.fd(), raw, sizeof raw, 0, eif_path);
    std::uint32_t input_crc = crc32_update(0, raw, kCrcOffset);
    auto crc_section_header = [&](const SectionInfo& s) {
        std::uint8_t header[kSectionHeaderSize];
        base::pread_exact(reader.fd(), header, sizeof header, s.header_offset, eif_path);
        input_crc = crc32_update(input_crc, header, sizeof header);
    };

    base::AtomicFile file(output_path.empty() ? eif_path : output_path);
    StreamingWriter writer(file);
    for (const SectionInfo& s : reader.sections()) {
        crc_section_header(s);
        if (s.type == SectionType::Signature) {
            reader.for_each_chunk(s.index, [&](const std::uint8_t* data, std::size_t size) { input_crc = crc32_update(input_crc, data, size); });
            continue;
        }
        writer.add(s.type, SectionSource::producer([&](const ChunkSink& sink) {
            reader.for_each_chunk(s.index, [&](const std::uint8_t* data, std::size_t size) {
                input_crc = crc32_update(input_crc, data, size);
                sink(data, size);
            });
        }));
    }
    if (input_crc != reader.header().crc32)
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_CRC",
            "eif: " + eif_path + ": CRC-32 mismatch: header at offset 0x220 says " + hex_offset(reader.header().crc32)
                + ", the contents give " + hex_offset(input_crc) + "; refusing to sign a corrupt image");
    Measurements m = writer.measure();
    writer.add(SectionType::Signature, SectionSource::bytes(signer.signature_section(writer.pcr0())));
    m.pcr8 = to_hex(signer.pcr8());
    writer.finish(reader.header());
    file.commit();
    return m;
}

} // namespace eif
