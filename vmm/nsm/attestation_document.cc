// vmm/nsm/attestation_document.cc — see attestation_document.h. Verification treats every byte
// as hostile: sizes are bounded before parsing, every type is checked before use, and the
// payload may not repeat a key (so no two verifiers can read different values from one document).
#include "vmm/nsm/attestation_document.h"

#include "base/error.h"
#include "base/hex.h"
#include "eif-format/cbor_util.h"
#include "eif-format/cose_sign1.h"
#include "eif-format/openssl_ptr.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <set>

namespace vmm::nsm {

namespace {

constexpr int kEs384 = -35;
constexpr const char* kDigest = "SHA384";
constexpr std::size_t kCoordinateSize = 48;
constexpr std::size_t kMaxCabundle = 8;       // Nitro: root, regional, zonal, instance
constexpr std::size_t kMaxCertificateDer = 4096;

[[noreturn]] void fail(const char* code, const std::string& message)
{
    ERR_clear_error();
    throw base::Error(code == std::string("ATTESTATION_MALFORMED") ? base::ErrorKind::InvalidInput : base::ErrorKind::Crypto,
        code, message);
}
[[noreturn]] void malformed(const std::string& message) { fail("ATTESTATION_MALFORMED", "attestation document: " + message); }

eif::X509Ptr cert_from_pem(const std::string& pem, const std::string& what)
{
    eif::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    eif::X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!cert)
        fail("ATTESTATION_BAD_CERT", what + " is not a PEM X.509 certificate; pass the -----BEGIN CERTIFICATE----- text");
    return cert;
}

std::string der_of(X509* cert)
{
    unsigned char* der = nullptr;
    int n = i2d_X509(cert, &der);
    if (n <= 0)
        fail("ATTESTATION_BAD_CERT", "a certificate could not be DER-encoded");
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    return out;
}

// The whole of `der` must be one certificate.
eif::X509Ptr cert_from_der(const std::string& der, const std::string& what)
{
    if (der.empty() || der.size() > kMaxCertificateDer)
        malformed(what + " is " + std::to_string(der.size()) + " bytes; a DER certificate of 1 to " + std::to_string(kMaxCertificateDer)
            + " bytes is expected");
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    eif::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!cert || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
        malformed(what + " is not a DER X.509 certificate");
    return cert;
}

std::string subject_of(X509* cert)
{
    char buffer[256] = {};
    X509_NAME_oneline(X509_get_subject_name(cert), buffer, sizeof buffer);
    return buffer;
}

bool is_p384(EVP_PKEY* key)
{
    char name[64] = {};
    std::size_t length = 0;
    if (!key || !EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_group_name(key, name, sizeof name, &length) != 1)
        return false;
    std::string group(name, length);
    return group == "secp384r1" || group == "P-384";
}

std::string text_of_time(const ASN1_TIME* t)
{
    eif::BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || ASN1_TIME_print(bio.get(), t) != 1)
        return "?";
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

eif::CborPtr bstr(std::string_view bytes)
{
    return eif::cbor_own(cbor_build_bytestring(reinterpret_cast<cbor_data>(bytes.data()), bytes.size()));
}

eif::CborPtr bstr_or_null(const std::optional<std::string>& bytes)
{
    return bytes ? bstr(*bytes) : eif::cbor_own(cbor_new_null());
}

// --- parsing a payload ----------------------------------------------------------------------

struct Payload {
    std::string module_id;
    std::uint64_t timestamp_ms { 0 };
    std::map<unsigned, std::string> pcrs;
    std::string certificate;
    std::vector<std::string> cabundle;
    std::optional<std::string> public_key, user_data, nonce;
};

std::string text_key(const cbor_item_t* key)
{
    if (!cbor_isa_string(key) || !cbor_string_is_definite(key))
        malformed("the payload has a key that is not a text string");
    return std::string(reinterpret_cast<const char*>(cbor_string_handle(key)), cbor_string_length(key));
}

std::string required_bytes(const cbor_item_t* item, const std::string& name)
{
    auto bytes = eif::cbor_bytes(item);
    if (!bytes)
        malformed("\"" + name + "\" is not a byte string");
    return *bytes;
}

std::optional<std::string> optional_bytes(const cbor_item_t* item, const std::string& name)
{
    if (!item || cbor_is_null(item))
        return std::nullopt;
    auto bytes = eif::cbor_bytes(item);
    if (!bytes)
        malformed("\"" + name + "\" is neither a byte string nor null");
    if (bytes->size() > kMaxUserFieldSize)
        malformed("\"" + name + "\" has " + std::to_string(bytes->size()) + " bytes; at most " + std::to_string(kMaxUserFieldSize)
            + " are allowed");
    return bytes;
}

Payload parse_payload(std::string_view bytes)
{
    eif::CborPtr map;
    try {
        map = eif::cbor_parse(bytes, "payload");
    } catch (const base::Error& e) {
        malformed(e.what());
    }
    if (!cbor_isa_map(map.get()) || !cbor_map_is_definite(map.get()))
        malformed("the payload is not a CBOR map");
    std::set<std::string> seen;
    cbor_pair* pairs = cbor_map_handle(map.get());
    for (std::size_t i = 0; i < cbor_map_size(map.get()); ++i)
        if (!seen.insert(text_key(pairs[i].key)).second)
            malformed("the payload has the key \"" + text_key(pairs[i].key) + "\" twice");
    for (const char* name : { "module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle" })
        if (!seen.count(name))
            malformed("the mandatory field \"" + std::string(name) + "\" is missing");

    Payload p;
    const cbor_item_t* item = eif::cbor_map_find(map.get(), "module_id");
    if (!cbor_isa_string(item) || !cbor_string_is_definite(item) || cbor_string_length(item) == 0)
        malformed("\"module_id\" is not a non-empty text string");
    p.module_id.assign(reinterpret_cast<const char*>(cbor_string_handle(item)), cbor_string_length(item));

    item = eif::cbor_map_find(map.get(), "digest");
    if (!cbor_isa_string(item) || !cbor_string_is_definite(item)
        || std::string_view(reinterpret_cast<const char*>(cbor_string_handle(item)), cbor_string_length(item)) != kDigest)
        malformed("\"digest\" is not the text \"SHA384\"");

    item = eif::cbor_map_find(map.get(), "timestamp");
    if (!cbor_isa_uint(item) || cbor_get_int(item) == 0)
        malformed("\"timestamp\" is not a positive integer (milliseconds since the epoch)");
    p.timestamp_ms = cbor_get_int(item);

    item = eif::cbor_map_find(map.get(), "pcrs");
    if (!cbor_isa_map(item) || !cbor_map_is_definite(item) || cbor_map_size(item) == 0 || cbor_map_size(item) > kPcrCount)
        malformed("\"pcrs\" is not a map of 1 to " + std::to_string(kPcrCount) + " entries");
    cbor_pair* pcrs = cbor_map_handle(item);
    for (std::size_t i = 0; i < cbor_map_size(item); ++i) {
        if (!cbor_isa_uint(pcrs[i].key) || cbor_get_int(pcrs[i].key) >= kPcrCount)
            malformed("\"pcrs\" has a key that is not a PCR index from 0 to " + std::to_string(kPcrCount - 1));
        auto index = static_cast<unsigned>(cbor_get_int(pcrs[i].key));
        auto value = eif::cbor_bytes(pcrs[i].value);
        if (!value || (value->size() != 32 && value->size() != 48 && value->size() != 64))
            malformed("PCR " + std::to_string(index) + " is not a byte string of 32, 48 or 64 bytes");
        if (!p.pcrs.emplace(index, *value).second)
            malformed("\"pcrs\" lists PCR " + std::to_string(index) + " twice");
    }

    p.certificate = required_bytes(eif::cbor_map_find(map.get(), "certificate"), "certificate");
    item = eif::cbor_map_find(map.get(), "cabundle");
    if (!cbor_isa_array(item) || !cbor_array_is_definite(item) || cbor_array_size(item) == 0 || cbor_array_size(item) > kMaxCabundle)
        malformed("\"cabundle\" is not an array of 1 to " + std::to_string(kMaxCabundle) + " certificates");
    for (std::size_t i = 0; i < cbor_array_size(item); ++i)
        p.cabundle.push_back(required_bytes(cbor_array_handle(item)[i], "cabundle[" + std::to_string(i) + "]"));
    p.public_key = optional_bytes(eif::cbor_map_find(map.get(), "public_key"), "public_key");
    p.user_data = optional_bytes(eif::cbor_map_find(map.get(), "user_data"), "user_data");
    p.nonce = optional_bytes(eif::cbor_map_find(map.get(), "nonce"), "nonce");
    return p;
}

// --- the COSE envelope --------------------------------------------------------------------------

struct Envelope {
    std::string protected_bytes, payload, signature;
};

Envelope parse_envelope(std::string_view cose)
{
    if (cose.size() > kMaxResponseSize)
        malformed(std::to_string(cose.size()) + " bytes, more than an NSM response can carry (" + std::to_string(kMaxResponseSize)
            + "); pass the document itself (the \"document\" bytes of the Attestation response)");
    // Tag 18 (COSE_Sign1) is optional; it is taken off by hand (libcbor 0.8 cannot load it).
    if (!cose.empty() && static_cast<std::uint8_t>(cose[0]) >> 5 == 6) {
        std::uint64_t tag = static_cast<std::uint8_t>(cose[0]) & 0x1f;
        std::size_t head = 1;
        if (tag == 24 && cose.size() > 1) {
            tag = static_cast<std::uint8_t>(cose[1]);
            head = 2;
        }
        if (tag != 18)
            malformed("tagged with a CBOR tag other than 18 (COSE_Sign1)");
        cose.remove_prefix(head);
    }
    eif::CborPtr array;
    try {
        array = eif::cbor_parse(cose, "COSE_Sign1");
    } catch (const base::Error& e) {
        malformed(e.what());
    }
    if (!cbor_isa_array(array.get()) || !cbor_array_is_definite(array.get()) || cbor_array_size(array.get()) != 4)
        malformed("not a COSE_Sign1 array of 4 items");
    cbor_item_t** items = cbor_array_handle(array.get());
    auto protected_bytes = eif::cbor_bytes(items[0]);
    auto payload = eif::cbor_bytes(items[2]);
    auto signature = eif::cbor_bytes(items[3]);
    if (!protected_bytes || !cbor_isa_map(items[1]) || !payload || !signature)
        malformed("COSE_Sign1 items are not [bstr, map, bstr, bstr]");
    eif::CborPtr header;
    try {
        header = eif::cbor_parse(*protected_bytes, "protected header");
    } catch (const base::Error& e) {
        malformed(e.what());
    }
    std::optional<std::int64_t> alg;
    if (cbor_isa_map(header.get())) {
        cbor_pair* pairs = cbor_map_handle(header.get());
        for (std::size_t i = 0; i < cbor_map_size(header.get()); ++i)
            if (eif::cbor_int(pairs[i].key) == 1)
                alg = eif::cbor_int(pairs[i].value);
    }
    if (alg != kEs384)
        malformed("the protected header does not say ES384 ({1: -35})");
    if (signature->size() != 2 * kCoordinateSize)
        malformed("the signature has " + std::to_string(signature->size()) + " bytes; ES384 needs 96 (r‖s)");
    return Envelope { std::move(*protected_bytes), std::move(*payload), std::move(*signature) };
}

// --- the certificate chain ----------------------------------------------------------------------

void check_validity(X509* cert, const std::string& what, std::time_t at)
{
    if (X509_cmp_time(X509_get0_notBefore(cert), &at) > 0)
        fail("ATTESTATION_EXPIRED", what + " (" + subject_of(cert) + ") is not valid yet at " + std::to_string(at) + " (notBefore "
            + text_of_time(X509_get0_notBefore(cert)) + "); check the clock or --at");
    if (X509_cmp_time(X509_get0_notAfter(cert), &at) < 0)
        fail("ATTESTATION_EXPIRED", what + " (" + subject_of(cert) + ") has expired at " + std::to_string(at) + " (notAfter "
            + text_of_time(X509_get0_notAfter(cert)) + "); ask the enclave for a fresh document");
}

void check_key_usage(X509* cert, const std::string& what, std::uint32_t needed, const char* name)
{
    bool present = X509_get_extension_flags(cert) & EXFLAG_KUSAGE;
    if (!present || !(X509_get_key_usage(cert) & needed))
        fail("ATTESTATION_BAD_CHAIN", what + " (" + subject_of(cert) + ") lacks the key usage " + name);
}

// chain = root, intermediates…, leaf (root is byte-equal to the trust anchor).
void check_chain(const std::vector<eif::X509Ptr>& chain, std::time_t at)
{
    auto name = [&](std::size_t i) {
        return i == 0 ? std::string("the root (cabundle[0])")
                      : i + 1 == chain.size() ? std::string("the leaf certificate") : "cabundle[" + std::to_string(i) + "]";
    };
    if (X509_verify(chain[0].get(), X509_get0_pubkey(chain[0].get())) != 1)
        fail("ATTESTATION_BAD_CHAIN", "the root certificate is not self-signed");
    for (std::size_t i = 0; i < chain.size(); ++i) {
        X509* cert = chain[i].get();
        if (i + 1 < chain.size()) {
            if (X509_check_ca(cert) < 1)
                fail("ATTESTATION_BAD_CHAIN", name(i) + " (" + subject_of(cert) + ") is not a CA certificate (basicConstraints CA:TRUE)");
            check_key_usage(cert, name(i), KU_KEY_CERT_SIGN, "keyCertSign");
        } else {
            check_key_usage(cert, name(i), KU_DIGITAL_SIGNATURE, "digitalSignature");
        }
        if (i > 0) {
            X509* issuer = chain[i - 1].get();
            if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(issuer)) != 0
                || X509_verify(cert, X509_get0_pubkey(issuer)) != 1)
                fail("ATTESTATION_BAD_CHAIN", name(i) + " (" + subject_of(cert) + ") is not signed by " + name(i - 1) + " ("
                    + subject_of(issuer) + ")");
        }
        check_validity(cert, name(i), at);
    }
    // OpenSSL's own path validation on top (path length, critical extensions, ...).
    std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
    std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
    struct StackFree {
        void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
    };
    std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
    if (!store || !ctx || !untrusted || X509_STORE_add_cert(store.get(), chain[0].get()) != 1)
        fail("ATTESTATION_BAD_CHAIN", "OpenSSL could not set up chain validation");
    for (std::size_t i = 1; i + 1 < chain.size(); ++i)
        sk_X509_push(untrusted.get(), chain[i].get());
    if (X509_STORE_CTX_init(ctx.get(), store.get(), chain.back().get(), untrusted.get()) != 1)
        fail("ATTESTATION_BAD_CHAIN", "OpenSSL could not set up chain validation");
    X509_STORE_CTX_set_time(ctx.get(), 0, at);
    if (X509_verify_cert(ctx.get()) != 1)
        fail("ATTESTATION_BAD_CHAIN", std::string("the certificate chain does not validate: ")
                + X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
}

