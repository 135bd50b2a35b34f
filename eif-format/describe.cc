#include "eif-format/describe.h"

#include "base/error.h"
#include "eif-format/eif_arch.h"
#include "eif-format/eif_reader.h"
#include "eif-format/signature.h"

namespace eif {

using Json = nlohmann::ordered_json;

Json measurements_json(const Measurements& m)
{
    Json j;
    j["HashAlgorithm"] = kHashAlgorithmName;
    j["PCR0"] = m.pcr0;
    j["PCR1"] = m.pcr1;
    j["PCR2"] = m.pcr2;
    if (m.pcr8)
        j["PCR8"] = *m.pcr8;
    return j;
}

namespace {

Json read_metadata(const EifReader& reader)
{
    std::string text = reader.read_small_section(*reader.metadata_index(), kMaxMetadataSection);
    Json md = Json::parse(text, nullptr, false);
    if (md.is_discarded() || !md.is_object())
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_METADATA",
            "eif: " + reader.name() + ": the metadata section at offset " + hex_offset(reader.section(*reader.metadata_index()).header_offset)
                + " is not a JSON object");
    return md;
}

// BuildMetadata keys, then DockerInfo, then CustomMetadata's keys flattened (like serde flatten).
Json flatten_metadata(const Json& md)
{
    Json out = Json::object();
    if (auto it = md.find("BuildMetadata"); it != md.end() && it->is_object()) {
        for (const auto& [key, value] : it->items())
            out[key] = value;
    }
    if (auto it = md.find("DockerInfo"); it != md.end())
        out["DockerInfo"] = *it;
    if (auto it = md.find("CustomMetadata"); it != md.end() && !it->is_null()) {
        if (it->is_object()) {
            for (const auto& [key, value] : it->items())
                out[key] = value;
        } else {
            out["CustomMetadata"] = *it;
        }
    }
    return out;
}

} // namespace

Json describe_eif(const std::string& path)
{
    ReadOptions options;
    options.verify_crc = false;
    options.allow_old_versions = true;
    EifReader reader = EifReader::open(path, options);
    ScanResult scan = reader.scan();

    std::optional<ParsedSignature> signature;
    if (auto index = reader.signature_index())
        signature = parse_signature_section(reader.read_small_section(*index, kMaxSignatureSize));
    Measurements m = scan.measurements;
    if (signature)
        m.pcr8 = to_hex(pcr_of_certificate_pem(signature->certificate_pem));

    Json j;
    j["EifVersion"] = reader.header().version;
    j["Arch"] = arch_name(arch_of_flags(reader.header().flags));
    j["Measurements"] = measurements_json(m);
    j["IsSigned"] = signature.has_value();
    if (signature) {
        CertificateInfo info = describe_certificate(signature->certificate_pem);
        j["SigningCertificate"] = Json {
            { "IssuerName", info.issuer_name },
            { "Algorithm", info.algorithm },
            { "NotBefore", info.not_before },
            { "NotAfter", info.not_after },
            { "Signature", info.signature },
        };
    }
    j["CheckCRC"] = scan.crc_ok;
    if (signature) {
        SignatureCheck check = verify_signature(*signature, scan.pcr0);
        j["SignatureCheck"] = check.signature_ok && check.payload_matches;
    }
    if (reader.metadata_index()) {
        Json md = read_metadata(reader);
        j["ImageName"] = md.value("ImageName", Json());
        j["ImageVersion"] = md.value("ImageVersion", Json());
        j["Metadata"] = flatten_metadata(md);
    }
    return j;
}

} // namespace eif
