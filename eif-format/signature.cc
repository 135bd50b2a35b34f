#include "eif-format/signature.h"

#include "base/error.h"
#include "base/file.h"
#include "eif-format/cbor_util.h"
#include "eif-format/cose_sign1.h"
#include "eif-format/openssl_ptr.h"

#include <cstdio>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace eif {

namespace {

constexpr std::size_t kMaxPemFile = 64 * 1024;

[[noreturn]] void crypto_error(const std::string& code, const std::string& message)
{
    ERR_clear_error();
    throw base::Error(base::ErrorKind::Crypto, code, message);
}


// Never prompt on the terminal for a passphrase: encrypted keys are reported as unreadable.
int no_passphrase(char*, int, int, void*)
{
    return 0;
}

BioPtr memory_bio(std::string_view text)
{
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio)
        crypto_error("OPENSSL_FAILED", "OpenSSL could not allocate a BIO");
    return bio;
}

X509Ptr parse_certificate(std::string_view pem)
{
    X509Ptr cert(PEM_read_bio_X509(memory_bio(pem).get(), nullptr, no_passphrase, nullptr));
    if (!cert)
        crypto_error("CERT_BAD_PEM", "the signing certificate is not a PEM X.509 certificate; pass the -----BEGIN CERTIFICATE----- file");
    return cert;
}

struct Curve {
    CoseAlgorithm algorithm;
    const char* digest;
    std::size_t coordinate_size;
};

std::optional<Curve> curve_of(EVP_PKEY* key)
{
    if (!EVP_PKEY_is_a(key, "EC"))
        return std::nullopt;
    char name[64] = {};
    std::size_t length = 0;
    if (EVP_PKEY_get_group_name(key, name, sizeof name, &length) != 1)
        return std::nullopt;
    std::string group(name, length);
    if (group == "prime256v1" || group == "P-256")
        return Curve { CoseAlgorithm::ES256, "SHA256", 32 };
    if (group == "secp384r1" || group == "P-384")
        return Curve { CoseAlgorithm::ES384, "SHA384", 48 };
    if (group == "secp521r1" || group == "P-521")
        return Curve { CoseAlgorithm::ES512, "SHA512", 66 };
    return std::nullopt;
}

std::optional<Curve> curve_of_algorithm(std::int64_t alg)
{
    switch (alg) {
    case static_cast<int>(CoseAlgorithm::ES256):
        return Curve { CoseAlgorithm::ES256, "SHA256", 32 };
    case static_cast<int>(CoseAlgorithm::ES384):
        return Curve { CoseAlgorithm::ES384, "SHA384", 48 };
    case static_cast<int>(CoseAlgorithm::ES512):
        return Curve { CoseAlgorithm::ES512, "SHA512", 66 };
    default:
        return std::nullopt;
    }
}

// t <= at
bool time_not_after(const ASN1_TIME* t, std::int64_t at)
{
    auto when = static_cast<time_t>(at);
    return X509_cmp_time(t, &when) < 0;
}

// t > at
bool time_not_before(const ASN1_TIME* t, std::int64_t at)
{
    auto when = static_cast<time_t>(at);
    return X509_cmp_time(t, &when) > 0;
}

std::string asn1_time_text(const ASN1_TIME* t)
{
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || ASN1_TIME_print(bio.get(), t) != 1)
        return {};
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

// Checks notBefore ≤ at ≤ notAfter; returns the problem or "".
std::string validity_problem(X509* cert, std::int64_t at)
{
    if (!time_not_after(X509_get0_notBefore(cert), at))
        return "the signing certificate is not valid yet (notBefore " + asn1_time_text(X509_get0_notBefore(cert)) + ")";
    if (!time_not_before(X509_get0_notAfter(cert), at))
        return "the signing certificate has expired (notAfter " + asn1_time_text(X509_get0_notAfter(cert)) + ")";
    return {};
}

std::string pcr_payload(const Digest& pcr0)
{
    CborPtr map = cbor_own(cbor_new_definite_map(2));
    cbor_put(map.get(), cbor_own(cbor_build_string("register_index")), cbor_own(cbor_build_uint8(0)));
    cbor_put(map.get(), cbor_own(cbor_build_string("register_value")), cbor_uint_array(pcr0.data(), pcr0.size()));
    return cbor_serialize(map.get());
}

} // namespace

struct Signer::Impl {
    PkeyPtr key;
    X509Ptr cert;
    std::string certificate_pem;
    Curve curve {};
};

Signer::Signer()
    : m_impl(std::make_unique<Impl>())
{
}
Signer::~Signer() = default;
Signer::Signer(Signer&&) noexcept = default;
Signer& Signer::operator=(Signer&&) noexcept = default;

