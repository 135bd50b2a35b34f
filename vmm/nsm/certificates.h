// vmm/nsm/certificates.h — the X.509 certificates behind attestation (OpenSSL): the host's root
// CA (P-384, self-signed, critical CA:TRUE, keyCertSign|cRLSign, SKI/AKI) and the per-enclave
// leaf it issues at start (fresh P-384 key, critical CA:FALSE, digitalSignature, random 128-bit
// serial, CN naming host and enclave). Subjects are O=qt-vmm, CN=<common_name>; signatures
// ECDSA-SHA384. Pure crypto: where keys are stored, and the lifetimes, are
// vmm/enclave/attestation_keys.h.
//
// Usage:
//     vmm::nsm::KeyAndCert root = vmm::nsm::make_root_ca("qt-vmm host root myhost", now, now + 30 * kYear);
//     vmm::nsm::KeyAndCert leaf = vmm::nsm::issue_leaf(root, "myhost-enc4", now, now + kYear);
#pragma once

#include "eif-format/openssl_ptr.h"

#include <ctime>
#include <string>

namespace vmm::nsm {

struct KeyAndCert {
    std::string key_pem;    // PKCS#8 private key
    std::string cert_pem;
};

// Throws base::Error: ATTESTATION_BAD_NAME (CN empty or over 64 characters),
// ATTESTATION_BAD_VALIDITY (not_after ≤ not_before, after capping), ATTESTATION_BAD_KEY /
// _BAD_CERT / _KEY_MISMATCH (the issuer's PEMs), ATTESTATION_CERT_FAILED (OpenSSL failed).
KeyAndCert make_root_ca(const std::string& common_name, std::time_t not_before, std::time_t not_after);
// A fresh P-384 key and its certificate signed by `issuer` (its notAfter capped at the issuer's).
KeyAndCert issue_leaf(const KeyAndCert& issuer, const std::string& common_name, std::time_t not_before, std::time_t not_after);
// The same for a key made ahead (new_p384_key(), e.g. on another thread while the caller does
// other work); the key is consumed.
KeyAndCert issue_leaf(const KeyAndCert& issuer, const std::string& common_name, std::time_t not_before, std::time_t not_after,
    eif::PkeyPtr leaf_key);
// A fresh P-384 key; throws ATTESTATION_CERT_FAILED if OpenSSL cannot make one.
eif::PkeyPtr new_p384_key();

// An issuer parsed once (OpenSSL 3 takes ≈ 0.4 ms to decode a PEM key here): for callers that
// issue from it and hand the result on as objects, not PEM text.
struct ParsedKeyAndCert {
    eif::PkeyPtr key;
    eif::X509Ptr cert;
};
// Throws ATTESTATION_BAD_KEY, ATTESTATION_BAD_CERT or ATTESTATION_KEY_MISMATCH.
ParsedKeyAndCert parse_key_and_cert(const KeyAndCert& pems);
// issue_leaf's certificate for `leaf_key` (which the caller keeps), signed by a parsed issuer.
eif::X509Ptr issue_leaf_certificate(const ParsedKeyAndCert& issuer, const std::string& common_name, std::time_t not_before,
    std::time_t not_after, EVP_PKEY* leaf_key);

} // namespace vmm::nsm
