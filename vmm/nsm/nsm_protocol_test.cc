// The NSM wire contract: every request parsed from, and every response compared with, CBOR
// written out in hex (checked against python3-cbor2's encoding of the same serde shapes).
#include "vmm/nsm/nsm_protocol.h"
#include "vmm/nsm/nsm_test_util.h"

#include <doctest/doctest.h>

using namespace vmm::nsm;
using nsm_test::hex;
using nsm_test::unhex;

namespace {

template <typename T>
T parsed_as(std::string_view request_hex)
{
    ParsedRequest p = parse_request(unhex(request_hex));
    CAPTURE(request_hex);
    REQUIRE_FALSE(p.error);
    REQUIRE(std::holds_alternative<T>(p.request));
    return std::get<T>(p.request);
}

ErrorCode error_of(std::string_view request)
{
    ParsedRequest p = parse_request(request);
    REQUIRE(p.error);
    return *p.error;
}

// `depth` one-element arrays nested around the integer 0: [[[…0…]]].
std::string nested_arrays(int depth)
{
    return std::string(static_cast<std::size_t>(depth), '\x81') + std::string(1, '\x00');
}

} // namespace

TEST_CASE("nsm protocol: the unit requests are CBOR text")
{
    parsed_as<DescribeNsmRequest>("6b44657363726962654e534d");   // "DescribeNSM"
    parsed_as<GetRandomRequest>("6947657452616e646f6d");         // "GetRandom"
}

TEST_CASE("nsm protocol: struct requests are one-entry maps of their fields")
{
    // {"DescribePCR": {"index": 5}}
    CHECK(parsed_as<DescribePcrRequest>("a16b4465736372696265504352a165696e64657805").index == 5);
    // {"ExtendPCR": {"index": 16, "data": h'010203'}}
    ExtendPcrRequest e = parsed_as<ExtendPcrRequest>("a169457874656e64504352a265696e64657810646461746143010203");
    CHECK(e.index == 16);
    CHECK(hex(e.data) == "010203");
    // the same with the fields the other way round
    e = parsed_as<ExtendPcrRequest>("a169457874656e64504352a2646461746143010203" "65696e64657810");
    CHECK(e.index == 16);
    CHECK(hex(e.data) == "010203");
    // {"LockPCR": {"index": 16}}, {"LockPCRs": {"range": 20}}
    CHECK(parsed_as<LockPcrRequest>("a1674c6f636b504352a165696e64657810").index == 16);
    CHECK(parsed_as<LockPcrsRequest>("a1684c6f636b50435273a16572616e676514").range == 20);
    // {"DescribePCR": {"index": 65535}}: any u16 parses (the bank answers InvalidIndex)
    CHECK(parsed_as<DescribePcrRequest>("a16b4465736372696265504352a165696e64657819ffff").index == 65535);
}

TEST_CASE("nsm protocol: Attestation fields are byte strings, null or missing")
{
    // {"Attestation": {"user_data": h'aabb', "nonce": null, "public_key": h'01'}}
    AttestationRequest a = parsed_as<AttestationRequest>(
        "a16b4174746573746174696f6ea369757365725f6461746142aabb656e6f6e6365f66a7075626c69635f6b65794101");
    REQUIRE(a.user_data);
    CHECK(hex(*a.user_data) == "aabb");
    CHECK_FALSE(a.nonce);
    REQUIRE(a.public_key);
    CHECK(hex(*a.public_key) == "01");
    // {"Attestation": {}}: missing keys are null, as serde reads a missing Option
    a = parsed_as<AttestationRequest>("a16b4174746573746174696f6ea0");
    CHECK_FALSE(a.user_data);
    CHECK_FALSE(a.nonce);
    CHECK_FALSE(a.public_key);
    // {"Attestation": {"nonce": h'', "extra": 7}}: an empty byte string is kept, unknown keys ignored
    a = parsed_as<AttestationRequest>("a16b4174746573746174696f6ea2656e6f6e63654065657874726107");
    REQUIRE(a.nonce);
    CHECK(a.nonce->empty());
}

TEST_CASE("nsm protocol: Attestation fields up to 1024 bytes; 1025 is InputTooLarge")
{
    auto request = [](std::string_view key_hex, std::size_t n) {
        // {"Attestation": {key: h'00…'}} with a 2-byte length header (59 nn nn)
        std::string len = { static_cast<char>(n >> 8), static_cast<char>(n & 0xff) };
        return unhex("a16b4174746573746174696f6ea1") + unhex(key_hex) + "\x59" + len + std::string(n, '\x80');
    };
    for (std::string_view key : { "69757365725f64617461", "656e6f6e6365", "6a7075626c69635f6b6579" }) {
        CAPTURE(key);
        ParsedRequest ok = parse_request(request(key, 1024));
        REQUIRE_FALSE(ok.error);
        CHECK(error_of(request(key, 1025)) == ErrorCode::InputTooLarge);
    }
    // All three at 1024 bytes (3 KiB of request) still fit the 4 KiB limit.
    std::string all = unhex("a16b4174746573746174696f6ea3");
    for (std::string_view key : { "69757365725f64617461", "656e6f6e6365", "6a7075626c69635f6b6579" })
        all += unhex(key) + "\x59\x04" + std::string(1, '\0') + std::string(1024, 'x');
    AttestationRequest a = std::get<AttestationRequest>(parse_request(all).request);
    CHECK(a.user_data->size() == 1024);
    CHECK(a.nonce->size() == 1024);
    CHECK(a.public_key->size() == 1024);
}

