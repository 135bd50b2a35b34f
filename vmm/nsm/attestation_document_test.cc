// Attestation documents (attestation_document.h): the COSE bytes we sign, the real Nitro sample
// as a known answer (testdata/README.md), and every reason verify_document rejects a document.
#include "vmm/nsm/attestation_document.h"

#include "base/error.h"
#include "base/hex.h"
#include "base/sized_thread.h"
#include "eif-format/cbor_util.h"
#include "eif-format/cose_sign1.h"
#include "eif-format/openssl_ptr.h"
#include "vmm/nsm/certificates.h"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <openssl/pem.h>
#include <sstream>

using vmm::nsm::DocumentFields;
using vmm::nsm::DocumentSigner;
using vmm::nsm::KeyAndCert;
using vmm::nsm::ParsedKeyAndCert;
using vmm::nsm::issue_leaf_certificate;
using vmm::nsm::new_p384_key;
using vmm::nsm::parse_key_and_cert;
using vmm::nsm::verify_document;
using vmm::nsm::VerifyOptions;

namespace {

constexpr std::time_t kNow = 1'800'000'000;
constexpr std::time_t kYear = 365 * 24 * 3600;
constexpr std::time_t kNitroSampleTime = 1658860752;

std::string nitro_sample()
{
    const char* top = std::getenv("TOP");
    std::filesystem::path root = top ? std::filesystem::path(top) : std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
    std::ifstream in(root / "vmm" / "nsm" / "testdata" / "nitro_sample_document.cbor", std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open vmm/nsm/testdata/nitro_sample_document.cbor (run from the repository root or set TOP)");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string hex(const std::string& bytes) { return base::to_hex(bytes.data(), bytes.size()); }

std::string pem_of_der(const std::string& der)
{
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    eif::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    REQUIRE(cert);
    eif::BioPtr bio(BIO_new(BIO_s_mem()));
    REQUIRE(PEM_write_bio_X509(bio.get(), cert.get()) == 1);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

// The items of a COSE_Sign1 (untagged) and its payload map.
struct Decoded {
    eif::CborPtr cose;
    eif::CborPtr payload;
    std::string protected_bytes;
    std::string payload_bytes;
};
Decoded decode(const std::string& document)
{
    Decoded d;
    d.cose = eif::cbor_parse(document, "document");
    REQUIRE(cbor_isa_array(d.cose.get()));
    d.protected_bytes = *eif::cbor_bytes(cbor_array_handle(d.cose.get())[0]);
    d.payload_bytes = *eif::cbor_bytes(cbor_array_handle(d.cose.get())[2]);
    d.payload = eif::cbor_parse(d.payload_bytes, "payload");
    return d;
}

std::vector<std::string> keys_of(const cbor_item_t* map)
{
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < cbor_map_size(map); ++i) {
        const cbor_item_t* k = cbor_map_handle(map)[i].key;
        keys.emplace_back(reinterpret_cast<const char*>(cbor_string_handle(k)), cbor_string_length(k));
    }
    return keys;
}

eif::Digest digest_of(const char* text) { return eif::sha384(text, std::strlen(text)); }

// A host root, a leaf it issued, and a signer with them (as the enclave daemon has).
struct Host {
    KeyAndCert root = vmm::nsm::make_root_ca("qt-vmm root testhost", kNow - 3600, kNow + 30 * kYear);
    KeyAndCert leaf = vmm::nsm::issue_leaf(root, "testhost-enc4", kNow - 60, kNow + kYear);
    DocumentSigner signer = DocumentSigner::create(leaf.key_pem, leaf.cert_pem, { root.cert_pem });

    DocumentFields fields() const
    {
        DocumentFields f;
        f.module_id = "testhost-enc4";
        f.timestamp_ms = static_cast<std::uint64_t>(kNow) * 1000 + 123;
        for (unsigned i = 0; i < 16; ++i)
            f.pcrs[i] = eif::Digest {};
        f.pcrs[0] = digest_of("pcr0");
        f.pcrs[4] = digest_of("pcr4");
        f.user_data = std::string(32, '\0');
        f.nonce = std::string("\x01\x02\x03nonce", 8);
        return f;
    }
    VerifyOptions options() const
    {
        VerifyOptions o;
        o.root_cert_pem = root.cert_pem;
        o.at = kNow;
        return o;
    }
    // A document whose payload is `payload`, correctly signed by the leaf (so only the payload's
    // content can make verification fail).
    std::string sign_payload(const std::string& payload) const
    {
        eif::BioPtr bio(BIO_new_mem_buf(leaf.key_pem.data(), static_cast<int>(leaf.key_pem.size())));
        eif::PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
        std::string prot = eif::cose_protected_header(-35);
        return eif::cose_sign1_encode(prot, payload, eif::ecdsa_sign_raw(key.get(), "SHA384", 48, eif::cose_sig_structure(prot, payload)));
    }
};

// The payload of `document` with `key` replaced by `value` (or dropped when value is null).
std::string edit_payload(const std::string& document, const std::string& key, std::function<eif::CborPtr()> value)
{
    Decoded d = decode(document);
    eif::CborPtr map = eif::cbor_own(cbor_new_definite_map(cbor_map_size(d.payload.get())));
    for (std::size_t i = 0; i < cbor_map_size(d.payload.get()); ++i) {
        cbor_pair pair = cbor_map_handle(d.payload.get())[i];
        bool match = keys_of(d.payload.get())[i] == key;
        if (match && !value)
            continue;
        eif::cbor_put(map.get(), eif::CborPtr(cbor_incref(pair.key)), match ? value() : eif::CborPtr(cbor_incref(pair.value)));
    }
    return eif::cbor_serialize(map.get());
}

// The error code verify_document throws ("accepted" if none) and its message.
std::pair<std::string, std::string> verdict(const std::string& document, const VerifyOptions& options)
{
    try {
        verify_document(document, options);
    } catch (const base::Error& e) {
        return { e.code(), e.what() };
    }
    return { "accepted", "" };
}

} // namespace

TEST_CASE("the Nitro sample (a real AWS document) verifies against its own root at its issue time")
{
    std::string sample = nitro_sample();
    REQUIRE(sample.size() == 4447);
    Decoded d = decode(sample);
    const cbor_item_t* cabundle = eif::cbor_map_find(d.payload.get(), "cabundle");
    VerifyOptions o;
    o.root_cert_pem = pem_of_der(*eif::cbor_bytes(cbor_array_handle(cabundle)[0]));
    o.at = kNitroSampleTime;
    o.expected_pcrs[4] = "5a3e54bd0a5f50b1b5ec641e063a1f1e7e5aadc139f49fd8784afca90a83767ec13dd70b3f2e3f43b8e23355baaa9053";
    o.expected_pcrs[0] = std::string(96, '0');   // debug mode: image PCRs are zeros
    auto doc = verify_document(sample, o);
    CHECK(doc.payload["module_id"] == "i-0936512d5ae6ee91a-enc01823bcde8eb8a8a");
    CHECK(doc.payload["digest"] == "SHA384");
    CHECK(doc.payload["timestamp"] == 1658860752566ULL);
    CHECK(doc.payload["pcrs"].size() == 16);
    CHECK(doc.payload["cabundle"].size() == 4);
    CHECK(doc.payload["public_key"] == "");
    CHECK(doc.payload["user_data"] == std::string(64, '0'));
    CHECK(doc.payload["nonce"].get<std::string>().size() == 40);

    // Three hours later its leaf has expired; with another root it is foreign.
    o.at = kNitroSampleTime + 4 * 3600;
    CHECK(verdict(sample, o).first == "ATTESTATION_EXPIRED");
    Host host;
    CHECK(verdict(sample, host.options()).first == "ATTESTATION_BAD_CHAIN");
}

TEST_CASE("a document we sign has Nitro's COSE header bytes and the sample's payload keys in the sample's order")
{
    Host host;
    std::string ours = host.signer.sign(host.fields());
    // 84 = array(4); 44 a1 01 38 22 = bstr {1: -35}; a0 = {}; 59 = bstr with a 2-byte length.
    CHECK(hex(ours.substr(0, 8)) == "8444a1013822a059");
    CHECK(hex(nitro_sample().substr(0, 8)) == "8444a1013822a059");
    // The signature: the last item, a 96-byte bstr (58 60 ...).
    CHECK(hex(ours.substr(ours.size() - 98, 2)) == "5860");

    Decoded mine = decode(ours);
    Decoded sample = decode(nitro_sample());
    CHECK(mine.protected_bytes == sample.protected_bytes);
    CHECK(keys_of(mine.payload.get()) == keys_of(sample.payload.get()));
    CHECK(keys_of(mine.payload.get())
        == std::vector<std::string> { "module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle", "public_key", "user_data", "nonce" });
    // timestamp as Nitro writes it: a uint64 (1b + 8 bytes); PCR keys as small uints.
    const cbor_item_t* ts = eif::cbor_map_find(mine.payload.get(), "timestamp");
    CHECK(cbor_int_get_width(ts) == cbor_int_get_width(eif::cbor_map_find(sample.payload.get(), "timestamp")));
    CHECK(cbor_get_int(ts) == static_cast<std::uint64_t>(kNow) * 1000 + 123);
    // Absent optional fields are CBOR null.
    CHECK(cbor_is_null(eif::cbor_map_find(mine.payload.get(), "public_key")));
}

TEST_CASE("verify_document accepts our document and returns every field; tagged (18) documents too")
{
    Host host;
    std::string document = host.signer.sign(host.fields());
    VerifyOptions o = host.options();
    o.expected_pcrs[0] = eif::to_hex(digest_of("pcr0"));
    o.expected_pcrs[4] = eif::to_hex(digest_of("pcr4"));
    o.expected_nonce = std::string("\x01\x02\x03nonce", 8);
    auto doc = verify_document(document, o);
    CHECK(doc.payload["module_id"] == "testhost-enc4");
    CHECK(doc.payload["pcrs"]["4"] == eif::to_hex(digest_of("pcr4")));
    CHECK(doc.payload["pcrs"]["15"] == std::string(96, '0'));
    CHECK(doc.payload["nonce"] == hex(*o.expected_nonce));
    CHECK(doc.payload["public_key"].is_null());
    CHECK(doc.payload["cabundle"][0].get<std::string>().size() > 100);

    CHECK(verdict("\xd2" + document, o).first == "accepted");
    CHECK(verdict("\xd1" + document, o).first == "ATTESTATION_MALFORMED");   // tag 17 is COSE_Mac0
    CHECK(verdict("\xd8\x12" + document, o).first == "accepted");        // tag 18 in two bytes
    CHECK(verdict("\xd2\xd2" + document, o).first == "ATTESTATION_MALFORMED");
    // Upper-case expected hex is the same value.
    std::string upper = eif::to_hex(digest_of("pcr4"));
    for (auto& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    o.expected_pcrs[4] = upper;
    CHECK(verdict(document, o).first == "accepted");
}

TEST_CASE("verify_document: a changed byte in the payload or the signature is a bad signature")
{
    Host host;
    std::string document = host.signer.sign(host.fields());
    std::size_t at = document.find("testhost-enc4");
    REQUIRE(at != std::string::npos);
    std::string tampered = document;
    tampered[at] = 'T';
    auto [code, message] = verdict(tampered, host.options());
    CHECK(code == "ATTESTATION_BAD_SIGNATURE");
    CHECK(message.find('\n') == std::string::npos);
    tampered = document;
    tampered[document.size() - 10] ^= 0x01;
    CHECK(verdict(tampered, host.options()).first == "ATTESTATION_BAD_SIGNATURE");
}

TEST_CASE("verify_document: a foreign root, or a leaf another CA signed, breaks the chain")
{
    Host host, other;
    // Another host's document, checked against our root.
    CHECK(verdict(other.signer.sign(other.fields()), host.options()).first == "ATTESTATION_BAD_CHAIN");
    // A leaf issued by another CA, presented with our root in the cabundle.
    auto forged = DocumentSigner::create(other.leaf.key_pem, other.leaf.cert_pem, { host.root.cert_pem });
    auto [code, message] = verdict(forged.sign(host.fields()), host.options());
    CHECK(code == "ATTESTATION_BAD_CHAIN");
    CHECK(message.find("not signed by") != std::string::npos);
    // A leaf used as if it were a CA (it lacks CA:TRUE and keyCertSign).
    KeyAndCert below_leaf = vmm::nsm::issue_leaf(host.leaf, "below-leaf", kNow - 60, kNow + kYear);
    auto chained = DocumentSigner::create(below_leaf.key_pem, below_leaf.cert_pem, { host.root.cert_pem, host.leaf.cert_pem });
    CHECK(verdict(chained.sign(host.fields()), host.options()).first == "ATTESTATION_BAD_CHAIN");
}

TEST_CASE("verify_document: outside the leaf's validity the document is expired or not yet valid")
{
    Host host;
    std::string document = host.signer.sign(host.fields());
    VerifyOptions o = host.options();
    o.at = kNow + 2 * kYear;
    auto [code, message] = verdict(document, o);
    CHECK(code == "ATTESTATION_EXPIRED");
    CHECK(message.find("has expired") != std::string::npos);
    o.at = kNow - 1800;   // root valid, leaf not yet
    std::tie(code, message) = verdict(document, o);
    CHECK(code == "ATTESTATION_EXPIRED");
    CHECK(message.find("not valid yet") != std::string::npos);
}

TEST_CASE("verify_document: expected PCRs and nonce must match")
{
    Host host;
    std::string document = host.signer.sign(host.fields());
    VerifyOptions o = host.options();
    o.expected_pcrs[0] = eif::to_hex(digest_of("something else"));
    CHECK(verdict(document, o).first == "ATTESTATION_PCR_MISMATCH");
    o.expected_pcrs.clear();
    o.expected_pcrs[20] = std::string(96, '0');   // not locked, so not in the document
    CHECK(verdict(document, o).first == "ATTESTATION_PCR_MISMATCH");
    o.expected_pcrs.clear();
    o.expected_nonce = "another nonce";
    CHECK(verdict(document, o).first == "ATTESTATION_NONCE_MISMATCH");
    DocumentFields no_nonce = host.fields();
    no_nonce.nonce.reset();
    CHECK(verdict(host.signer.sign(no_nonce), o).first == "ATTESTATION_NONCE_MISMATCH");
}

TEST_CASE("verify_document: missing fields and wrong types are malformed, even when correctly signed")
{
    Host host;
    std::string document = host.signer.sign(host.fields());
    VerifyOptions o = host.options();
    auto with = [&](const std::string& key, std::function<eif::CborPtr()> value) {
        return verdict(host.sign_payload(edit_payload(document, key, std::move(value))), o);
    };
    auto text = [](const char* s) { return [s] { return eif::cbor_own(cbor_build_string(s)); }; };
    for (const char* field : { "module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle" }) {
        CAPTURE(field);
        auto [code, message] = with(field, nullptr);
        CHECK(code == "ATTESTATION_MALFORMED");
        CHECK(message.find(field) != std::string::npos);
    }
    // Optional fields may be absent.
    CHECK(with("public_key", nullptr).first == "accepted");
    CHECK(with("timestamp", text("1800000000123")).first == "ATTESTATION_MALFORMED");
    CHECK(with("digest", text("SHA256")).first == "ATTESTATION_MALFORMED");
    CHECK(with("module_id", [] { return eif::cbor_own(cbor_build_uint8(4)); }).first == "ATTESTATION_MALFORMED");
    CHECK(with("certificate", text("not DER")).first == "ATTESTATION_MALFORMED");
    CHECK(with("cabundle", [] { return eif::cbor_own(cbor_new_definite_array(0)); }).first == "ATTESTATION_MALFORMED");
    CHECK(with("nonce", [] { return eif::cbor_own(cbor_build_uint8(1)); }).first == "ATTESTATION_MALFORMED");
    CHECK(with("user_data", [] { return eif::cbor_own(cbor_build_bytestring(reinterpret_cast<cbor_data>(std::string(1025, 'u').data()), 1025)); }).first
        == "ATTESTATION_MALFORMED");
    auto pcrs_with = [&](unsigned index, std::size_t length) {
        return with("pcrs", [=] {
            eif::CborPtr map = eif::cbor_own(cbor_new_definite_map(1));
            std::string value(length, '\0');
            eif::cbor_put(map.get(), eif::cbor_own(cbor_build_uint8(static_cast<std::uint8_t>(index))),
                eif::cbor_own(cbor_build_bytestring(reinterpret_cast<cbor_data>(value.data()), value.size())));
            return map;
        });
    };
    CHECK(pcrs_with(3, 48).first == "accepted");
    CHECK(pcrs_with(3, 32).first == "accepted");
    CHECK(pcrs_with(3, 47).first == "ATTESTATION_MALFORMED");
    CHECK(pcrs_with(32, 48).first == "ATTESTATION_MALFORMED");
    CHECK(with("pcrs", [] { return eif::cbor_own(cbor_new_definite_map(0)); }).first == "ATTESTATION_MALFORMED");

    // A key twice: two verifiers could read different values.
    std::string payload = decode(document).payload_bytes;
    std::string doubled = payload;
    doubled[0] = static_cast<char>(0xaa);   // map of 10 entries instead of 9
    doubled += std::string("\x65nonce\x41x", 8);
    CHECK(verdict(host.sign_payload(doubled), o).first == "ATTESTATION_MALFORMED");
}

TEST_CASE("verify_document: non-documents are malformed, never a crash")
{
    Host host;
    VerifyOptions o = host.options();
    std::string document = host.signer.sign(host.fields());
    for (const std::string& junk : { std::string(), std::string("\x84", 1), std::string("hello"), document.substr(0, document.size() - 1),
             document + "x", std::string("\x83\x40\xa0\x40", 4), std::string(20000, '\0') }) {
        auto [code, message] = verdict(junk, o);
        CHECK(code == "ATTESTATION_MALFORMED");
        CHECK(message.find('\n') == std::string::npos);
    }
    // ES256 in the protected header.
    std::string es256 = document;
    es256[5] = 0x26;   // 38 22 (-35) → 38 26 (-39)... any other algorithm
    CHECK(verdict(es256, o).first == "ATTESTATION_MALFORMED");
    o.root_cert_pem = "not a certificate";
    CHECK(verdict(document, o).first == "ATTESTATION_BAD_CERT");
}

TEST_CASE("DocumentSigner::create refuses keys that cannot sign ES384 documents")
{
    Host host;
    auto code_of = [](auto&& call) -> std::string {
        try {
            call();
        } catch (const base::Error& e) {
            return e.code();
        }
        return "no error";
    };
    CHECK(code_of([&] { DocumentSigner::create("junk", host.leaf.cert_pem, { host.root.cert_pem }); }) == "ATTESTATION_BAD_KEY");
    CHECK(code_of([&] { DocumentSigner::create(host.root.key_pem, host.leaf.cert_pem, { host.root.cert_pem }); }) == "ATTESTATION_KEY_MISMATCH");
    CHECK(code_of([&] { DocumentSigner::create(host.leaf.key_pem, host.leaf.cert_pem, {}); }) == "ATTESTATION_BAD_CHAIN");
    // The same checks for parsed objects.
    ParsedKeyAndCert root = parse_key_and_cert(host.root);
    ParsedKeyAndCert leaf = parse_key_and_cert(host.leaf);
    CHECK(code_of([&] { DocumentSigner::create(eif::PkeyPtr(), leaf.cert.get(), { root.cert.get() }); }) == "ATTESTATION_BAD_KEY");
    CHECK(code_of([&] { DocumentSigner::create(parse_key_and_cert(host.root).key, leaf.cert.get(), { root.cert.get() }); }) == "ATTESTATION_KEY_MISMATCH");
    CHECK(code_of([&] { DocumentSigner::create(parse_key_and_cert(host.leaf).key, leaf.cert.get(), {}); }) == "ATTESTATION_BAD_CHAIN");
    EVP_PKEY* p256 = EVP_EC_gen("P-256");
    REQUIRE(p256);
    CHECK(code_of([&] { DocumentSigner::create(eif::PkeyPtr(p256), leaf.cert.get(), { root.cert.get() }); }) == "ATTESTATION_BAD_KEY");
    DocumentFields f = host.fields();
    f.public_key = std::string(1025, 'k');
    CHECK(code_of([&] { host.signer.sign(f); }) == "ATTESTATION_FIELD_TOO_LARGE");
}

TEST_CASE("DocumentSigner from parsed objects signs what the PEM-made one signs: the chain verifies")
{
    Host host;
    ParsedKeyAndCert root = parse_key_and_cert(host.root);
    eif::PkeyPtr key = new_p384_key();
    eif::X509Ptr cert = issue_leaf_certificate(root, "testhost-enc4", kNow - 60, kNow + kYear, key.get());
    DocumentSigner signer = DocumentSigner::create(std::move(key), cert.get(), { root.cert.get() });
    CHECK(verdict(signer.sign(host.fields()), host.options()).first == "accepted");
}

TEST_CASE("signing a document fits in a quarter of the NSM handler thread's stack (kHandlerThreadStack)")
{
    // The NSM transports run the module on a base::SizedThread of kHandlerThreadStack; an
    // overflow here would crash the test (the guard page), so this proves a 4x margin.
    Host host;
    std::string document;
    base::SizedThread signing(vmm::nsm::kHandlerThreadStack / 4, [&] { document = host.signer.sign(host.fields()); });
    signing.join();
    CHECK(verdict(document, host.options()).first == "accepted");
}
