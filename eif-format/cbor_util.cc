#include "eif-format/cbor_util.h"

#include "base/error.h"

#include <cstdlib>
#include <cstring>

namespace eif {

CborPtr cbor_own(cbor_item_t* item)
{
    if (!item)
        throw base::Error(base::ErrorKind::Internal, "CBOR_ALLOC", "libcbor could not allocate an item");
    return CborPtr(item);
}

std::string cbor_serialize(const cbor_item_t* item)
{
    unsigned char* buffer = nullptr;
    std::size_t capacity = 0;
    std::size_t length = cbor_serialize_alloc(item, &buffer, &capacity);
    if (length == 0) {
        std::free(buffer);
        throw base::Error(base::ErrorKind::Internal, "CBOR_SERIALIZE", "libcbor could not serialize an item");
    }
    std::string out(reinterpret_cast<const char*>(buffer), length);
    std::free(buffer);
    return out;
}

CborPtr cbor_uint_array(const std::uint8_t* data, std::size_t size)
{
    CborPtr array = cbor_own(cbor_new_definite_array(size));
    for (std::size_t i = 0; i < size; ++i)
        cbor_push(array.get(), cbor_own(cbor_build_uint8(data[i])));
    return array;
}

CborPtr cbor_uint(std::uint64_t value)
{
    if (value <= UINT8_MAX)
        return cbor_own(cbor_build_uint8(static_cast<std::uint8_t>(value)));
    if (value <= UINT16_MAX)
        return cbor_own(cbor_build_uint16(static_cast<std::uint16_t>(value)));
    if (value <= UINT32_MAX)
        return cbor_own(cbor_build_uint32(static_cast<std::uint32_t>(value)));
    return cbor_own(cbor_build_uint64(value));
}

CborPtr cbor_text(std::string_view text)
{
    return cbor_own(cbor_build_stringn(text.data(), text.size()));
}

CborPtr cbor_byte_string(std::string_view bytes)
{
    return cbor_own(cbor_build_bytestring(reinterpret_cast<cbor_data>(bytes.data()), bytes.size()));
}

void cbor_push(cbor_item_t* array, CborPtr item)
{
    if (!cbor_array_push(array, item.get()))
        throw base::Error(base::ErrorKind::Internal, "CBOR_ALLOC", "libcbor could not grow an array");
}

void cbor_put(cbor_item_t* map, CborPtr key, CborPtr value)
{
    if (!cbor_map_add(map, cbor_pair { key.get(), value.get() }))
        throw base::Error(base::ErrorKind::Internal, "CBOR_ALLOC", "libcbor could not grow a map");
}

std::optional<std::string> cbor_check_shape(std::string_view bytes, int max_depth)
{
    // Iterative walk: `pending` holds how many items each open container still expects.
    std::vector<std::uint64_t> pending;
    std::size_t pos = 0;
    auto read_arg = [&](std::uint8_t info, std::uint64_t& value) -> bool {
        if (info < 24) {
            value = info;
            return true;
        }
        if (info > 27)
            return false; // 28-30 reserved, 31 = indefinite length (not used by EIFs)
        std::size_t n = std::size_t(1) << (info - 24);
        if (bytes.size() - pos < n)
            return false;
        value = 0;
        for (std::size_t i = 0; i < n; ++i)
            value = (value << 8) | static_cast<std::uint8_t>(bytes[pos + i]);
        pos += n;
        return true;
    };
    bool top_done = false;
    while (!top_done) {
        if (pos >= bytes.size())
            return "truncated CBOR item at byte " + std::to_string(pos);
        auto initial = static_cast<std::uint8_t>(bytes[pos++]);
        std::uint8_t major = initial >> 5;
        std::uint8_t info = initial & 0x1f;
        std::uint64_t arg = 0;
        if (major == 7) {
            if (info == 31 || (info >= 28 && info <= 30))
                return "unsupported CBOR simple/float encoding at byte " + std::to_string(pos - 1);
            if (info >= 24 && !read_arg(info, arg))
                return "truncated CBOR value at byte " + std::to_string(pos - 1);
        } else if (!read_arg(info, arg)) {
            return "malformed or indefinite-length CBOR header at byte " + std::to_string(pos - 1);
        }
        std::uint64_t children = 0;
        switch (major) {
        case 2:
        case 3:
            if (arg > bytes.size() - pos)
                return "CBOR string at byte " + std::to_string(pos) + " runs past the end";
            pos += static_cast<std::size_t>(arg);
            break;
        case 4:
            children = arg;
            break;
        case 5:
            if (arg > (bytes.size() - pos) / 2)
                return "CBOR map at byte " + std::to_string(pos) + " claims more entries than bytes remain";
            children = arg * 2;
            break;
        case 6:
            children = 1;
            break;
        default:
            break;
        }
        if (children > bytes.size() - pos)
            return "CBOR container at byte " + std::to_string(pos) + " claims more items than bytes remain";
        if (children > 0) {
            if (static_cast<int>(pending.size()) >= max_depth)
                return "CBOR nesting deeper than " + std::to_string(max_depth);
            pending.push_back(children);
            continue;
        }
        // A complete item: close every container it completes.
        for (;;) {
            if (pending.empty()) {
                top_done = true;
                break;
            }
            if (--pending.back() > 0)
                break;
            pending.pop_back();
        }
    }
    if (pos != bytes.size())
        return std::to_string(bytes.size() - pos) + " trailing bytes after the CBOR item";
    return std::nullopt;
}

CborPtr cbor_parse(std::string_view bytes, const std::string& what, int max_depth)
{
    if (auto problem = cbor_check_shape(bytes, max_depth))
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_CBOR", what + ": " + *problem);
    cbor_load_result result {};
    cbor_item_t* item = cbor_load(reinterpret_cast<cbor_data>(bytes.data()), bytes.size(), &result);
    if (!item || result.error.code != CBOR_ERR_NONE || result.read != bytes.size()) {
        if (item)
            cbor_decref(&item);
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_CBOR",
            what + ": not valid CBOR (error at byte " + std::to_string(result.error.position) + ")");
    }
    return CborPtr(item);
}

