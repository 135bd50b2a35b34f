// vmm/nsm/attestation_document.h — NSM attestation documents (nitro-enclaves.md §5.4): building
// and signing them (the module, in the enclave daemon) and checking them (`qt-vmm attestation
// verify`). A document is an untagged COSE_Sign1 [protected {1: -35}, {}, payload, signature]
// signed with ES384 (ECDSA P-384, SHA-384, 96-byte r‖s) over ["Signature1", protected, h'',
// payload]; the payload is Nitro's map in Nitro's key order (module_id, digest, timestamp, pcrs,
// certificate, cabundle, public_key, user_data, nonce), cabundle root first.
//
// Usage (signing; the leaf key never leaves the daemon's memory):
//     auto signer = vmm::nsm::DocumentSigner::create(leaf_key_pem, leaf_cert_pem, { root_cert_pem });
//     std::string cose = signer.sign(fields);
// Usage (checking; throws base::Error whose code names the reason):
//     vmm::nsm::VerifyOptions o;  o.root_cert_pem = root;  o.expected_pcrs[0] = "ab12…";  o.at = t;
//     vmm::nsm::VerifiedDocument d = vmm::nsm::verify_document(cose, o);   // d.payload: JSON
#pragma once

#include "eif-format/openssl_ptr.h"
#include "vmm/nsm/nsm_types.h"

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace vmm::nsm {

class DocumentSigner {
public:
    // Leaf private key and certificate (PEM), and the chain above the leaf, root first (PEM).
    // Throws base::Error (Crypto): ATTESTATION_BAD_KEY (not a PEM key, or not P-384),
    // ATTESTATION_BAD_CERT (a certificate does not parse), ATTESTATION_KEY_MISMATCH (the key is
    // not the leaf's), ATTESTATION_BAD_CHAIN (no chain).
    static DocumentSigner create(const std::string& leaf_key_pem, const std::string& leaf_cert_pem,
        const std::vector<std::string>& chain_pems);
    // The same from parsed objects (no PEM decoding: ≈ 0.6 ms less here); the key is consumed,
    // the certificates are copied (as DER).
    static DocumentSigner create(eif::PkeyPtr leaf_key, X509* leaf_cert, const std::vector<X509*>& chain);
    ~DocumentSigner();
    DocumentSigner(DocumentSigner&&) noexcept;
    DocumentSigner& operator=(DocumentSigner&&) noexcept;

    // The COSE_Sign1 bytes of a document carrying `fields` (optional fields absent = CBOR null).
    // Thread-safe. Throws base::Error (InvalidInput) ATTESTATION_FIELD_TOO_LARGE (public_key,
    // user_data or nonce over kMaxUserFieldSize) or ATTESTATION_BAD_PCRS (none, or index ≥ 32).
    std::string sign(const DocumentFields& fields) const;

private:
    DocumentSigner();
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

struct VerifyOptions {
    std::string root_cert_pem;                          // the trust anchor (required)
    std::map<unsigned, std::string> expected_pcrs;      // index → lower-case hex (48 bytes)
    std::optional<std::string> expected_nonce;          // raw bytes
    std::optional<std::time_t> at;                      // verification time; default now
};

struct VerifiedDocument {
    nlohmann::json payload;   // every payload field; byte strings as lower-case hex, pcrs as {"0": hex, ...}
};

// Checks, in this order: structure (≤ kMaxResponseSize bytes; tag 18 optional; {1: -35}; a
// 96-byte signature; every mandatory payload field and its type; 1..32 PCRs, index < 32, 32/48/64
// bytes; optional fields bytes or null, ≤ kMaxUserFieldSize; no key twice), the signature with
// the leaf key, the chain (cabundle[0] byte-equal to the given root; each certificate signed by
// the one before; CAs with CA:TRUE and keyCertSign, the leaf with digitalSignature; each valid
// at `at`; then OpenSSL's path validation), PCRs and nonce. Throws base::Error with code
// ATTESTATION_MALFORMED (InvalidInput), ATTESTATION_BAD_SIGNATURE, ATTESTATION_BAD_CHAIN,
// ATTESTATION_EXPIRED (also "not valid yet"), ATTESTATION_PCR_MISMATCH,
// ATTESTATION_NONCE_MISMATCH or ATTESTATION_BAD_CERT (the given root) (Crypto), one-line reason.
VerifiedDocument verify_document(std::string_view cose, const VerifyOptions& options);

} // namespace vmm::nsm