TEST_CASE("nsm protocol: a request over 4096 bytes is InputTooLarge, whatever it holds")
{
    // {"ExtendPCR": {"index": 16, "data": h'…'}} of exactly 4096 bytes, then 4097
    std::string head = unhex("a169457874656e64504352a265696e646578106464617461590f");
    std::size_t n = 4096 - head.size() - 1;
    std::string request = head + std::string(1, static_cast<char>(n & 0xff)) + std::string(n, 'd');
    REQUIRE(static_cast<std::size_t>(static_cast<std::uint8_t>(head.back())) == (n >> 8));
    REQUIRE(request.size() == kMaxRequestSize);
    ExtendPcrRequest e = std::get<ExtendPcrRequest>(parse_request(request).request);
    CHECK(e.data.size() == n);
    CHECK(error_of(request + "x") == ErrorCode::InputTooLarge);
    CHECK(error_of(std::string(5000, '\xff')) == ErrorCode::InputTooLarge);
}

TEST_CASE("nsm protocol: malformed CBOR is InvalidArgument")
{
    CHECK(error_of("") == ErrorCode::InvalidArgument);
    CHECK(error_of(unhex("ff")) == ErrorCode::InvalidArgument);                                // a break alone
    CHECK(error_of(unhex("6b44657363726962654e53")) == ErrorCode::InvalidArgument);            // truncated text
    CHECK(error_of(unhex("6b44657363726962654e534d00")) == ErrorCode::InvalidArgument);        // trailing byte
    CHECK(error_of(unhex("a16b4465736372696265504352a165696e646578")) == ErrorCode::InvalidArgument); // truncated map
    CHECK(error_of(unhex("7f6b44657363726962654e534dff")) == ErrorCode::InvalidArgument);      // indefinite text
    CHECK(error_of(unhex("bf6b4465736372696265504352a165696e64657805ff")) == ErrorCode::InvalidArgument); // indefinite map
    CHECK(error_of(unhex("1c")) == ErrorCode::InvalidArgument);                                // reserved
    CHECK(error_of(unhex("9b7fffffffffffffff")) == ErrorCode::InvalidArgument);                // huge array claim
    CHECK(error_of(unhex("5b7fffffffffffffff")) == ErrorCode::InvalidArgument);                // huge string claim
    CHECK(error_of(nested_arrays(3)) == ErrorCode::InvalidArgument);
    CHECK(error_of(nested_arrays(2000)) == ErrorCode::InvalidArgument);                        // deep nesting
    // {"DescribePCR": {"index": [[5]]}}: nesting deeper than a request's two levels
    CHECK(error_of(unhex("a16b4465736372696265504352a165696e646578818105")) == ErrorCode::InvalidArgument);
}

TEST_CASE("nsm protocol: unknown requests and wrong shapes are InvalidArgument")
{
    const char* cases[] = {
        "6a44657363726962654e5341",                                   // "DescribeNSA"
        "674c6f636b504352",                                           // "LockPCR" without its fields
        "a16947657452616e646f6df6",                                   // {"GetRandom": null}
        "a169417474657374617469f6",                                   // {"Attestati": null}
        "a0",                                                         // {}
        "a26b44657363726962654e534df66947657452616e646f6df6",         // two variants
        "a1014100",                                                   // {1: h'00'}
        "816b44657363726962654e534d",                                // ["DescribeNSM"]
        "05",                                                         // 5
        "d8186b44657363726962654e534d",                               // tag 24 around "DescribeNSM"
        "a16b4465736372696265504352a0",                               // DescribePCR without index
        "a16b4465736372696265504352a165696e64657865666976652e",       // index: "five."
        "a16b4465736372696265504352a165696e64657820",                 // index: -1
        "a16b4465736372696265504352a165696e6465781a00010000",         // index: 65536
        "a16b4465736372696265504352a165696e646578f94500",             // index: 5.0 (half float)
        "a16b4465736372696265504352a165696e646578d81805",             // index: tag 24 (5)
        "a16b4465736372696265504352a265696e6465780565696e64657806",   // index twice
        "a16b4465736372696265504352a2010565696e64657805",             // a non-text key
        "a16b44657363726962655043528105",                             // fields as an array
        "a169457874656e64504352a165696e64657810",                     // ExtendPCR without data
        "a169457874656e64504352a265696e646578106464617461f6",          // data: null
        "a169457874656e64504352a265696e64657810646461746163010203",    // data as text
        "a169457874656e64504352a265696e64657810646461746183010203",    // data as an array
        "a1684c6f636b50435273a1656e6f6e6365f6",                       // LockPCRs without range
        "a1684c6f636b50435273a16572616e676520",                       // range: -1
        "a16b4174746573746174696f6ef6",                               // {"Attestation": null}
        "a16b4174746573746174696f6ea1656e6f6e636563616263",           // nonce as text
        "a16b4174746573746174696f6ea1656e6f6e63658100",               // nonce as an array
        "a16b4174746573746174696f6ea1656e6f6e6365f5",                 // nonce: true
        "a16b4174746573746174696f6ea1656e6f6e6365f7",                 // nonce: undefined
        "a16b4174746573746174696f6ea2656e6f6e6365f6656e6f6e6365f6",   // nonce twice
    };
    for (const char* c : cases) {
        CAPTURE(c);
        CHECK(error_of(unhex(c)) == ErrorCode::InvalidArgument);
    }
}