Signer Signer::load(const SigningInput& input, std::optional<std::int64_t> now)
{
    if (input.private_key_path.empty() != input.certificate_path.empty())
        crypto_error("SIGN_INCOMPLETE", "signing needs both --private-key and --signing-certificate; pass both or neither");
    if (input.private_key_path.empty())
        crypto_error("SIGN_INCOMPLETE", "no signing key given; pass --private-key and --signing-certificate");
    Signer signer;
    Impl& s = *signer.m_impl;

    std::string key_pem = base::read_file(input.private_key_path, kMaxPemFile);
    s.key.reset(PEM_read_bio_PrivateKey(memory_bio(key_pem).get(), nullptr, no_passphrase, nullptr));
    OPENSSL_cleanse(key_pem.data(), key_pem.size());
    if (!s.key)
        crypto_error("SIGN_BAD_KEY", input.private_key_path + " is not an unencrypted PEM private key; pass an EC key (openssl ecparam -genkey -name secp384r1)");
    auto curve = curve_of(s.key.get());
    if (!curve)
        crypto_error("SIGN_BAD_KEY_TYPE", input.private_key_path + " is a " + std::string(EVP_PKEY_get0_type_name(s.key.get()) ? EVP_PKEY_get0_type_name(s.key.get()) : "unknown")
                + " key; EIF signing needs an EC key on P-256, P-384 or P-521");
    s.curve = *curve;

    s.certificate_pem = base::read_file(input.certificate_path, kMaxPemFile);
    s.cert.reset(PEM_read_bio_X509(memory_bio(s.certificate_pem).get(), nullptr, no_passphrase, nullptr));
    if (!s.cert)
        crypto_error("SIGN_BAD_CERT", input.certificate_path + " is not a PEM X.509 certificate; pass the -----BEGIN CERTIFICATE----- file");
    if (X509_check_private_key(s.cert.get(), s.key.get()) != 1)
        crypto_error("SIGN_KEY_MISMATCH", "the private key " + input.private_key_path + " does not belong to the certificate " + input.certificate_path);
    std::string problem = validity_problem(s.cert.get(), now ? *now : static_cast<std::int64_t>(std::time(nullptr)));
    if (!problem.empty())
        crypto_error("SIGN_CERT_NOT_VALID", input.certificate_path + ": " + problem + "; use a currently valid certificate");
    return signer;
}

CoseAlgorithm Signer::algorithm() const { return m_impl->curve.algorithm; }
const std::string& Signer::certificate_pem() const { return m_impl->certificate_pem; }
Digest Signer::pcr8() const { return pcr_of_certificate_pem(m_impl->certificate_pem); }

std::string Signer::signature_section(const Digest& pcr0) const
{
    const Curve& curve = m_impl->curve;
    std::string protected_bytes = cose_protected_header(static_cast<int>(curve.algorithm));
    std::string payload = pcr_payload(pcr0);
    std::string raw = ecdsa_sign_raw(m_impl->key.get(), curve.digest, curve.coordinate_size, cose_sig_structure(protected_bytes, payload));
    std::string cose_bytes = cose_sign1_encode(protected_bytes, payload, raw);

    CborPtr entry = cbor_own(cbor_new_definite_map(2));
    const auto* pem = reinterpret_cast<const std::uint8_t*>(m_impl->certificate_pem.data());
    cbor_put(entry.get(), cbor_own(cbor_build_string("signing_certificate")), cbor_uint_array(pem, m_impl->certificate_pem.size()));
    cbor_put(entry.get(), cbor_own(cbor_build_string("signature")),
        cbor_uint_array(reinterpret_cast<const std::uint8_t*>(cose_bytes.data()), cose_bytes.size()));
    CborPtr section = cbor_own(cbor_new_definite_array(1));
    cbor_push(section.get(), std::move(entry));
    return cbor_serialize(section.get());
}

ParsedSignature parse_signature_section(std::string_view bytes)
{
    const std::string what = "signature section";
    CborPtr root = cbor_parse(bytes, what);
    if (!cbor_isa_array(root.get()) || cbor_array_size(root.get()) == 0)
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_SIGNATURE", "eif: signature section is not a non-empty CBOR array");
    const cbor_item_t* entry = cbor_array_handle(root.get())[0];
    auto cert = cbor_uint_array_bytes(cbor_map_find(entry, "signing_certificate"));
    auto cose = cbor_uint_array_bytes(cbor_map_find(entry, "signature"));
    if (!cert || !cose)
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_SIGNATURE",
            "eif: signature section entry 0 lacks \"signing_certificate\" or \"signature\" as arrays of bytes");
    ParsedSignature parsed;
    parsed.certificate_pem.assign(cert->begin(), cert->end());
    parsed.cose_sign1 = std::move(*cose);
    parsed.entry_count = cbor_array_size(root.get());
    return parsed;
}