const cbor_item_t* cbor_map_find(const cbor_item_t* map, std::string_view key)
{
    if (!map || !cbor_isa_map(map))
        return nullptr;
    cbor_pair* pairs = cbor_map_handle(map);
    for (std::size_t i = 0; i < cbor_map_size(map); ++i) {
        const cbor_item_t* k = pairs[i].key;
        if (cbor_isa_string(k) && cbor_string_is_definite(k) && cbor_string_length(k) == key.size()
            && std::memcmp(cbor_string_handle(k), key.data(), key.size()) == 0)
            return pairs[i].value;
    }
    return nullptr;
}

std::optional<std::vector<std::uint8_t>> cbor_uint_array_bytes(const cbor_item_t* item)
{
    if (!item || !cbor_isa_array(item) || !cbor_array_is_definite(item))
        return std::nullopt;
    std::vector<std::uint8_t> out;
    out.reserve(cbor_array_size(item));
    cbor_item_t** elements = cbor_array_handle(item);
    for (std::size_t i = 0; i < cbor_array_size(item); ++i) {
        if (!cbor_isa_uint(elements[i]) || cbor_get_int(elements[i]) > 255)
            return std::nullopt;
        out.push_back(static_cast<std::uint8_t>(cbor_get_int(elements[i])));
    }
    return out;
}

std::optional<std::string> cbor_bytes(const cbor_item_t* item)
{
    if (!item || !cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item))
        return std::nullopt;
    return std::string(reinterpret_cast<const char*>(cbor_bytestring_handle(item)), cbor_bytestring_length(item));
}

std::optional<std::int64_t> cbor_int(const cbor_item_t* item)
{
    if (!item)
        return std::nullopt;
    if (cbor_isa_uint(item) && cbor_get_int(item) <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(cbor_get_int(item));
    if (cbor_isa_negint(item) && cbor_get_int(item) < static_cast<std::uint64_t>(INT64_MAX))
        return -1 - static_cast<std::int64_t>(cbor_get_int(item));
    return std::nullopt;
}

} // namespace eif
