#include "base/error.h"
#include "eif-format/cbor_util.h"
#include "eif-format/describe.h"
#include "eif-format/eif_reader.h"
#include "eif-format/eif_sign.h"
#include "eif-format/eif_writer.h"
#include "eif-format/signature.h"
#include "eif-format/testdata/eif_test_util.h"

#include <ctime>
#include <doctest/doctest.h>

using namespace std::string_literals;

namespace {

eif::Digest some_pcr0()
{
    return eif::extend_zero(eif::sha384("image", 5));
}

std::string pem_to_der_pcr(const eif_test::TempDir& dir, const std::string& cert)
{
    eif_test::openssl("x509 -in " + cert + " -outform DER -out " + dir.file("cert.der"));
    return eif_test::pcr_of(eif_test::read_file(dir.file("cert.der")));
}

std::string expect_crypto_error(const eif::SigningInput& in, const std::string& code, std::optional<std::int64_t> at = std::nullopt)
{
    try {
        eif::Signer::load(in, at);
        FAIL("no error; expected " << code);
    } catch (const base::Error& e) {
        CHECK(e.code() == code);
        CHECK(e.kind() == base::ErrorKind::Crypto);
        CHECK(std::string(e.what()).find('\n') == std::string::npos);
        return e.what();
    }
    return {};
}

} // namespace

TEST_CASE("signature: ES256/ES384/ES512 sections in the AWS layout verify; PCR8 = H(Z || H(DER))")
{
    eif_test::TempDir dir;
    struct Case {
        const char* curve;
        eif::CoseAlgorithm alg;
        std::string protected_hex;
        std::size_t raw_size;
    };
    for (const Case& c : { Case { "prime256v1", eif::CoseAlgorithm::ES256, "a10126", 64 }, Case { "secp384r1", eif::CoseAlgorithm::ES384, "a1013822", 96 },
             Case { "secp521r1", eif::CoseAlgorithm::ES512, "a1013823", 132 } }) {
        CAPTURE(c.curve);
        auto [key, cert] = eif_test::make_key_and_cert(dir, c.curve, c.curve);
        eif::Signer signer = eif::Signer::load({ key, cert });
        CHECK(signer.algorithm() == c.alg);
        CHECK(eif::to_hex(signer.pcr8()) == pem_to_der_pcr(dir, cert));

        std::string section = signer.signature_section(some_pcr0());
        // Outer: array(1) of map(2) {"signing_certificate": [..], "signature": [..]}.
        CHECK(eif_test::hex(section.substr(0, 2)) == "81a2");
        CHECK(section.substr(3, 19) == "signing_certificate");
        eif::ParsedSignature parsed = eif::parse_signature_section(section);
        CHECK(parsed.entry_count == 1);
        CHECK(parsed.certificate_pem == eif_test::read_file(cert));

        // COSE_Sign1: untagged array(4) [bstr {1: alg}, {}, bstr payload, bstr r||s].
        eif::CborPtr cose = eif::cbor_parse(std::string(parsed.cose_sign1.begin(), parsed.cose_sign1.end()), "cose");
        REQUIRE(cbor_isa_array(cose.get()));
        REQUIRE(cbor_array_size(cose.get()) == 4);
        cbor_item_t** items = cbor_array_handle(cose.get());
        CHECK(eif_test::hex(*eif::cbor_bytes(items[0])) == c.protected_hex);
        CHECK(cbor_map_size(items[1]) == 0);
        std::string payload = *eif::cbor_bytes(items[2]);
        std::string pcr0_raw(reinterpret_cast<const char*>(some_pcr0().data()), 48);
        // {"register_index": 0, "register_value": [48 uints]} as serde_cbor writes it.
        std::string expected_payload = "\xa2\x6eregister_index\x00\x6eregister_value\x98\x30"s;
        for (unsigned char b : pcr0_raw) {
            if (b >= 24)
                expected_payload += '\x18';
            expected_payload += static_cast<char>(b);
        }
        CHECK(eif_test::hex(payload) == eif_test::hex(expected_payload));
        CHECK(eif::cbor_bytes(items[3])->size() == c.raw_size);

        eif::SignatureCheck ok = eif::verify_signature(parsed, some_pcr0(), std::time(nullptr));
        CHECK(ok.ok());
        CHECK(ok.problem.empty());
        eif::SignatureCheck wrong = eif::verify_signature(parsed, eif::extend_zero(eif::sha384("other", 5)));
        CHECK(wrong.signature_ok);
        CHECK_FALSE(wrong.payload_matches);

        // Flip one bit of the raw signature: the COSE check fails.
        std::string tampered = section;
        tampered[tampered.size() - 1] = static_cast<char>(tampered.back() ^ 1);
        // The last byte is the last uint of the COSE array; keep it ≤ 255 and a valid uint.
        eif::ParsedSignature bad;
        try {
            bad = eif::parse_signature_section(tampered);
            CHECK_FALSE(eif::verify_signature(bad, some_pcr0()).signature_ok);
        } catch (const base::Error&) {
        }
    }
}

