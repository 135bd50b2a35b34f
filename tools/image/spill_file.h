// tools/image/spill_file.h — an append-only scratch file for the contents of an image's regular
// files while its layers are merged (memory stays bounded however large the image is). The bytes
// are written by a base::ChunkPipeline stage, on a thread of its own where there is a second CPU,
// while the caller goes on unpacking.
//
// Usage:
//     image::SpillFile spill("/out/app.eif");       // scratch file beside the output
//     std::uint64_t at = spill.size();
//     spill.append(block, n);                      // buffered; written in the background
//     spill.flush();                               // before reading back with pread(spill.fd(), ...)
#pragma once

#include "base/chunk_pipeline.h"
#include "tools/image/temp_file.h"

#include <cstdint>
#include <string>

namespace image {

class SpillFile {
public:
    explicit SpillFile(const std::string& near_path);

    void append(const void* data, std::size_t size);
    void append_zeros(std::uint64_t count);
    void flush();
    std::uint64_t size() const { return m_size; }
    int fd() const { return m_file.fd(); }
    const std::string& path() const { return m_file.path(); }

private:
    TempFile m_file;
    std::uint64_t m_size { 0 };
    // Bytes in the file (written, or a hole made by ftruncate): the writer stage's next offset.
    // It writes with pwrite, as the file offset does not follow ftruncate.
    std::uint64_t m_written { 0 };
    base::ChunkPipeline m_writer; // last: stopped before the state it uses goes
};

} // namespace image
