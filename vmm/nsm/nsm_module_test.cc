// NsmModule end to end without a transport: CBOR bytes in, CBOR bytes out, with a fake signer
// that records what it was asked to sign.
#include "eif-format/cbor_util.h"
#include "vmm/nsm/nsm_module.h"
#include "vmm/nsm/nsm_protocol.h"
#include "vmm/nsm/nsm_test_util.h"

#include <doctest/doctest.h>
#include <stdexcept>
#include <thread>

using namespace vmm::nsm;
using nsm_test::hex;
using nsm_test::unhex;

namespace {

const char* const kDescribeNsm = "6b44657363726962654e534d";
const char* const kGetRandom = "6947657452616e646f6d";
const char* const kExtend16 = "a169457874656e64504352a265696e64657810646461746143010203";   // data 01 02 03
const char* const kLock16 = "a1674c6f636b504352a165696e64657810";
const char* const kDescribe16 = "a16b4465736372696265504352a165696e64657810";
const char* const kInvalidArgument = "a1654572726f726f496e76616c6964417267756d656e74";
const char* const kInvalidIndex = "a1654572726f726c496e76616c6964496e646578";
const char* const kReadOnlyIndex = "a1654572726f726d526561644f6e6c79496e646578";
const char* const kInputTooLarge = "a1654572726f726d496e707574546f6f4c61726765";
const char* const kInternalError = "a1654572726f726d496e7465726e616c4572726f72";
const char* const kExtendedOnce = "cb178fcd3f328244c05c6248723fd068b3a1dda878e1ab8be911098f199958add55d0c27f04826d27b44d949a650694e";

// Records every DocumentFields it is given and answers a fixed document (or throws).
struct FakeSigner {
    std::vector<DocumentFields> calls;
    std::string document = unhex("8444a1013822");
    bool fail = false;

    SignDocument function()
    {
        return [this](const DocumentFields& f) {
            calls.push_back(f);
            if (fail)
                throw std::runtime_error("signing failed");
            return document;
        };
    }
};

NsmModuleConfig config_with(FakeSigner* signer)
{
    NsmModuleConfig c;
    c.module_id = "qt-host-enc4";
    c.boot_pcrs[0] = nsm_test::counting_digest();
    c.boot_pcrs[4].fill(0x44);
    if (signer)
        c.sign = signer->function();
    c.now_ms = [] { return std::uint64_t { 1658860752566 }; };
    return c;
}

std::string ask(NsmModule& nsm, std::string_view request_hex)
{
    return hex(nsm.handle(unhex(request_hex)));
}

// {"Attestation": {"user_data": h'aabb', "nonce": null, "public_key": h'01'}}
const char* const kAttest = "a16b4174746573746174696f6ea369757365725f6461746142aabb656e6f6e6365f66a7075626c69635f6b65794101";

} // namespace

TEST_CASE("nsm module: DescribeNSM names the module and lists the locked PCRs")
{
    NsmModule nsm(config_with(nullptr));
    const std::string head = "a16b44657363726962654e534da7"
                             "6d76657273696f6e5f6d616a6f7201"
                             "6d76657273696f6e5f6d696e6f7200"
                             "6d76657273696f6e5f706174636800"
                             "696d6f64756c655f69646c71742d686f73742d656e6334"
                             "686d61785f706372731820"
                             "6b6c6f636b65645f70637273";
    const std::string tail = "6664696765737466534841333834";
    CHECK(ask(nsm, kDescribeNsm) == head + "90000102030405060708090a0b0c0d0e0f" + tail);
    // lock 24 (extend first, to show the order does not matter)
    CHECK(ask(nsm, "a1674c6f636b504352a165696e6465781818") == "674c6f636b504352");
    CHECK(ask(nsm, kDescribeNsm) == head + "91000102030405060708090a0b0c0d0e0f1818" + tail);
}

TEST_CASE("nsm module: DescribePCR, ExtendPCR and LockPCR through CBOR")
{
    NsmModule nsm(config_with(nullptr));
    // PCR0 = 00 01 … 2f, locked
    CHECK(ask(nsm, "a16b4465736372696265504352a165696e64657800")
        == "a16b4465736372696265504352a2646c6f636bf564646174615830"
           "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f");
    // PCR16 = zeros, open
    CHECK(ask(nsm, kDescribe16) == "a16b4465736372696265504352a2646c6f636bf4646461746158300" + std::string(95, '0'));
    CHECK(ask(nsm, kExtend16) == std::string("a169457874656e64504352a164646174615830") + kExtendedOnce);
    CHECK(ask(nsm, kLock16) == "674c6f636b504352");
    CHECK(ask(nsm, kDescribe16) == std::string("a16b4465736372696265504352a2646c6f636bf564646174615830") + kExtendedOnce);
    CHECK(ask(nsm, kExtend16) == kReadOnlyIndex);
    CHECK(ask(nsm, kLock16) == kReadOnlyIndex);
    // LockPCR 0 and ExtendPCR 4: boot PCRs are read-only
    CHECK(ask(nsm, "a1674c6f636b504352a165696e64657800") == kReadOnlyIndex);
    CHECK(ask(nsm, "a169457874656e64504352a265696e64657804646461746141ff") == kReadOnlyIndex);
    // index 32: DescribePCR, ExtendPCR, LockPCR
    CHECK(ask(nsm, "a16b4465736372696265504352a165696e6465781820") == kInvalidIndex);
    CHECK(ask(nsm, "a169457874656e64504352a265696e6465781820646461746141ff") == kInvalidIndex);
    CHECK(ask(nsm, "a1674c6f636b504352a165696e6465781820") == kInvalidIndex);
}

