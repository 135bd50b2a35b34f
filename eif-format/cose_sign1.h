// eif-format/cose_sign1.h — the COSE_Sign1 pieces (RFC 9052) shared by EIF signatures
// (eif-format/signature.h) and NSM attestation documents (vmm/nsm/attestation_document.h):
// the protected header {1: alg}, the Sig_structure ["Signature1", protected, h'', payload], the
// untagged [protected, {}, payload, signature] array, and ECDSA with the fixed-size r‖s
// signature encoding COSE uses (not DER).
//
// Usage:
//     std::string prot = eif::cose_protected_header(-35);                      // a1 01 38 22
//     std::string sig = eif::ecdsa_sign_raw(key, "SHA384", 48, eif::cose_sig_structure(prot, payload));
//     std::string cose = eif::cose_sign1_encode(prot, payload, sig);
//     bool ok = eif::ecdsa_verify_raw(pub, "SHA384", 48, sig, eif::cose_sig_structure(prot, payload));
#pragma once

#include <cstddef>
#include <openssl/types.h>
#include <string>
#include <string_view>

namespace eif {

// CBOR {1: algorithm} (algorithm a COSE identifier, e.g. -35 for ES384).
std::string cose_protected_header(int algorithm);
// CBOR ["Signature1", protected, h'', payload]: the bytes a COSE_Sign1 signature covers.
std::string cose_sig_structure(std::string_view protected_bytes, std::string_view payload);
// CBOR [bstr protected, {}, bstr payload, bstr signature] (untagged).
std::string cose_sign1_encode(std::string_view protected_bytes, std::string_view payload, std::string_view signature);

// ECDSA over `message` hashed with `digest` ("SHA384"); returns r‖s, each coordinate_size bytes
// (48 for P-384). Throws base::Error (Crypto, SIGN_FAILED) if OpenSSL fails.
std::string ecdsa_sign_raw(EVP_PKEY* key, const char* digest, std::size_t coordinate_size, std::string_view message);
// True iff `raw` (r‖s, 2 × coordinate_size bytes) is a valid signature of `message` by `key`.
// Never throws on a bad signature; throws base::Error (Crypto) only if OpenSSL cannot allocate.
bool ecdsa_verify_raw(EVP_PKEY* key, const char* digest, std::size_t coordinate_size, std::string_view raw, std::string_view message);

} // namespace eif
