#include "vmm/nsm/nsm_protocol.h"

#include "base/error.h"
#include "eif-format/cbor_util.h"

#include <cstring>
#include <new>

namespace vmm::nsm {

namespace {

using eif::CborPtr;
using eif::cbor_byte_string;
using eif::cbor_own;
using eif::cbor_put;
using eif::cbor_text;
using eif::cbor_uint;

// A request is at most {"Variant": {"field": value}}: two levels; anything deeper is refused
// before libcbor allocates it.
constexpr int kMaxRequestDepth = 2;

ParsedRequest failure(ErrorCode code)
{
    ParsedRequest p;
    p.error = code;
    return p;
}

bool is_text(const cbor_item_t* item, std::string_view text)
{
    return cbor_isa_string(item) && cbor_string_is_definite(item) && cbor_string_length(item) == text.size()
        && std::memcmp(cbor_string_handle(item), text.data(), text.size()) == 0;
}

std::optional<std::string_view> text_of(const cbor_item_t* item)
{
    if (!cbor_isa_string(item) || !cbor_string_is_definite(item))
        return std::nullopt;
    return std::string_view(reinterpret_cast<const char*>(cbor_string_handle(item)), cbor_string_length(item));
}

// The fields of a struct variant's map: each wanted key found at most once. Unknown text keys
// are skipped (serde ignores unknown fields); a non-text key or a repeated field is malformed.
class StructFields {
public:
    StructFields(const cbor_item_t* map, std::initializer_list<std::string_view> names)
        : m_names(names)
        , m_values(names.size(), nullptr)
    {
        if (!cbor_isa_map(map) || !cbor_map_is_definite(map)) {
            m_ok = false;
            return;
        }
        cbor_pair* pairs = cbor_map_handle(map);
        for (std::size_t i = 0; i < cbor_map_size(map); ++i) {
            std::optional<std::string_view> key = text_of(pairs[i].key);
            if (!key) {
                m_ok = false;
                return;
            }
            for (std::size_t n = 0; n < m_names.size(); ++n) {
                if (*key != m_names[n])
                    continue;
                if (m_values[n]) {
                    m_ok = false;
                    return;
                }
                m_values[n] = pairs[i].value;
            }
        }
    }