TEST_CASE("nsm protocol: responses byte for byte as serde writes them")
{
    // {"DescribeNSM": {"version_major": 1, "version_minor": 0, "version_patch": 0,
    //   "module_id": "qt-host-enc4", "max_pcrs": 32, "locked_pcrs": [0..15, 24], "digest": "SHA384"}}
    std::vector<unsigned> locked;
    for (unsigned i = 0; i < 16; ++i)
        locked.push_back(i);
    locked.push_back(24);
    CHECK(hex(encode_describe_nsm("qt-host-enc4", locked))
        == "a16b44657363726962654e534da7"
           "6d76657273696f6e5f6d616a6f7201"
           "6d76657273696f6e5f6d696e6f7200"
           "6d76657273696f6e5f706174636800"
           "696d6f64756c655f69646c71742d686f73742d656e6334"
           "686d61785f706372731820"
           "6b6c6f636b65645f7063727391000102030405060708090a0b0c0d0e0f1818"
           "6664696765737466534841333834");
    const std::string pcr_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";
    // {"DescribePCR": {"lock": true, "data": h'00…2f'}}
    CHECK(hex(encode_describe_pcr(true, nsm_test::counting_digest())) == "a16b4465736372696265504352a2646c6f636bf564646174615830" + pcr_hex);
    CHECK(hex(encode_describe_pcr(false, nsm_test::counting_digest())) == "a16b4465736372696265504352a2646c6f636bf464646174615830" + pcr_hex);
    // {"ExtendPCR": {"data": h'00…2f'}}
    CHECK(hex(encode_extend_pcr(nsm_test::counting_digest())) == "a169457874656e64504352a164646174615830" + pcr_hex);
    CHECK(hex(encode_lock_pcr()) == "674c6f636b504352");      // "LockPCR"
    CHECK(hex(encode_lock_pcrs()) == "684c6f636b50435273");   // "LockPCRs"
    // {"Attestation": {"document": h'8444'}}
    CHECK(hex(encode_attestation(unhex("8444"))) == "a16b4174746573746174696f6ea168646f63756d656e74428444");
    // {"GetRandom": {"random": h'00…'}} with 256 bytes
    CHECK(hex(encode_get_random(std::string(256, '\0'))) == "a16947657452616e646f6da16672616e646f6d590100" + std::string(512, '0'));
}

TEST_CASE("nsm protocol: every error name")
{
    struct Case {
        ErrorCode code;
        const char* wire;
    };
    const Case cases[] = {
        { ErrorCode::Success, "a1654572726f726753756363657373" },
        { ErrorCode::InvalidArgument, "a1654572726f726f496e76616c6964417267756d656e74" },
        { ErrorCode::InvalidIndex, "a1654572726f726c496e76616c6964496e646578" },
        { ErrorCode::InvalidResponse, "a1654572726f726f496e76616c6964526573706f6e7365" },
        { ErrorCode::ReadOnlyIndex, "a1654572726f726d526561644f6e6c79496e646578" },
        { ErrorCode::InvalidOperation, "a1654572726f7270496e76616c69644f7065726174696f6e" },
        { ErrorCode::BufferTooSmall, "a1654572726f726e427566666572546f6f536d616c6c" },
        { ErrorCode::InputTooLarge, "a1654572726f726d496e707574546f6f4c61726765" },
        { ErrorCode::InternalError, "a1654572726f726d496e7465726e616c4572726f72" },
    };
    for (const Case& c : cases) {
        CAPTURE(c.wire);
        CHECK(hex(encode_error(c.code)) == c.wire);
    }
    CHECK(std::string(kInternalErrorResponse) == encode_error(ErrorCode::InternalError));
}

TEST_CASE("nsm protocol: the largest document fills the response exactly")
{
    CHECK(encode_attestation(std::string(max_document_size(), 'd')).size() == kMaxResponseSize);
    CHECK(encode_attestation(std::string(max_document_size() + 1, 'd')).size() == kMaxResponseSize + 1);
}
