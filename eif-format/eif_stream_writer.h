// eif-format/eif_stream_writer.h — the one-pass section writer shared by write_eif() and
// sign_eif(): sections are appended back to back after a placeholder header; every data byte
// is written once and fed once to the CRC-32 and the PCR measurer. These run as three stages of
// a base::ChunkPipeline (PCR0's SHA-384, PCR1's or PCR2's SHA-384, CRC-32 + file write), each on
// a thread of its own when there is more than one CPU, while the section's source produces the
// next bytes: a section costs about one SHA-384 pass. The file is written by a base::DirectAppender
// (O_DIRECT where the filesystem allows it: no copy into the page cache). A section header (whose
// size is known only when its data ends) and the file header are patched afterwards; their CRCs
// are merged in with zlib's crc32_combine, so nothing is read back.
//
// Usage:
//     base::AtomicFile file("out.eif");
//     eif::StreamingWriter w(file);
//     w.add(eif::SectionType::Kernel, eif::SectionSource::file("bzImage"));
//     ...
//     eif::Measurements m = w.measure();     // after the last measured section
//     w.add(eif::SectionType::Signature, eif::SectionSource::bytes(sig));
//     w.finish(eif::EifHeader {});           // version/flags/defaults from the template
//     file.commit();
#pragma once

#include "base/chunk_pipeline.h"
#include "base/direct_appender.h"
#include "base/file.h"
#include "eif-format/eif_layout.h"
#include "eif-format/eif_writer.h"
#include "eif-format/pcr.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace eif {

// CRC-32 (gzip/zlib polynomial) via libdeflate; crc32_concat via zlib's crc32_combine64.
std::uint32_t crc32_update(std::uint32_t crc, const void* data, std::size_t size);
std::uint32_t crc32_concat(std::uint32_t first, std::uint32_t second, std::uint64_t second_size);

class StreamingWriter {
public:
    explicit StreamingWriter(base::AtomicFile& file);

    void add(SectionType type, const SectionSource& source);
    // PCR0/1/2 of the sections added so far; call once, before adding unmeasured trailers.
    Measurements measure();
    const Digest& pcr0() const { return m_measurer.pcr0(); }
    // Writes the header: num_sections, offsets, sizes and CRC filled in; the other fields
    // (version, flags, default_mem, default_cpus) come from `base`.
    void finish(EifHeader base);

private:
    base::DirectAppender m_out;
    ImageMeasurer m_measurer;
    bool m_measured { false };
    std::uint64_t m_position { kHeaderSize };
    std::uint32_t m_body_crc { 0 };
    std::uint64_t m_body_size { 0 };
    std::vector<std::pair<std::uint64_t, std::uint64_t>> m_sections; // offset, size
    bool m_section_measured { false };  // stage state for the section being added
    std::uint32_t m_section_crc { 0 };
    base::ChunkPipeline m_pipeline;     // last: its threads stop before the state they use goes
};

} // namespace eif