    bool ok() const { return m_ok; }
    // The value of the n-th wanted field, or null when absent.
    const cbor_item_t* get(std::size_t n) const { return m_values[n]; }

private:
    std::vector<std::string_view> m_names;
    std::vector<const cbor_item_t*> m_values;
    bool m_ok { true };
};

std::optional<std::uint16_t> u16_of(const cbor_item_t* item)
{
    if (!item || !cbor_isa_uint(item) || cbor_get_int(item) > UINT16_MAX)
        return std::nullopt;
    return static_cast<std::uint16_t>(cbor_get_int(item));
}

// One u16 field (DescribePCR/LockPCR "index", LockPCRs "range").
std::optional<std::uint16_t> only_u16(const cbor_item_t* body, std::string_view name)
{
    StructFields fields(body, { name });
    if (!fields.ok())
        return std::nullopt;
    return u16_of(fields.get(0));
}

// An Option<ByteBuf> of the Attestation request: missing or null → nullopt; a byte string → its
// bytes; anything else → InvalidArgument.
bool optional_bytes(const cbor_item_t* item, std::optional<std::string>& out)
{
    if (!item || cbor_is_null(item))
        return true;
    std::optional<std::string> bytes = eif::cbor_bytes(item);
    if (!bytes)
        return false;
    out = std::move(bytes);
    return true;
}

ParsedRequest parse_struct_variant(std::string_view name, const cbor_item_t* body)
{
    ParsedRequest p;
    if (name == "DescribePCR" || name == "LockPCR") {
        std::optional<std::uint16_t> index = only_u16(body, "index");
        if (!index)
            return failure(ErrorCode::InvalidArgument);
        if (name == "DescribePCR")
            p.request = DescribePcrRequest { *index };
        else
            p.request = LockPcrRequest { *index };
        return p;
    }
    if (name == "LockPCRs") {
        std::optional<std::uint16_t> range = only_u16(body, "range");
        if (!range)
            return failure(ErrorCode::InvalidArgument);
        p.request = LockPcrsRequest { *range };
        return p;
    }
    if (name == "ExtendPCR") {
        StructFields fields(body, { "index", "data" });
        std::optional<std::uint16_t> index = fields.ok() ? u16_of(fields.get(0)) : std::nullopt;
        std::optional<std::string> data = fields.ok() ? eif::cbor_bytes(fields.get(1)) : std::nullopt;
        if (!index || !data)
            return failure(ErrorCode::InvalidArgument);
        p.request = ExtendPcrRequest { *index, std::move(*data) };
        return p;
    }
    if (name == "Attestation") {
        StructFields fields(body, { "user_data", "nonce", "public_key" });
        AttestationRequest a;
        if (!fields.ok() || !optional_bytes(fields.get(0), a.user_data) || !optional_bytes(fields.get(1), a.nonce)
            || !optional_bytes(fields.get(2), a.public_key))
            return failure(ErrorCode::InvalidArgument);
        for (const std::optional<std::string>* f : { &a.user_data, &a.nonce, &a.public_key })
            if (*f && (*f)->size() > kMaxUserFieldSize)
                return failure(ErrorCode::InputTooLarge);
        p.request = std::move(a);
        return p;
    }
    // "DescribeNSM"/"GetRandom" in map form, or a name nsm-api does not have.
    return failure(ErrorCode::InvalidArgument);
}

ParsedRequest parse_item(const cbor_item_t* item)
{
    ParsedRequest p;
    if (is_text(item, "DescribeNSM")) {
        p.request = DescribeNsmRequest {};
        return p;
    }
    if (is_text(item, "GetRandom")) {
        p.request = GetRandomRequest {};
        return p;
    }
    if (!cbor_isa_map(item) || !cbor_map_is_definite(item) || cbor_map_size(item) != 1)
        return failure(ErrorCode::InvalidArgument);
    const cbor_pair& variant = cbor_map_handle(item)[0];
    std::optional<std::string_view> name = text_of(variant.key);
    if (!name)
        return failure(ErrorCode::InvalidArgument);
    return parse_struct_variant(*name, variant.value);
}

CborPtr single_entry_map(std::string_view key, CborPtr value)
{
    CborPtr map = cbor_own(cbor_new_definite_map(1));
    cbor_put(map.get(), cbor_text(key), std::move(value));
    return map;
}

std::string digest_response(std::string_view variant, const Digest& value)
{
    std::string_view bytes(reinterpret_cast<const char*>(value.data()), value.size());
    return eif::cbor_serialize(single_entry_map(variant, single_entry_map("data", cbor_byte_string(bytes))).get());
}

} // namespace

std::string_view error_name(ErrorCode code)
{
    switch (code) {
    case ErrorCode::Success:
        return "Success";
    case ErrorCode::InvalidArgument:
        return "InvalidArgument";
    case ErrorCode::InvalidIndex:
        return "InvalidIndex";
    case ErrorCode::InvalidResponse:
        return "InvalidResponse";
    case ErrorCode::ReadOnlyIndex:
        return "ReadOnlyIndex";
    case ErrorCode::InvalidOperation:
        return "InvalidOperation";
    case ErrorCode::BufferTooSmall:
        return "BufferTooSmall";
    case ErrorCode::InputTooLarge:
        return "InputTooLarge";
    case ErrorCode::InternalError:
        break;
    }
    return "InternalError";
}

ParsedRequest parse_request(std::string_view bytes) noexcept
{
    try {
        if (bytes.size() > kMaxRequestSize)
            return failure(ErrorCode::InputTooLarge);
        CborPtr item = eif::cbor_parse(bytes, "NSM request", kMaxRequestDepth);
        return parse_item(item.get());
    } catch (const base::Error& e) {
        return failure(e.kind() == base::ErrorKind::InvalidInput ? ErrorCode::InvalidArgument : ErrorCode::InternalError);
    } catch (...) {
        return failure(ErrorCode::InternalError);
    }
}

std::string encode_describe_nsm(std::string_view module_id, const std::vector<unsigned>& locked_pcrs)
{
    // serde writes a struct's fields in declaration order (nsm-api's Response::DescribeNSM).
    CborPtr body = cbor_own(cbor_new_definite_map(7));
    cbor_put(body.get(), cbor_text("version_major"), cbor_uint(kVersionMajor));
    cbor_put(body.get(), cbor_text("version_minor"), cbor_uint(kVersionMinor));
    cbor_put(body.get(), cbor_text("version_patch"), cbor_uint(kVersionPatch));
    cbor_put(body.get(), cbor_text("module_id"), cbor_text(module_id));
    cbor_put(body.get(), cbor_text("max_pcrs"), cbor_uint(kPcrCount));
    CborPtr locked = cbor_own(cbor_new_definite_array(locked_pcrs.size()));
    for (unsigned index : locked_pcrs)
        eif::cbor_push(locked.get(), cbor_uint(index));
    cbor_put(body.get(), cbor_text("locked_pcrs"), std::move(locked));
    cbor_put(body.get(), cbor_text("digest"), cbor_text("SHA384"));
    return eif::cbor_serialize(single_entry_map("DescribeNSM", std::move(body)).get());
}

std::string encode_describe_pcr(bool locked, const Digest& value)
{
    CborPtr body = cbor_own(cbor_new_definite_map(2));
    cbor_put(body.get(), cbor_text("lock"), cbor_own(cbor_build_bool(locked)));
    cbor_put(body.get(), cbor_text("data"),
        cbor_byte_string(std::string_view(reinterpret_cast<const char*>(value.data()), value.size())));
    return eif::cbor_serialize(single_entry_map("DescribePCR", std::move(body)).get());
}

std::string encode_extend_pcr(const Digest& value)
{
    return digest_response("ExtendPCR", value);
}

std::string encode_lock_pcr()
{
    return eif::cbor_serialize(cbor_text("LockPCR").get());
}

std::string encode_lock_pcrs()
{
    return eif::cbor_serialize(cbor_text("LockPCRs").get());
}

std::string encode_attestation(std::string_view document)
{
    return eif::cbor_serialize(single_entry_map("Attestation", single_entry_map("document", cbor_byte_string(document))).get());
}

std::string encode_get_random(std::string_view random)
{
    return eif::cbor_serialize(single_entry_map("GetRandom", single_entry_map("random", cbor_byte_string(random))).get());
}

std::string encode_error(ErrorCode code)
{
    return eif::cbor_serialize(single_entry_map("Error", cbor_text(error_name(code))).get());
}

std::size_t max_document_size()
{
    // a1 6b "Attestation" a1 68 "document" 59 nn nn <document>: 26 bytes around the document
    // (a byte string of 256..65535 bytes has a 3-byte header).
    constexpr std::size_t kEnvelope = 1 + 1 + 11 + 1 + 1 + 8 + 3;
    return kMaxResponseSize - kEnvelope;
}

} // namespace vmm::nsm
