// The host root CA and the enclave leaves it issues (certificates.h): the X.509 properties
// attestation verifiers check (§5.4), read back with OpenSSL.
#include "vmm/nsm/certificates.h"

#include "base/error.h"
#include "eif-format/openssl_ptr.h"

#include <doctest/doctest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

using vmm::nsm::issue_leaf;
using vmm::nsm::KeyAndCert;
using vmm::nsm::make_root_ca;

namespace {

constexpr std::time_t kNow = 1'800'000'000;
constexpr std::time_t kYear = 365 * 24 * 3600;

eif::X509Ptr parse(const std::string& pem)
{
    eif::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    eif::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    REQUIRE(cert);
    return cert;
}

std::string common_name(X509* cert)
{
    char cn[128] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    return cn;
}

std::time_t not_after(X509* cert)
{
    struct tm t {};
    REQUIRE(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &t) == 1);
    return timegm(&t);
}

std::string group_of(X509* cert)
{
    char name[64] = {};
    std::size_t n = 0;
    EVP_PKEY_get_group_name(X509_get0_pubkey(cert), name, sizeof name, &n);
    return std::string(name, n);
}

bool critical(X509* cert, int nid)
{
    int index = X509_get_ext_by_NID(cert, nid, -1);
    return index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1;
}

} // namespace

TEST_CASE("make_root_ca: a self-signed P-384 CA with keyCertSign, critical CA:TRUE and key identifiers")
{
    KeyAndCert root = make_root_ca("qt-vmm root testhost", kNow, kNow + 30 * kYear);
    eif::X509Ptr cert = parse(root.cert_pem);
    CHECK(common_name(cert.get()) == "qt-vmm root testhost");
    CHECK(group_of(cert.get()) == "secp384r1");
    CHECK(X509_verify(cert.get(), X509_get0_pubkey(cert.get())) == 1);
    CHECK(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0);
    CHECK(X509_check_ca(cert.get()) >= 1);
    CHECK(critical(cert.get(), NID_basic_constraints));
    CHECK((X509_get_extension_flags(cert.get()) & EXFLAG_KUSAGE) != 0);
    CHECK(X509_get_key_usage(cert.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    CHECK(X509_get0_subject_key_id(cert.get()) != nullptr);
    CHECK(X509_get0_authority_key_id(cert.get()) != nullptr);
    CHECK(not_after(cert.get()) == kNow + 30 * kYear);
    CHECK(X509_get_signature_nid(cert.get()) == NID_ecdsa_with_SHA384);
    CHECK(root.key_pem.find("-----BEGIN PRIVATE KEY-----") == 0);
}

TEST_CASE("issue_leaf: a fresh P-384 digitalSignature key signed by the root, CA:FALSE, notAfter capped at the root's")
{
    KeyAndCert root = make_root_ca("root", kNow, kNow + 2 * kYear);
    KeyAndCert leaf = issue_leaf(root, "testhost-enc7", kNow - 60, kNow + 5 * kYear);
    eif::X509Ptr root_cert = parse(root.cert_pem);
    eif::X509Ptr cert = parse(leaf.cert_pem);
    CHECK(common_name(cert.get()) == "testhost-enc7");
    CHECK(group_of(cert.get()) == "secp384r1");
    CHECK(X509_verify(cert.get(), X509_get0_pubkey(root_cert.get())) == 1);
    CHECK(X509_check_issued(root_cert.get(), cert.get()) == X509_V_OK);
    CHECK(X509_check_ca(cert.get()) == 0);
    CHECK(critical(cert.get(), NID_basic_constraints));
    CHECK(X509_get_key_usage(cert.get()) == KU_DIGITAL_SIGNATURE);
    CHECK(not_after(cert.get()) == kNow + 2 * kYear);   // capped
    CHECK(leaf.key_pem != root.key_pem);

    KeyAndCert other = issue_leaf(root, "testhost-enc7", kNow - 60, kNow + kYear);
    eif::X509Ptr other_cert = parse(other.cert_pem);
    CHECK(not_after(other_cert.get()) == kNow + kYear);  // not capped when inside the root's life
    CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(cert.get()), X509_get0_serialNumber(other_cert.get())) != 0);
}

TEST_CASE("certificates: bad requests are refused with a named error")
{
    KeyAndCert root = make_root_ca("root", kNow, kNow + kYear);
    auto code_of = [](auto&& call) -> std::string {
        try {
            call();
        } catch (const base::Error& e) {
            return e.code();
        }
        return "no error";
    };
    CHECK(code_of([&] { make_root_ca("", kNow, kNow + kYear); }) == "ATTESTATION_BAD_NAME");
    CHECK(code_of([&] { make_root_ca(std::string(65, 'x'), kNow, kNow + kYear); }) == "ATTESTATION_BAD_NAME");
    CHECK(code_of([&] { make_root_ca("root", kNow, kNow); }) == "ATTESTATION_BAD_VALIDITY");
    KeyAndCert other = make_root_ca("other", kNow, kNow + kYear);
    CHECK(code_of([&] { issue_leaf(KeyAndCert { other.key_pem, root.cert_pem }, "x", kNow, kNow + 10); }) == "ATTESTATION_KEY_MISMATCH");
    CHECK(code_of([&] { issue_leaf(KeyAndCert { "junk", root.cert_pem }, "x", kNow, kNow + 10); }) == "ATTESTATION_BAD_KEY");
    // A leaf that would start after the root ends: the cap makes it end before it starts.
    CHECK(code_of([&] { issue_leaf(root, "late", kNow + 2 * kYear, kNow + 3 * kYear); }) == "ATTESTATION_BAD_VALIDITY");
}