TEST_CASE("signature: the independent openssl CLI verifies our ES384 COSE signature")
{
    eif_test::TempDir dir;
    auto [key, cert] = eif_test::make_key_and_cert(dir, "cli", "secp384r1");
    eif::Signer signer = eif::Signer::load({ key, cert });
    eif::ParsedSignature parsed = eif::parse_signature_section(signer.signature_section(some_pcr0()));
    eif::CborPtr cose = eif::cbor_parse(std::string(parsed.cose_sign1.begin(), parsed.cose_sign1.end()), "cose");
    cbor_item_t** items = cbor_array_handle(cose.get());
    std::string prot = *eif::cbor_bytes(items[0]), payload = *eif::cbor_bytes(items[2]), raw = *eif::cbor_bytes(items[3]);
    // Sig_structure = ["Signature1", protected, h'', payload], encoded by hand.
    std::string to_be_signed = "\x84\x6aSignature1"s;
    to_be_signed += static_cast<char>(0x40 + prot.size()) + prot;
    to_be_signed += "\x40"s;
    to_be_signed += "\x58"s + static_cast<char>(payload.size()) + payload;
    eif_test::write_file(dir.file("tbs"), to_be_signed);
    // DER ECDSA-Sig-Value from r||s (48 bytes each), built by hand.
    auto der_int = [](std::string v) {
        while (v.size() > 1 && v[0] == 0 && !(static_cast<unsigned char>(v[1]) & 0x80))
            v.erase(0, 1);
        if (static_cast<unsigned char>(v[0]) & 0x80)
            v.insert(0, 1, '\0');
        return "\x02"s + static_cast<char>(v.size()) + v;
    };
    std::string body = der_int(raw.substr(0, 48)) + der_int(raw.substr(48));
    eif_test::write_file(dir.file("sig.der"), "\x30"s + static_cast<char>(body.size()) + body);
    eif_test::openssl("x509 -in " + cert + " -pubkey -noout -out " + dir.file("pub.pem"));
    CHECK_NOTHROW(eif_test::openssl("dgst -sha384 -verify " + dir.file("pub.pem") + " -signature " + dir.file("sig.der") + " " + dir.file("tbs")));
}