nlohmann::json payload_json(const Payload& p)
{
    auto hex = [](const std::string& s) { return base::to_hex(s.data(), s.size()); };
    auto hex_or_null = [&](const std::optional<std::string>& s) { return s ? nlohmann::json(hex(*s)) : nlohmann::json(nullptr); };
    nlohmann::json pcrs = nlohmann::json::object();
    for (const auto& [index, value] : p.pcrs)
        pcrs[std::to_string(index)] = hex(value);
    nlohmann::json cabundle = nlohmann::json::array();
    for (const auto& der : p.cabundle)
        cabundle.push_back(hex(der));
    return nlohmann::json { { "module_id", p.module_id }, { "digest", kDigest }, { "timestamp", p.timestamp_ms }, { "pcrs", pcrs },
        { "certificate", hex(p.certificate) }, { "cabundle", cabundle }, { "public_key", hex_or_null(p.public_key) },
        { "user_data", hex_or_null(p.user_data) }, { "nonce", hex_or_null(p.nonce) } };
}

} // namespace

// --- signing ------------------------------------------------------------------------------------

struct DocumentSigner::Impl {
    eif::PkeyPtr key;
    std::string certificate_der;
    std::vector<std::string> chain_der;
};

DocumentSigner::DocumentSigner()
    : m_impl(std::make_unique<Impl>())
{
}
DocumentSigner::~DocumentSigner() = default;
DocumentSigner::DocumentSigner(DocumentSigner&&) noexcept = default;
DocumentSigner& DocumentSigner::operator=(DocumentSigner&&) noexcept = default;

