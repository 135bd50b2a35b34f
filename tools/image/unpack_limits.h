// tools/image/unpack_limits.h — caps on what unpacking an image may produce, so that a hostile
// image (a gzip bomb, millions of entries) ends with one clear error before it fills the disk or
// the memory: make-img's --max-unpacked-bytes, --max-entries and --max-ratio (README "make-img
// limits"). Checked as the bytes come: by the layer reader (layer_reader.h) for each layer's
// files, and by the blob store (blob_store.h) for a compressed image archive's members.
//
// Usage:
//     image::UnpackTotals totals;                                   // one per image (or archive)
//     image::count_entry(limits, totals, where);                    // each tar header
//     image::count_bytes(limits, totals, size, where, "'bin/app'"); // each regular file, before its data
//     image::check_ratio(limits, inflated_so_far, compressed_size, where);
#pragma once

#include <cstdint>
#include <string>

namespace image {

struct UnpackLimits {
    // Regular files' sizes over all layers (sparse holes count: they become bytes in the ramdisk).
    std::uint64_t max_unpacked_bytes { 8ull << 30 };
    // Tar entries over all layers.
    std::uint64_t max_entries { 1'000'000 };
    // Decompressed bytes per byte of the compressed blob, checked once more than kRatioFloor
    // came out (gzip's own limit is about 1,030; real layers rarely pass 20).
    std::uint64_t max_ratio { 100 };
    static constexpr std::uint64_t kRatioFloor = 64ull << 20;
};

// What was unpacked so far against the limits.
struct UnpackTotals {
    std::uint64_t bytes { 0 };
    std::uint64_t entries { 0 };
};

// Each throws base::Error (InvalidInput) naming `where`, the limit and the option that raises it.
void count_entry(const UnpackLimits& limits, UnpackTotals& totals, const std::string& where);
void count_bytes(const UnpackLimits& limits, UnpackTotals& totals, std::uint64_t size, const std::string& where,
    const std::string& what);
void check_ratio(const UnpackLimits& limits, std::uint64_t inflated, std::uint64_t compressed, const std::string& where);

} // namespace image