TEST_CASE("nsm module: LockPCRs(20) locks 16..19; LockPCRs(33) is InvalidIndex")
{
    NsmModule nsm(config_with(nullptr));
    CHECK(ask(nsm, "a1684c6f636b50435273a16572616e676514") == "684c6f636b50435273");
    for (const PcrState& p : nsm.pcrs())
        CHECK(p.locked == (p.index < 20));
    CHECK(ask(nsm, "a1684c6f636b50435273a16572616e67651821") == kInvalidIndex);
    CHECK(ask(nsm, "a1684c6f636b50435273a16572616e67651820") == "684c6f636b50435273");
    for (const PcrState& p : nsm.pcrs())
        CHECK(p.locked);
}

TEST_CASE("nsm module: Attestation signs the locked PCRs and the three fields")
{
    FakeSigner signer;
    NsmModule nsm(config_with(&signer));
    REQUIRE(ask(nsm, kExtend16) == std::string("a169457874656e64504352a164646174615830") + kExtendedOnce);
    REQUIRE(ask(nsm, kLock16) == "674c6f636b504352");
    // PCR17: extended, left open
    REQUIRE(ask(nsm, "a169457874656e64504352a265696e64657811646461746141ff").rfind("a169457874656e64504352a164646174615830", 0) == 0);

    // {"Attestation": {"document": h'8444a1013822'}}
    CHECK(ask(nsm, kAttest) == "a16b4174746573746174696f6ea168646f63756d656e74468444a1013822");
    REQUIRE(signer.calls.size() == 1);
    const DocumentFields& f = signer.calls[0];
    CHECK(f.module_id == "qt-host-enc4");
    CHECK(f.timestamp_ms == 1658860752566);
    REQUIRE(f.pcrs.size() == 17);   // 0..15 and 16, not the open 17
    for (unsigned i = 0; i < 16; ++i) {
        CAPTURE(i);
        Digest expected {};
        if (i == 0)
            expected = nsm_test::counting_digest();
        if (i == 4)
            expected.fill(0x44);
        CHECK(f.pcrs.at(i) == expected);
    }
    CHECK(f.pcrs.at(16) == nsm_test::digest(kExtendedOnce));
    REQUIRE(f.user_data);
    CHECK(hex(*f.user_data) == "aabb");
    CHECK_FALSE(f.nonce);
    REQUIRE(f.public_key);
    CHECK(hex(*f.public_key) == "01");

    // {"Attestation": {}}: all three absent
    CHECK(ask(nsm, "a16b4174746573746174696f6ea0") == "a16b4174746573746174696f6ea168646f63756d656e74468444a1013822");
    REQUIRE(signer.calls.size() == 2);
    CHECK_FALSE(signer.calls[1].user_data);
    CHECK_FALSE(signer.calls[1].nonce);
    CHECK_FALSE(signer.calls[1].public_key);
}

TEST_CASE("nsm module: Attestation fails with InternalError when it cannot sign or deliver")
{
    SUBCASE("no signer")
    {
        NsmModule nsm(config_with(nullptr));
        CHECK(ask(nsm, kAttest) == kInternalError);
    }
    SUBCASE("the signer throws")
    {
        FakeSigner signer;
        signer.fail = true;
        NsmModule nsm(config_with(&signer));
        CHECK(ask(nsm, kAttest) == kInternalError);
        CHECK(signer.calls.size() == 1);
    }
    SUBCASE("an empty document")
    {
        FakeSigner signer;
        signer.document.clear();
        NsmModule nsm(config_with(&signer));
        CHECK(ask(nsm, kAttest) == kInternalError);
    }
    SUBCASE("a document one byte too large for the response; the largest that fits")
    {
        FakeSigner signer;
        signer.document = std::string(max_document_size() + 1, 'd');
        NsmModule nsm(config_with(&signer));
        CHECK(ask(nsm, kAttest) == kInternalError);
        signer.document.pop_back();
        std::string response = nsm.handle(unhex(kAttest));
        CHECK(response.size() == kMaxResponseSize);
        CHECK(response == encode_attestation(signer.document));
    }
}

TEST_CASE("nsm module: oversized requests and fields are InputTooLarge")
{
    FakeSigner signer;
    NsmModule nsm(config_with(&signer));
    // {"Attestation": {"nonce": h'00…'}} with 1025 bytes
    std::string big_nonce = unhex("a16b4174746573746174696f6ea1656e6f6e6365590401") + std::string(1025, '\0');
    CHECK(hex(nsm.handle(big_nonce)) == kInputTooLarge);
    CHECK(signer.calls.empty());
    CHECK(hex(nsm.handle(std::string(kMaxRequestSize + 1, '\x01'))) == kInputTooLarge);
}