DocumentSigner DocumentSigner::create(const std::string& leaf_key_pem, const std::string& leaf_cert_pem, const std::vector<std::string>& chain_pems)
{
    eif::BioPtr bio(BIO_new_mem_buf(leaf_key_pem.data(), static_cast<int>(leaf_key_pem.size())));
    eif::PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!key)
        fail("ATTESTATION_BAD_KEY", "the attestation signing key is not an unencrypted PEM private key");
    eif::X509Ptr leaf = cert_from_pem(leaf_cert_pem, "the attestation leaf certificate");
    std::vector<eif::X509Ptr> chain;
    for (std::size_t i = 0; i < chain_pems.size(); ++i)
        chain.push_back(cert_from_pem(chain_pems[i], "chain certificate " + std::to_string(i)));
    std::vector<X509*> chain_view;
    for (const eif::X509Ptr& c : chain)
        chain_view.push_back(c.get());
    return create(std::move(key), leaf.get(), chain_view);
}

DocumentSigner DocumentSigner::create(eif::PkeyPtr leaf_key, X509* leaf_cert, const std::vector<X509*>& chain)
{
    DocumentSigner signer;
    Impl& s = *signer.m_impl;
    s.key = std::move(leaf_key);
    if (!s.key || !is_p384(s.key.get()))
        fail("ATTESTATION_BAD_KEY", "the attestation signing key is not an EC P-384 key (ES384 needs one)");
    if (!leaf_cert || X509_check_private_key(leaf_cert, s.key.get()) != 1)
        fail("ATTESTATION_KEY_MISMATCH", "the attestation signing key does not belong to the leaf certificate");
    s.certificate_der = der_of(leaf_cert);
    if (chain.empty())
        fail("ATTESTATION_BAD_CHAIN", "the attestation chain is empty; pass at least the root certificate");
    for (X509* c : chain)
        s.chain_der.push_back(der_of(c));
    return signer;
}

