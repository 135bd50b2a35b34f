// eif-format/cbor_util.h — small helpers around libcbor for the EIF signature section: owning
// item handles, serialization, byte arrays stored as CBOR arrays of uints (the serde_cbor shape
// AWS uses for Vec<u8>), map lookups and a bounded well-formedness check run before cbor_load
// so hostile input cannot nest deeply or claim huge lengths.
//
// Usage:
//     eif::CborPtr arr = eif::cbor_uint_array(bytes.data(), bytes.size());
//     std::string wire = eif::cbor_serialize(arr.get());
//     eif::CborPtr item = eif::cbor_parse(wire, "signature section");   // throws base::Error
//     const cbor_item_t* v = eif::cbor_map_find(item.get(), "signature");
#pragma once

#include <cbor.h>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eif {

struct CborDeleter {
    void operator()(cbor_item_t* item) const { cbor_decref(&item); }
};
using CborPtr = std::unique_ptr<cbor_item_t, CborDeleter>;

// Wraps a freshly built item (throws on allocation failure, i.e. a null item).
CborPtr cbor_own(cbor_item_t* item);
std::string cbor_serialize(const cbor_item_t* item);
// Array of unsigned integers, one per byte.
CborPtr cbor_uint_array(const std::uint8_t* data, std::size_t size);
// An unsigned integer in its shortest encoding (as serde/ciborium writes it: 24 is 18 18, 256 is
// 19 01 00), a text string and a byte string of the given bytes.
CborPtr cbor_uint(std::uint64_t value);
CborPtr cbor_text(std::string_view text);
CborPtr cbor_byte_string(std::string_view bytes);
// Appends to a definite array / map (the helpers handle reference counts).
void cbor_push(cbor_item_t* array, CborPtr item);
void cbor_put(cbor_item_t* map, CborPtr key, CborPtr value);

// Parses one complete CBOR item (no trailing bytes, definite lengths, nesting ≤ max_depth);
// throws base::Error (InvalidInput) naming `what` otherwise.
CborPtr cbor_parse(std::string_view bytes, const std::string& what, int max_depth = 8);
// Checks the bytes are one well-formed item of at most max_depth nesting; nullopt if so,
// else a description of the problem.
std::optional<std::string> cbor_check_shape(std::string_view bytes, int max_depth);

// Value of a text key in a map, or null.
const cbor_item_t* cbor_map_find(const cbor_item_t* map, std::string_view key);
// The bytes of an array of uints each ≤ 255, or nullopt.
std::optional<std::vector<std::uint8_t>> cbor_uint_array_bytes(const cbor_item_t* item);
// The bytes of a definite byte string, or nullopt.
std::optional<std::string> cbor_bytes(const cbor_item_t* item);
// The value of an integer item (uint or negint), or nullopt.
std::optional<std::int64_t> cbor_int(const cbor_item_t* item);

} // namespace eif