SignatureCheck verify_signature(const ParsedSignature& signature, const Digest& pcr0, std::optional<std::int64_t> at)
{
    SignatureCheck check;
    X509Ptr cert = parse_certificate(signature.certificate_pem);
    if (at) {
        check.problem = validity_problem(cert.get(), *at);
        check.certificate_valid = check.problem.empty();
    } else {
        check.certificate_valid = true;
    }
    auto note = [&](const std::string& problem) {
        if (check.problem.empty())
            check.problem = problem;
    };

    std::string_view cose_view(reinterpret_cast<const char*>(signature.cose_sign1.data()), signature.cose_sign1.size());
    CborPtr cose;
    try {
        cose = cbor_parse(cose_view, "COSE_Sign1");
    } catch (const base::Error& e) {
        note(e.what());
        return check;
    }
    if (!cbor_isa_array(cose.get()) || cbor_array_size(cose.get()) != 4) {
        note("COSE_Sign1 is not an array of 4 items");
        return check;
    }
    cbor_item_t** items = cbor_array_handle(cose.get());
    auto protected_bytes = cbor_bytes(items[0]);
    auto payload = cbor_bytes(items[2]);
    auto raw = cbor_bytes(items[3]);
    if (!protected_bytes || !cbor_isa_map(items[1]) || !payload || !raw) {
        note("COSE_Sign1 items have the wrong types");
        return check;
    }

    // Payload: {"register_index": 0, "register_value": PCR0}.
    try {
        CborPtr info = cbor_parse(*payload, "COSE payload");
        auto index = cbor_int(cbor_map_find(info.get(), "register_index"));
        auto value = cbor_uint_array_bytes(cbor_map_find(info.get(), "register_value"));
        check.payload_matches = index == 0 && value && value->size() == pcr0.size() && std::equal(value->begin(), value->end(), pcr0.begin());
        if (!check.payload_matches)
            note("the signed payload is not this image's PCR0");
    } catch (const base::Error& e) {
        note(e.what());
    }

    // Algorithm from the protected header, which must match the certificate's curve.
    std::optional<Curve> curve;
    try {
        CborPtr header = cbor_parse(*protected_bytes, "COSE protected header");
        if (cbor_isa_map(header.get())) {
            cbor_pair* pairs = cbor_map_handle(header.get());
            for (std::size_t i = 0; i < cbor_map_size(header.get()); ++i) {
                if (cbor_int(pairs[i].key) == 1) {
                    if (auto v = cbor_int(pairs[i].value))
                        curve = curve_of_algorithm(*v);
                }
            }
        }
    } catch (const base::Error& e) {
        note(e.what());
        return check;
    }
    EVP_PKEY* public_key = X509_get0_pubkey(cert.get());
    auto cert_curve = public_key ? curve_of(public_key) : std::nullopt;
    if (!curve || !cert_curve || cert_curve->algorithm != curve->algorithm) {
        note("the COSE algorithm does not match the certificate's EC key");
        return check;
    }
    if (raw->size() != 2 * curve->coordinate_size) {
        note("the COSE signature has the wrong length for its algorithm");
        return check;
    }
    check.signature_ok = ecdsa_verify_raw(public_key, curve->digest, curve->coordinate_size, *raw, cose_sig_structure(*protected_bytes, *payload));
    if (!check.signature_ok)
        note("the COSE signature does not verify with the certificate's public key");
    return check;
}

CertificateInfo describe_certificate(const std::string& pem)
{
    X509Ptr cert = parse_certificate(pem);
    CertificateInfo info;
    X509_NAME* issuer = X509_get_issuer_name(cert.get());
    for (int i = 0; i < X509_NAME_entry_count(issuer); ++i) {
        X509_NAME_ENTRY* entry = X509_NAME_get_entry(issuer, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
        const char* short_name = nid != NID_undef ? OBJ_nid2sn(nid) : nullptr;
        char oid[80] = {};
        if (!short_name) {
            OBJ_obj2txt(oid, sizeof oid, X509_NAME_ENTRY_get_object(entry), 1);
            short_name = oid;
        }
        unsigned char* utf8 = nullptr;
        int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
        if (n >= 0) {
            info.issuer_name[short_name] = std::string(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
            OPENSSL_free(utf8);
        }
    }
    int sig_nid = X509_get_signature_nid(cert.get());
    info.algorithm = sig_nid != NID_undef ? OBJ_nid2ln(sig_nid) : "unknown";
    info.not_before = asn1_time_text(X509_get0_notBefore(cert.get()));
    info.not_after = asn1_time_text(X509_get0_notAfter(cert.get()));
    const ASN1_BIT_STRING* sig = nullptr;
    X509_get0_signature(&sig, nullptr, cert.get());
    if (sig) {
        const unsigned char* data = ASN1_STRING_get0_data(sig);
        for (int i = 0; i < ASN1_STRING_length(sig); ++i) {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%02X", data[i]);
            if (i > 0)
                info.signature += ':';
            info.signature += hex;
        }
    }
    ERR_clear_error();
    return info;
}

} // namespace eif
