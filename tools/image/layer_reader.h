// tools/image/layer_reader.h — reads one image layer (a tar, plain, gzip or zstd, detected by its
// magic bytes) with libarchive, merges its entries into a FileTree, while checking the layer
// blob's sha256 digest over the very bytes it reads, and within UnpackLimits (unpack_limits.h):
// bytes, entries, and decompressed per compressed byte. File contents are copied to the spill
// file, except in a plain tar whose blob ContentSources can lease: there the inodes point into
// the blob itself (ContentSources::check_unchanged() after the last read makes that safe).
//
// Usage:
//     image::LayerBlob blob { .range = store.find(path), .digest = "sha256:ab12…" };
//     image::ContentSources sources(spill);                   // shared by all layers of an image
//     image::UnpackTotals totals;                             // likewise
//     image::read_layer(blob, /*index=*/0, tree, sources, limits, totals); // throws on a digest mismatch
#pragma once

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

// "sha256:<hex>" of a byte range (used for manifests and configs).
std::string sha256_digest(const void* data, std::size_t size);

} // namespace image