TEST_CASE("signature: bad keys and certificates are clear Crypto errors")
{
    eif_test::TempDir dir;
    auto [key, cert] = eif_test::make_key_and_cert(dir, "good", "secp384r1", 1);
    auto [other_key, other_cert] = eif_test::make_key_and_cert(dir, "other", "prime256v1");
    auto [rsa_key, rsa_cert] = eif_test::make_key_and_cert(dir, "rsa", "rsa");
    eif_test::write_file(dir.file("garbage.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    std::int64_t now = std::time(nullptr);

    CHECK_NOTHROW(eif::Signer::load({ key, cert }, now));
    expect_crypto_error({ rsa_key, rsa_cert }, "SIGN_BAD_KEY_TYPE");
    expect_crypto_error({ key, other_cert }, "SIGN_KEY_MISMATCH");
    expect_crypto_error({ dir.file("garbage.pem"), cert }, "SIGN_BAD_KEY");
    expect_crypto_error({ key, dir.file("garbage.pem") }, "SIGN_BAD_CERT");
    expect_crypto_error({ key, "" }, "SIGN_INCOMPLETE");
    expect_crypto_error({ "", cert }, "SIGN_INCOMPLETE");
    // The certificate is valid for one day from now: two days later it has expired, a day
    // earlier it is not valid yet.
    std::string expired = expect_crypto_error({ key, cert }, "SIGN_CERT_NOT_VALID", now + 2 * 86400);
    CHECK(expired.find("expired") != std::string::npos);
    std::string early = expect_crypto_error({ key, cert }, "SIGN_CERT_NOT_VALID", now - 86400);
    CHECK(early.find("not valid yet") != std::string::npos);
    CHECK_THROWS_AS(eif::Signer::load({ dir.file("missing.pem"), cert }), base::Error);
    // A passphrase-protected key is refused without prompting on the terminal.
    eif_test::openssl("pkey -in " + key + " -aes256 -passout pass:secret -out " + dir.file("encrypted.pem"));
    expect_crypto_error({ dir.file("encrypted.pem"), cert }, "SIGN_BAD_KEY");

    // verify_signature checks the validity period at the time given.
    eif::Signer signer = eif::Signer::load({ key, cert });
    auto parsed = eif::parse_signature_section(signer.signature_section(some_pcr0()));
    CHECK(eif::verify_signature(parsed, some_pcr0(), now).ok());
    auto late = eif::verify_signature(parsed, some_pcr0(), now + 2 * 86400);
    CHECK_FALSE(late.certificate_valid);
    CHECK(late.signature_ok);
}

TEST_CASE("signature: malformed sections are rejected, not crashed on")
{
    CHECK_THROWS_AS(eif::parse_signature_section(""), base::Error);
    CHECK_THROWS_AS(eif::parse_signature_section("\x80"), base::Error);                  // empty array
    CHECK_THROWS_AS(eif::parse_signature_section("\x81\xa0"), base::Error);              // entry without keys
    CHECK_THROWS_AS(eif::parse_signature_section("\x9a\xff\xff\xff\xff"), base::Error);  // huge claimed length
    CHECK_THROWS_AS(eif::parse_signature_section(std::string(2000, '\x81')), base::Error); // deep nesting
    CHECK_THROWS_AS(eif::parse_signature_section("\x81\xa0\x00"), base::Error);          // trailing byte
    CHECK_THROWS_AS(eif::parse_signature_section("\x9f\xff"), base::Error);              // indefinite length
}

TEST_CASE("sign_eif: adds, then replaces, the signature; PCR0-2 unchanged; describe-eif reports it")
{
    eif_test::TempDir dir;
    eif_test::write_file(dir.file("bzImage"), "kernel-bytes");
    eif::BuildRequest req;
    req.kernel_path = dir.file("bzImage");
    req.cmdline = "console=ttyS0";
    eif::MetadataInput md;
    md.image_name = "signed";
    md.image_version = "2.0";
    md.build_time = 1700000000;
    md.custom_metadata = nlohmann::ordered_json { { "team", "enclaves" } };
    req.metadata = eif::build_metadata(md);
    req.ramdisks.push_back(eif::SectionSource::bytes("init"));
    req.ramdisks.push_back(eif::SectionSource::bytes("app"));
    eif::Measurements plain = eif::write_eif(req, dir.file("a.eif"));

    auto [key1, cert1] = eif_test::make_key_and_cert(dir, "one", "secp384r1");
    auto [key2, cert2] = eif_test::make_key_and_cert(dir, "two", "prime256v1");
    eif::Measurements s1 = eif::sign_eif(dir.file("a.eif"), { key1, cert1 });
    CHECK(s1.pcr0 == plain.pcr0);
    CHECK(s1.pcr1 == plain.pcr1);
    CHECK(s1.pcr2 == plain.pcr2);
    CHECK(s1.pcr8 == pem_to_der_pcr(dir, cert1));
    auto r1 = eif::EifReader::open(dir.file("a.eif"));
    CHECK(r1.header().num_sections == 6);
    CHECK(r1.signature_index() == 5u);

    eif::Measurements s2 = eif::sign_eif(dir.file("a.eif"), { key2, cert2 });
    CHECK(s2.pcr0 == plain.pcr0);
    CHECK(s2.pcr8 == pem_to_der_pcr(dir, cert2));
    auto r2 = eif::EifReader::open(dir.file("a.eif"));
    CHECK(r2.header().num_sections == 6);

    // Writing signed directly gives the same PCRs and a verifying signature.
    req.signing = eif::SigningInput { key2, cert2 };
    eif::Measurements direct = eif::write_eif(req, dir.file("b.eif"));
    CHECK(direct.pcr0 == plain.pcr0);
    CHECK(direct.pcr8 == s2.pcr8);

    nlohmann::ordered_json d = eif::describe_eif(dir.file("a.eif"));
    std::vector<std::string> keys;
    for (const auto& [k, v] : d.items())
        keys.push_back(k);
    CHECK(keys == std::vector<std::string> { "EifVersion", "Arch", "Measurements", "IsSigned", "SigningCertificate", "CheckCRC", "SignatureCheck", "ImageName", "ImageVersion", "Metadata" });
    CHECK(d["EifVersion"] == 4);
    CHECK(d["Measurements"]["HashAlgorithm"] == "Sha384 { ... }");
    CHECK(d["Measurements"]["PCR0"] == plain.pcr0);
    CHECK(d["Measurements"]["PCR8"] == *s2.pcr8);
    CHECK(d["IsSigned"] == true);
    CHECK(d["CheckCRC"] == true);
    CHECK(d["SignatureCheck"] == true);
    CHECK(d["SigningCertificate"]["IssuerName"]["CN"] == "two");
    CHECK(d["SigningCertificate"]["IssuerName"]["O"] == "qt-vmm test");
    CHECK(d["SigningCertificate"]["Algorithm"] == "ecdsa-with-SHA256");
    CHECK(d["SigningCertificate"]["Signature"].get<std::string>().find(':') == 2);
    CHECK(d["ImageName"] == "signed");
    CHECK(d["ImageVersion"] == "2.0");
    CHECK(d["Metadata"]["BuildTime"] == "2023-11-14T22:13:20+00:00");
    CHECK(d["Metadata"]["BuildTool"] == "qt-vmm");
    CHECK(d["Metadata"]["team"] == "enclaves");
    CHECK(d["Metadata"]["DockerInfo"].is_null());

    // Errors: bad key leaves the image untouched; a corrupt image is not signed.
    std::string before = eif_test::read_file(dir.file("a.eif"));
    auto [rsa_key, rsa_cert] = eif_test::make_key_and_cert(dir, "rsa", "rsa");
    CHECK_THROWS_AS(eif::sign_eif(dir.file("a.eif"), { rsa_key, rsa_cert }), base::Error);
    CHECK(eif_test::read_file(dir.file("a.eif")) == before);
    std::string corrupt = before;
    corrupt[0x224 + 12] ^= 1; // first kernel byte
    eif_test::write_file(dir.file("c.eif"), corrupt);
    CHECK_THROWS_AS(eif::sign_eif(dir.file("c.eif"), { key1, cert1 }), base::Error);
    CHECK(eif_test::read_file(dir.file("c.eif")) == corrupt);
    CHECK(eif::describe_eif(dir.file("c.eif"))["CheckCRC"] == false);
}
