// eif-format/signature.h — the EIF signature section (type 4) in the AWS layout, and PCR8.
//
// Section = CBOR array of maps {"signing_certificate": [uint…] (PEM bytes),
// "signature": [uint…] (untagged COSE_Sign1 bytes)}. COSE_Sign1 = [bstr {1: alg}, {},
// bstr CBOR {"register_index": 0, "register_value": [48 uint]}, bstr r‖s], signed with ECDSA
// ES256/ES384/ES512 chosen by the key's curve (P-256/P-384/P-521) over the Sig_structure
// ["Signature1", protected, h'', payload]. The signed value is PCR0.
//
// Usage:
//     eif::Signer signer = eif::Signer::load({ "key.pem", "cert.pem" });   // checks everything
//     std::string section = signer.signature_section(pcr0);
//     std::string pcr8 = eif::to_hex(signer.pcr8());
//
//     eif::ParsedSignature sig = eif::parse_signature_section(section_bytes);
//     eif::SignatureCheck check = eif::verify_signature(sig, pcr0, std::time(nullptr));
//     eif::CertificateInfo info = eif::describe_certificate(sig.certificate_pem);
#pragma once

#include "eif-format/pcr.h"

#include <cstdint>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eif {

struct SigningInput {
    std::string private_key_path;
    std::string certificate_path;
};

// COSE algorithm identifiers used by EIF signatures.
enum class CoseAlgorithm : int { ES256 = -7, ES384 = -35, ES512 = -36 };

// A loaded, checked signing key + certificate.
class Signer {
public:
    // Throws base::Error (Crypto) if a file is unreadable or not PEM, the key is not an EC
    // P-256/P-384/P-521 key, the key does not match the certificate, or the certificate is not
    // valid at `now` (seconds since the epoch; default: the current time).
    static Signer load(const SigningInput& input, std::optional<std::int64_t> now = std::nullopt);
    ~Signer();
    Signer(Signer&&) noexcept;
    Signer& operator=(Signer&&) noexcept;

    // The complete signature section bytes for an image whose PCR0 is pcr0.
    std::string signature_section(const Digest& pcr0) const;
    Digest pcr8() const;
    CoseAlgorithm algorithm() const;
    const std::string& certificate_pem() const;

private:
    Signer();
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// Contents of a signature section (first entry; the only one AWS uses or verifies).
struct ParsedSignature {
    std::string certificate_pem;
    std::vector<std::uint8_t> cose_sign1;  // untagged COSE_Sign1 bytes
    std::size_t entry_count { 0 };
};
// Throws base::Error (InvalidInput, naming what is wrong) on a malformed section.
ParsedSignature parse_signature_section(std::string_view bytes);

struct SignatureCheck {
    bool signature_ok { false };     // COSE signature verifies with the certificate's key
    bool payload_matches { false };  // payload = {"register_index": 0, "register_value": PCR0}
    bool certificate_valid { false };// notBefore ≤ at ≤ notAfter (true when at is not given)
    std::string problem;             // first failure, empty when all ok
    bool ok() const { return signature_ok && payload_matches && certificate_valid; }
};
// Never throws on bad signatures (reports them); throws only on an unparsable certificate.
SignatureCheck verify_signature(const ParsedSignature& signature, const Digest& pcr0,
    std::optional<std::int64_t> at = std::nullopt);

// describe-eif's SigningCertificate object.
struct CertificateInfo {
    nlohmann::ordered_json issuer_name = nlohmann::ordered_json::object(); // short name → value
    std::string algorithm;  // e.g. "ecdsa-with-SHA384"
    std::string not_before; // e.g. "Jan 2 03:04:05 2024 GMT"
    std::string not_after;
    std::string signature;  // "3A:4B:…"
};
CertificateInfo describe_certificate(const std::string& pem);


} // namespace eif
