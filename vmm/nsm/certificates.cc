// vmm/nsm/certificates.cc — see certificates.h.
#include "vmm/nsm/certificates.h"

#include "base/error.h"
#include "eif-format/openssl_ptr.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

namespace vmm::nsm {

namespace {

[[noreturn]] void crypto_error(const std::string& what)
{
    ERR_clear_error();
    throw base::Error(base::ErrorKind::Crypto, "ATTESTATION_CERT_FAILED", "could not " + what + " (OpenSSL failed)");
}

std::string pem_of_key(EVP_PKEY* key)
{
    eif::BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        crypto_error("write a private key as PEM");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    std::string pem(data, static_cast<std::size_t>(n));
    return pem;
}

std::string pem_of_cert(X509* cert)
{
    eif::BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
        crypto_error("write a certificate as PEM");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

eif::PkeyPtr parse_key(const std::string& pem)
{
    eif::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    eif::PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!key) {
        ERR_clear_error();
        throw base::Error(base::ErrorKind::Crypto, "ATTESTATION_BAD_KEY", "the issuer's private key is not an unencrypted PEM key");
    }
    return key;
}

eif::X509Ptr parse_cert(const std::string& pem)
{
    eif::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    eif::X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!cert) {
        ERR_clear_error();
        throw base::Error(base::ErrorKind::Crypto, "ATTESTATION_BAD_CERT", "the issuer's certificate is not a PEM X.509 certificate");
    }
    return cert;
}

// A random positive 128-bit serial number (RFC 5280: at most 20 octets, positive).
void set_random_serial(X509* cert)
{
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        crypto_error("draw a random serial number");
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // never zero, never a leading zero octet dropped to fewer bytes
    BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
    BN_free(bn);
    if (!ok)
        crypto_error("set a serial number");
}

void set_name(X509_NAME* name, const std::string& common_name)
{
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("qt-vmm"), -1, -1, 0) != 1
        || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) != 1)
        throw base::Error(base::ErrorKind::InvalidInput, "ATTESTATION_BAD_NAME",
            "\"" + common_name + "\" cannot be a certificate common name; use 1 to 64 printable characters");
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value)
{
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
    bool ok = ext && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    if (!ok)
        crypto_error(std::string("add the extension ") + OBJ_nid2sn(nid) + "=" + value);
}

// A certificate for `key` named `common_name`, valid [not_before, not_after], signed by
// `issuer_key` as `issuer` (null: self-signed), with the extensions of a CA or of a leaf.
eif::X509Ptr make_certificate(EVP_PKEY* key, const std::string& common_name, std::time_t not_before, std::time_t not_after,
    EVP_PKEY* issuer_key, X509* issuer, bool is_ca)
{
    if (common_name.empty() || common_name.size() > 64)
        throw base::Error(base::ErrorKind::InvalidInput, "ATTESTATION_BAD_NAME",
            "a certificate common name must have 1 to 64 characters (got " + std::to_string(common_name.size()) + ")");
    if (not_after <= not_before)
        throw base::Error(base::ErrorKind::InvalidInput, "ATTESTATION_BAD_VALIDITY",
            "the certificate for " + common_name + " would end before it starts (notAfter ≤ notBefore); give a later end");
    eif::X509Ptr cert(X509_new());
    if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1)
        crypto_error("create a certificate");
    set_random_serial(cert.get());
    set_name(X509_get_subject_name(cert.get()), common_name);
    if (X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(cert.get())) != 1
        || !ASN1_TIME_set(X509_getm_notBefore(cert.get()), not_before) || !ASN1_TIME_set(X509_getm_notAfter(cert.get()), not_after)
        || X509_set_pubkey(cert.get(), key) != 1)
        crypto_error("fill in a certificate");
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    if (is_ca) {
        add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
    }
    add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
    if (X509_sign(cert.get(), issuer_key, EVP_sha384()) <= 0)
        crypto_error("sign the certificate for " + common_name);
    return cert;
}

} // namespace

KeyAndCert make_root_ca(const std::string& common_name, std::time_t not_before, std::time_t not_after)
{
    eif::PkeyPtr key = new_p384_key();
    eif::X509Ptr cert = make_certificate(key.get(), common_name, not_before, not_after, key.get(), nullptr, true);
    return KeyAndCert { pem_of_key(key.get()), pem_of_cert(cert.get()) };
}

eif::PkeyPtr new_p384_key()
{
    eif::PkeyPtr key(EVP_EC_gen("P-384"));
    if (!key)
        crypto_error("generate a P-384 key");
    return key;
}

KeyAndCert issue_leaf(const KeyAndCert& issuer, const std::string& common_name, std::time_t not_before, std::time_t not_after)
{
    return issue_leaf(issuer, common_name, not_before, not_after, new_p384_key());
}

KeyAndCert issue_leaf(const KeyAndCert& issuer, const std::string& common_name, std::time_t not_before, std::time_t not_after,
    eif::PkeyPtr key)
{
    eif::X509Ptr cert = issue_leaf_certificate(parse_key_and_cert(issuer), common_name, not_before, not_after, key.get());
    return KeyAndCert { pem_of_key(key.get()), pem_of_cert(cert.get()) };
}

ParsedKeyAndCert parse_key_and_cert(const KeyAndCert& pems)
{
    ParsedKeyAndCert parsed { parse_key(pems.key_pem), parse_cert(pems.cert_pem) };
    if (X509_check_private_key(parsed.cert.get(), parsed.key.get()) != 1) {
        ERR_clear_error();
        throw base::Error(base::ErrorKind::Crypto, "ATTESTATION_KEY_MISMATCH", "the issuer's private key does not belong to its certificate");
    }
    return parsed;
}

eif::X509Ptr issue_leaf_certificate(const ParsedKeyAndCert& issuer, const std::string& common_name, std::time_t not_before,
    std::time_t not_after, EVP_PKEY* leaf_key)
{
    // Never outlive the issuer: a chain check would reject the leaf after the issuer expires.
    std::time_t issuer_end = 0;
    struct tm end_tm {};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(issuer.cert.get()), &end_tm) == 1)
        issuer_end = timegm(&end_tm);
    if (issuer_end > 0 && not_after > issuer_end)
        not_after = issuer_end;
    return make_certificate(leaf_key, common_name, not_before, not_after, issuer.key.get(), issuer.cert.get(), false);
}

} // namespace vmm::nsm
