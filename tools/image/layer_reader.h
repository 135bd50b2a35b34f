// tools/image/layer_reader.h — reads one image layer (a tar, plain, gzip or zstd, detected by its
// magic bytes) with libarchive and merges its entries into a FileTree, within UnpackLimits
// (unpack_limits.h): bytes, entries, and decompressed per compressed byte. File contents are
// copied to the spill file while the blob's sha256 digest is checked over the very bytes read,
// except in a plain tar whose blob ContentSources can lease: there the inodes point into the blob
// itself, libarchive skips over file data, and the digest is checked by a thread of its own while
// make-img goes on; ContentSources::verify() after the last read makes that safe.
//
// Usage:
//     image::LayerBlob blob { .range = store.find(path), .digest = "sha256:ab12…" };
//     image::ContentSources sources(spill);                   // shared by all layers of an image
//     image::UnpackTotals totals;                             // likewise
//     image::read_layer(blob, /*index=*/0, tree, sources, limits, totals); // throws on a digest mismatch
//     ...                                                     // write the ramdisk
//     sources.verify();                                       // the in-place layers' digests and leases
#pragma once

#include "tools/image/blob_digest.h"
#include "tools/image/blob_store.h"
#include "tools/image/content_sources.h"
#include "tools/image/file_tree.h"
#include "tools/image/unpack_limits.h"

#include <cstdint>
#include <string>

namespace image {

struct LayerBlob {
    BlobRange range;
    // "sha256:<hex>" the bytes must hash to; empty = not checked.
    std::string digest {};
    // digest is the layer's uncompressed diff_id (docker-archive): checked only when the blob is
    // stored uncompressed, which is how `docker save` writes layers.
    bool digest_is_diff_id { false };
};

void read_layer(const LayerBlob& blob, unsigned index, FileTree& tree, ContentSources& sources, const UnpackLimits& limits,
    UnpackTotals& totals);

} // namespace image
