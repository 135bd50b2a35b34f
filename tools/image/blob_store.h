// tools/image/blob_store.h — named files of an image source, read in place: a directory (OCI
// image layout) or a tar archive (oci-archive, docker-archive).
//
// An uncompressed archive is indexed once (names → data offset and size) and its members are
// then read straight from the archive file; a compressed archive (e.g. `docker save | gzip`) is
// unpacked once into anonymous scratch files. Names are relative paths; a name that is absolute
// or climbs out with ".." is rejected, and symlinks inside an archive (docker ≥ 25 writes
// `<id>/layer.tar -> ../blobs/sha256/<hex>`) are followed inside it.
//
// Usage:
//     image::BlobStore store = image::BlobStore::open_archive("app.tar", "/out/app.eif", limits);
//     image::BlobRange r = store.find("manifest.json");      // throws if missing
//     std::string json = store.read_small(r, 4 << 20);
#pragma once

#include "tools/image/unpack_limits.h"

#include "base/file.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace image {

// A byte range of an open file (owned by the BlobStore that handed it out).
struct BlobRange {
    int fd { -1 };
    std::uint64_t offset { 0 };
    std::uint64_t size { 0 };
    std::string name {}; // for messages: "app.tar:blobs/sha256/ab12…"
};

class BlobStore {
public:
    static BlobStore open_directory(const std::string& dir);
    // scratch_near: where scratch files go if the archive is compressed (see TempFile).
    // limits: entries always; for a compressed archive also the bytes unpacked into scratch
    // files and the compression ratio (a gzip bomb as the archive itself).
    static BlobStore open_archive(const std::string& path, const std::string& scratch_near, const UnpackLimits& limits);

    BlobStore(BlobStore&&) noexcept;
    BlobStore& operator=(BlobStore&&) noexcept;
    ~BlobStore();

    // The member/file called name, or an empty range (fd -1) if there is none.
    BlobRange lookup(const std::string& name) const;
    // Like lookup, but throws a NotFound error naming the source.
    BlobRange find(const std::string& name) const;
    // Reads a whole (small) blob; throws if it is larger than max_bytes.
    std::string read_small(const BlobRange& range, std::size_t max_bytes) const;

    const std::string& label() const { return m_label; }

private:
    BlobStore() = default;
    struct Archive;
    std::string m_label;
    base::UniqueFd m_dir; // directory sources
    std::unique_ptr<Archive> m_archive;
    mutable std::vector<base::UniqueFd> m_dir_files; // blobs handed out from a directory
};

} // namespace image
