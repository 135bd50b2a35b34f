// tools/image/content_sources.h — where the bytes of an image's regular files are kept between
// unpacking the layers and writing the app ramdisk. Inode::data_source indexes these sources:
// source 0 is the spill file (contents copied out of compressed layers), and an uncompressed
// layer whose blob file we hold a ReadLease on is its own source, read in place, so its file
// contents are never copied to scratch. The lease makes that safe: the blob's digest is checked
// while unpacking and its bytes are read again later for the ramdisk, so check_unchanged(),
// called after the last read, fails the build if anyone opened the blob for writing in between.
//
// Usage:
//     image::SpillFile spill("/out/app.eif");
//     image::ContentSources sources(spill);
//     std::optional<std::uint32_t> src = sources.in_place(blob.range);  // before the first read of the blob
//     ...                                       // inode.data_source = src or 0 (spill)
//     sources.pread(inode, buf, n, 0);          // n bytes of the file from its start
//     sources.check_unchanged();                // after the last read; throws IMG_BLOB_CHANGED
#pragma once

#include "tools/image/blob_store.h"
#include "tools/image/file_tree.h"
#include "tools/image/read_lease.h"
#include "tools/image/spill_file.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace image {

class ContentSources {
public:
    explicit ContentSources(SpillFile& spill);

    SpillFile& spill() { return m_spill; }
    // The source that reads blob's files in place: a new one, or the one already holding a lease
    // on the same file (the layers of one archive). nullopt: no lease to be had, copy to the spill.
    std::optional<std::uint32_t> in_place(const BlobRange& blob);

    int fd(std::uint32_t source) const;
    const std::string& name(std::uint32_t source) const;
    // size bytes of inode's file from `from` on.
    void pread(const Inode& inode, void* out, std::size_t size, std::uint64_t from) const;
    // Throws IMG_BLOB_CHANGED naming the blob if a source read in place may have changed.
    void check_unchanged() const;

private:
    struct InPlace {
        ReadLease lease;
        std::string name;
    };
    SpillFile& m_spill;
    std::vector<InPlace> m_in_place; // source k ≥ 1 is m_in_place[k - 1]
};

} // namespace image
