// tools/image/unpack_limits.cc — see unpack_limits.h.
#include "tools/image/unpack_limits.h"

#include "base/error.h"

#include <algorithm>

namespace image {

namespace {

base::Error over_limit(const char* code, const std::string& where, const std::string& what, const char* option)
{
    return base::Error(base::ErrorKind::InvalidInput, code,
        where + ": " + what + "; the image is hostile or too large for an enclave (raise " + option + " if you trust it)");
}

} // namespace

void count_entry(const UnpackLimits& limits, UnpackTotals& totals, const std::string& where)
{
    if (++totals.entries > limits.max_entries)
        throw over_limit("IMG_TOO_MANY_ENTRIES", where, "the image has more than " + std::to_string(limits.max_entries) + " entries",
            "--max-entries");
}

void count_bytes(const UnpackLimits& limits, UnpackTotals& totals, std::uint64_t size, const std::string& where,
    const std::string& what)
{
    if (size > limits.max_unpacked_bytes - std::min(totals.bytes, limits.max_unpacked_bytes))
        throw over_limit("IMG_TOO_LARGE", where,
            what + " (" + std::to_string(size) + " bytes) takes the image's files past " + std::to_string(limits.max_unpacked_bytes)
                + " bytes",
            "--max-unpacked-bytes");
    totals.bytes += size;
}

void check_ratio(const UnpackLimits& limits, std::uint64_t inflated, std::uint64_t compressed, const std::string& where)
{
    if (inflated > UnpackLimits::kRatioFloor && inflated / std::max<std::uint64_t>(compressed, 1) >= limits.max_ratio)
        throw over_limit("IMG_COMPRESSION_RATIO", where,
            "decompresses to more than " + std::to_string(limits.max_ratio) + " times its " + std::to_string(compressed) + " bytes ("
                + std::to_string(inflated) + " bytes so far)",
            "--max-ratio");
}

} // namespace image
