// tools/image/content_sources.h — where the bytes of an image's regular files are kept between
// unpacking the layers and writing the app ramdisk. Inode::data_source indexes these sources:
// source 0 is the spill file (contents copied out of compressed layers), and an uncompressed
// layer whose blob file we hold a ReadLease on is its own source, read in place, so its file
// contents are never copied to scratch. Such a blob's digest is checked by a BackgroundDigest
// while make-img goes on, and its bytes are read again for the ramdisk; verify(), called after
// the last read, waits for the digests and fails the build if anyone opened a blob for writing
// since its lease was taken (so the bytes read may not be the bytes hashed).
//
// Usage:
//     image::SpillFile spill("/out/app.eif");
//     image::ContentSources sources(spill);
//     std::optional<std::uint32_t> src = sources.in_place(blob.range);  // before the first read of the blob
//     ...                                       // inode.data_source = src or 0 (spill)
//     sources.pread(inode, buf, n, 0);          // n bytes of the file from its start
//     sources.check_digest_later(blob.range, "sha256:ab12…", "layer 1 (…)");
//     sources.verify();                         // after the last read; throws IMG_BLOB_DIGEST_MISMATCH or IMG_BLOB_CHANGED
#pragma once

#include "tools/image/blob_digest.h"
#include "tools/image/blob_store.h"
#include "tools/image/file_tree.h"
#include "tools/image/read_lease.h"
#include "tools/image/spill_file.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <semaphore>
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
    // Starts checking that blob (a source read in place) hashes to `expected`; where: for messages.
    void check_digest_later(const BlobRange& blob, const std::string& expected, const std::string& where);
    // Waits for the digest checks started so far; throws IMG_BLOB_DIGEST_MISMATCH for a bad one.
    void verify_digests();
    // verify_digests(), then throws IMG_BLOB_CHANGED naming the blob if a source read in place
    // may have changed since its lease was taken.
    void verify();

private:
    struct InPlace {
        ReadLease lease;
        std::string name;
    };
    SpillFile& m_spill;
    std::vector<InPlace> m_in_place; // source k ≥ 1 is m_in_place[k - 1]
    std::counting_semaphore<> m_hash_turns; // blobs hashed at once: the CPUs we may use
    std::vector<std::unique_ptr<BackgroundDigest>> m_digests; // last: stopped before the leases and turns go
};

} // namespace image