std::string DocumentSigner::sign(const DocumentFields& fields) const
{
    for (const auto* field : { &fields.public_key, &fields.user_data, &fields.nonce })
        if (*field && (*field)->size() > kMaxUserFieldSize)
            throw base::Error(base::ErrorKind::InvalidInput, "ATTESTATION_FIELD_TOO_LARGE",
                "public_key, user_data and nonce are limited to " + std::to_string(kMaxUserFieldSize) + " bytes each");
    if (fields.pcrs.empty() || fields.pcrs.rbegin()->first >= kPcrCount)
        throw base::Error(base::ErrorKind::InvalidInput, "ATTESTATION_BAD_PCRS", "a document carries 1 to 32 PCRs with indices 0 to 31");

    eif::CborPtr pcrs = eif::cbor_own(cbor_new_definite_map(fields.pcrs.size()));
    for (const auto& [index, value] : fields.pcrs)
        eif::cbor_put(pcrs.get(), eif::cbor_own(cbor_build_uint8(static_cast<std::uint8_t>(index))),
            bstr(std::string_view(reinterpret_cast<const char*>(value.data()), value.size())));
    eif::CborPtr cabundle = eif::cbor_own(cbor_new_definite_array(m_impl->chain_der.size()));
    for (const auto& der : m_impl->chain_der)
        eif::cbor_push(cabundle.get(), bstr(der));

    // Nitro's keys in Nitro's order (nitro-enclaves.md §5.4).
    eif::CborPtr map = eif::cbor_own(cbor_new_definite_map(9));
    auto put = [&](const char* key, eif::CborPtr value) { eif::cbor_put(map.get(), eif::cbor_own(cbor_build_string(key)), std::move(value)); };
    put("module_id", eif::cbor_own(cbor_build_stringn(fields.module_id.data(), fields.module_id.size())));
    put("digest", eif::cbor_own(cbor_build_string(kDigest)));
    put("timestamp", eif::cbor_own(cbor_build_uint64(fields.timestamp_ms)));
    put("pcrs", std::move(pcrs));
    put("certificate", bstr(m_impl->certificate_der));
    put("cabundle", std::move(cabundle));
    put("public_key", bstr_or_null(fields.public_key));
    put("user_data", bstr_or_null(fields.user_data));
    put("nonce", bstr_or_null(fields.nonce));
    std::string payload = eif::cbor_serialize(map.get());

    std::string protected_bytes = eif::cose_protected_header(kEs384);
    std::string signature = eif::ecdsa_sign_raw(m_impl->key.get(), kDigest, kCoordinateSize, eif::cose_sig_structure(protected_bytes, payload));
    return eif::cose_sign1_encode(protected_bytes, payload, signature);
}

