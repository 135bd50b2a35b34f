// tools/image/layer_reader.h — reads one image layer (a tar, plain, gzip or zstd, detected by its
// magic bytes) with libarchive, merges its entries into a FileTree and stores file contents in a
// SpillFile, while checking the layer blob's sha256 digest over the very bytes it reads. An image
// is input from anyone: UnpackLimits caps what its layers may unpack to (bytes, entries, and the
// ratio of decompressed to compressed bytes), checked as it goes, so a gzip bomb or a layer of
// millions of entries ends with one clear error before it fills the disk or the memory.
//
// Usage:
//     image::LayerBlob blob { .range = store.find(path), .digest = "sha256:ab12…" };
//     image::UnpackTotals totals;                             // shared by all layers of an image
//     image::read_layer(blob, /*index=*/0, tree, spill, limits, totals); // throws on a digest mismatch
#pragma once

#include "tools/image/blob_store.h"
#include "tools/image/file_tree.h"
#include "tools/image/spill_file.h"

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

// make-img's --max-unpacked-bytes, --max-entries and --max-ratio (README "make-img limits").
struct UnpackLimits {
    // Regular files' sizes over all layers (sparse holes count: they become bytes in the ramdisk).
    std::uint64_t max_unpacked_bytes { 8ull << 30 };
    // Tar entries over all layers.
    std::uint64_t max_entries { 1'000'000 };
    // A layer's decompressed bytes per byte of its blob, checked once it has decompressed more
    // than kRatioFloor (gzip's own limit is about 1,030; real layers rarely pass 20).
    std::uint64_t max_ratio { 100 };
    static constexpr std::uint64_t kRatioFloor = 64ull << 20;
};

// What the layers read so far used of the limits.
struct UnpackTotals {
    std::uint64_t bytes { 0 };
    std::uint64_t entries { 0 };
};

void read_layer(const LayerBlob& blob, unsigned index, FileTree& tree, SpillFile& spill, const UnpackLimits& limits,
    UnpackTotals& totals);

// "sha256:<hex>" of a byte range (used for manifests and configs).
std::string sha256_digest(const void* data, std::size_t size);

} // namespace image
