// cbor_util's builders write the shortest encodings (what serde/ciborium and python3-cbor2
// write); cbor_parse's depth limit.
#include "base/error.h"
#include "base/hex.h"
#include "eif-format/cbor_util.h"

#include <doctest/doctest.h>

namespace {

std::string hex_of(const eif::CborPtr& item)
{
    std::string bytes = eif::cbor_serialize(item.get());
    return base::to_hex(bytes.data(), bytes.size());
}

} // namespace

TEST_CASE("cbor_util: cbor_uint writes each value in its shortest form")
{
    CHECK(hex_of(eif::cbor_uint(0)) == "00");
    CHECK(hex_of(eif::cbor_uint(23)) == "17");
    CHECK(hex_of(eif::cbor_uint(24)) == "1818");
    CHECK(hex_of(eif::cbor_uint(255)) == "18ff");
    CHECK(hex_of(eif::cbor_uint(256)) == "190100");
    CHECK(hex_of(eif::cbor_uint(65535)) == "19ffff");
    CHECK(hex_of(eif::cbor_uint(65536)) == "1a00010000");
    CHECK(hex_of(eif::cbor_uint(4294967295u)) == "1affffffff");
    CHECK(hex_of(eif::cbor_uint(4294967296u)) == "1b0000000100000000");
}

TEST_CASE("cbor_util: text and byte strings keep every byte")
{
    CHECK(hex_of(eif::cbor_text("SHA384")) == "66534841333834");
    CHECK(hex_of(eif::cbor_text(std::string_view("a\0b", 3))) == "63610062");
    CHECK(hex_of(eif::cbor_byte_string("")) == "40");
    CHECK(hex_of(eif::cbor_byte_string(std::string(24, '\x01'))) == "5818010101010101010101010101010101010101010101010101");
}

TEST_CASE("cbor_util: cbor_parse refuses nesting deeper than asked")
{
    std::string two_levels("\x81\x81\x00", 3);   // [[0]]
    CHECK_NOTHROW(eif::cbor_parse(two_levels, "test", 2));
    CHECK_THROWS_AS(eif::cbor_parse(two_levels, "test", 1), base::Error);
    CHECK_NOTHROW(eif::cbor_parse(two_levels, "test"));
}