// --- verifying ----------------------------------------------------------------------------------

VerifiedDocument verify_document(std::string_view cose, const VerifyOptions& options)
{
    eif::X509Ptr root = cert_from_pem(options.root_cert_pem, "the root certificate");
    Envelope envelope = parse_envelope(cose);
    Payload payload = parse_payload(envelope.payload);

    // The signature, with the leaf key the document carries (whose chain is checked next).
    eif::X509Ptr leaf = cert_from_der(payload.certificate, "\"certificate\"");
    EVP_PKEY* leaf_key = X509_get0_pubkey(leaf.get());
    if (!is_p384(leaf_key))
        fail("ATTESTATION_BAD_SIGNATURE", "the leaf certificate's key is not EC P-384, so it cannot have made an ES384 signature");
    if (!eif::ecdsa_verify_raw(leaf_key, kDigest, kCoordinateSize, envelope.signature,
            eif::cose_sig_structure(envelope.protected_bytes, envelope.payload)))
        fail("ATTESTATION_BAD_SIGNATURE", "the document's signature does not verify with its leaf certificate: it was altered or not signed by that key");

    // The chain: cabundle[0] must be the trust anchor itself.
    std::string root_der = der_of(root.get());
    if (payload.cabundle[0] != root_der) {
        eif::X509Ptr their_root = cert_from_der(payload.cabundle[0], "cabundle[0]");
        fail("ATTESTATION_BAD_CHAIN", "the document's root (cabundle[0], " + subject_of(their_root.get()) + ") is not the given root ("
                + subject_of(root.get()) + "); pass the root of the host that signed it (qt-vmm attestation root-cert there)");
    }
    std::vector<eif::X509Ptr> chain;
    chain.push_back(std::move(root));
    for (std::size_t i = 1; i < payload.cabundle.size(); ++i)
        chain.push_back(cert_from_der(payload.cabundle[i], "cabundle[" + std::to_string(i) + "]"));
    chain.push_back(std::move(leaf));
    check_chain(chain, options.at ? *options.at : std::time(nullptr));

    for (const auto& [index, expected] : options.expected_pcrs) {
        auto it = payload.pcrs.find(index);
        if (it == payload.pcrs.end())
            fail("ATTESTATION_PCR_MISMATCH", "PCR " + std::to_string(index) + " is not in the document (it lists the locked PCRs only)");
        std::string actual = base::to_hex(it->second.data(), it->second.size());
        if (actual != lower(expected))
            fail("ATTESTATION_PCR_MISMATCH", "PCR " + std::to_string(index) + " is " + actual + ", not the expected " + lower(expected));
    }
    if (options.expected_nonce && payload.nonce != options.expected_nonce)
        fail("ATTESTATION_NONCE_MISMATCH", payload.nonce ? "the document's nonce (" + base::to_hex(payload.nonce->data(), payload.nonce->size())
                                                               + ") is not the expected one: a replayed or foreign document"
                                                         : std::string("the document carries no nonce, but one was expected"));
    return VerifiedDocument { payload_json(payload) };
}

} // namespace vmm::nsm