TEST_CASE("nsm module: garbage, truncated and deep input is InvalidArgument; state untouched")
{
    NsmModule nsm(config_with(nullptr));
    std::vector<PcrState> before = nsm.pcrs();
    for (std::string request : { std::string(), unhex("ff"), unhex(kExtend16).substr(0, 20), std::string(300, '\x81'),
             unhex(kDescribe16).substr(0, 10), std::string("GET / HTTP/1.1\r\n\r\n") }) {
        CAPTURE(hex(request));
        CHECK(hex(nsm.handle(request)) == kInvalidArgument);
    }
    std::vector<PcrState> after = nsm.pcrs();
    REQUIRE(after.size() == before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
        CHECK(after[i].value == before[i].value);
        CHECK(after[i].locked == before[i].locked);
    }
}

TEST_CASE("nsm module: GetRandom gives 256 fresh bytes")
{
    NsmModule nsm(config_with(nullptr));
    std::string first = nsm.handle(unhex(kGetRandom));
    std::string second = nsm.handle(unhex(kGetRandom));
    const std::string head = unhex("a16947657452616e646f6da16672616e646f6d590100");
    REQUIRE(first.size() == head.size() + 256);
    CHECK(first.substr(0, head.size()) == head);
    CHECK(second.substr(0, head.size()) == head);
    CHECK(first.substr(head.size()) != second.substr(head.size()));
    CHECK(first.substr(head.size()) != std::string(256, '\0'));
}

TEST_CASE("nsm module: counts requests and errors")
{
    NsmModule nsm(config_with(nullptr));
    CHECK(nsm.requests() == 0);
    nsm.handle(unhex(kDescribeNsm));
    nsm.handle(unhex(kExtend16));
    nsm.handle("junk");
    nsm.handle(unhex(kAttest));   // no signer: InternalError
    CHECK(nsm.requests() == 4);
    CHECK(nsm.errors() == 2);
}

TEST_CASE("nsm module: concurrent extends are all applied (one lock)")
{
    NsmModule nsm(config_with(nullptr));
    // {"ExtendPCR": {"index": 16, "data": "thread" as bytes}}
    const std::string extend = unhex("a169457874656e64504352a265696e646578106464617461467468726561" "64");
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i)
                nsm.handle(extend);
        });
    for (std::thread& t : threads)
        t.join();
    // Every extend has the same data, so 400 of them in any order give SHA384 iterated 400 times
    // (computed with Python's hashlib).
    CHECK(nsm.pcrs()[16].value
        == nsm_test::digest("52eab3579e19a39fb72daa50d71a803464c0b67c77006852c888e191b6cd468383b1642ad886853ab6fe2893c5571314"));
    CHECK(nsm.requests() == 400);
    CHECK(nsm.errors() == 0);
}

TEST_CASE("nsm module: every response is one well-formed CBOR item")
{
    FakeSigner signer;
    NsmModule nsm(config_with(&signer));
    for (const char* request : { kDescribeNsm, kGetRandom, kExtend16, kLock16, kDescribe16, kAttest, "00", "a0" }) {
        CAPTURE(request);
        std::string response = nsm.handle(unhex(request));
        CHECK_FALSE(eif::cbor_check_shape(response, 3));
    }
}

TEST_CASE("nsm module: a guest asking for documents in a loop gets them at the module's pace")
{
    FakeSigner signer;
    NsmModuleConfig c = config_with(&signer);
    std::uint64_t now = 0, slept = 0;
    c.signatures_per_second = 50; // one per 20 ms after a burst of 10
    c.pace_clock = [&] { return now; };
    c.pace_sleep = [&](std::uint64_t ns) { slept += ns; now += ns; };
    NsmModule nsm(std::move(c));
    for (int i = 0; i < 10; ++i)
        CHECK(ask(nsm, kAttest).rfind("a16b4174746573746174696f6e", 0) == 0);
    CHECK(slept == 0); // the burst
    ask(nsm, kAttest);
    CHECK(slept == 20'000'000); // the 11th waits one interval
    for (int i = 0; i < 89; ++i)
        ask(nsm, kAttest);
    CHECK(signer.calls.size() == 100);
    CHECK(slept == 90ull * 20'000'000); // 100 documents: 90 paced, 1.8 s, i.e. 50 per second
    now += 10ull * 1'000'000'000;        // idle: the burst comes back, no more than that
    slept = 0;
    for (int i = 0; i < 10; ++i)
        ask(nsm, kAttest);
    CHECK(slept == 0);
    ask(nsm, kAttest);
    CHECK(slept == 20'000'000);
    // Other requests are never paced.
    slept = 0;
    for (int i = 0; i < 100; ++i)
        ask(nsm, "6947657452616e646f6d"); // "GetRandom"
    CHECK(slept == 0);
}
