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
    // Throws base::Error (Crypto) if a PEM does not parse, the key is not P-384 or does not
    // match the certificate.
    static DocumentSigner create(const std::string& leaf_key_pem, const std::string& leaf_cert_pem,
        const std::vector<std::string>& chain_pems);
    ~DocumentSigner();
    DocumentSigner(DocumentSigner&&) noexcept;
    DocumentSigner& operator=(DocumentSigner&&) noexcept;

    // The COSE_Sign1 bytes of a document carrying `fields`. Thread-safe.
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

// Checks structure, signature, chain (cabundle root must equal the given root; each certificate
// signed by the one before, valid at `at`, CA flags as §5.4), PCRs and nonce. Throws base::Error
// with code ATTESTATION_MALFORMED, ATTESTATION_BAD_SIGNATURE, ATTESTATION_BAD_CHAIN,
// ATTESTATION_EXPIRED, ATTESTATION_PCR_MISMATCH or ATTESTATION_NONCE_MISMATCH and a one-line reason.
VerifiedDocument verify_document(std::string_view cose, const VerifyOptions& options);

} // namespace vmm::nsm
