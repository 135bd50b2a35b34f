// qt-vmm attestation verify --doc FILE [--root-cert PEM] [--pcr N=HEX]... [--nonce HEX] [--at UNIX]:
// checks an NSM attestation document (vmm/nsm/attestation_document.h) against a root (default:
// this host's) and prints its payload (byte strings as hex); any failure exits non-zero with the
// reason's code (ATTESTATION_BAD_SIGNATURE, _BAD_CHAIN, _EXPIRED, _PCR_MISMATCH, ...).
#include "base/error.h"
#include "base/file.h"
#include "base/hex.h"
#include "tools/qt-vmm/command.h"
#include "vmm/enclave/attestation_keys.h"
#include "vmm/nsm/attestation_document.h"

#include <iostream>
#include <iterator>
#include <memory>

namespace {

struct VerifyArgs {
    std::string doc;
    std::string root_cert;
    std::vector<std::string> pcrs;
    std::string nonce;
    std::uint64_t at { 0 };
};

constexpr std::size_t kMaxDocumentFile = 64 * 1024;   // documents are ≤ 12 KiB; verify names the limit
constexpr std::size_t kMaxPemFile = 64 * 1024;

std::string read_document(const std::string& path)
{
    if (path != "-")
        return base::read_file(path, kMaxDocumentFile);
    std::string bytes;
    char buffer[4096];
    while (std::cin.read(buffer, sizeof buffer) || std::cin.gcount() > 0) {
        bytes.append(buffer, static_cast<std::size_t>(std::cin.gcount()));
        if (bytes.size() > kMaxDocumentFile)
            throw base::Error(base::ErrorKind::InvalidInput, "ATTESTATION_MALFORMED",
                "standard input holds more than " + std::to_string(kMaxDocumentFile) + " bytes; an attestation document is at most 12 KiB");
    }
    return bytes;
}

// "N=HEX": N a PCR index 0..31, HEX 32, 48 or 64 bytes.
std::pair<unsigned, std::string> parse_pcr(const std::string& spec)
{
    auto bad = [&](const std::string& why) {
        return base::Error(base::ErrorKind::Usage, "BAD_PCR_OPTION",
            "--pcr " + spec + ": " + why + "; write N=HEX, e.g. --pcr 0=$(qt-vmm enclave describe-eif --eif-path x.eif --output tsv --query Measurements.PCR0)");
    };
    auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
        throw bad("no '='");
    unsigned index = 0;
    for (char c : spec.substr(0, eq)) {
        if (c < '0' || c > '9' || index > 31)
            throw bad("the index is not a number from 0 to 31");
        index = index * 10 + static_cast<unsigned>(c - '0');
    }
    if (index > 31)
        throw bad("the index is not a number from 0 to 31");
    std::string hex = spec.substr(eq + 1);
    auto bytes = base::from_hex(hex);
    if (!bytes || (bytes->size() != 32 && bytes->size() != 48 && bytes->size() != 64))
        throw bad("the value is not 64, 96 or 128 hex digits");
    return { index, base::to_hex(*bytes) };
}

} // namespace

static qtvmm::CommandRegistration reg("attestation verify", "Verify an NSM attestation document and print its payload",
    [](CLI::App& cmd, qtvmm::Cli& cli) {
        auto args = std::make_shared<VerifyArgs>();
        cmd.add_option("--doc", args->doc, "The document (COSE_Sign1 bytes, as /dev/nsm returns it); - reads standard input")->required();
        cmd.add_option("--root-cert", args->root_cert, "PEM root certificate to trust (default: this host's, qt-vmm attestation root-cert)");
        cmd.add_option("--pcr", args->pcrs, "N=HEX: PCR N must have this value (repeatable)");
        auto* nonce = cmd.add_option("--nonce", args->nonce, "HEX: the document's nonce must be exactly these bytes");
        auto* at = cmd.add_option("--at", args->at, "Check certificate validity at this Unix time (default: now)")
                       ->check(qtvmm::whole_number(0, 253402300799));   // up to 9999-12-31
        qtvmm::set_examples(cmd, {
            "qt-vmm attestation verify --doc doc.cbor",
            "qt-vmm attestation verify --doc doc.cbor --root-cert host-root.pem --pcr 0=<PCR0 hex> --nonce 0badc0de",
            "qt-vmm attestation verify --doc doc.cbor --query pcrs.\"0\"",
        });
        cmd.callback([&cli, args, nonce, at] {
            vmm::nsm::VerifyOptions options;
            for (const auto& spec : args->pcrs) {
                auto [index, hex] = parse_pcr(spec);
                options.expected_pcrs[index] = hex;
            }
            if (nonce->count() > 0) {
                auto bytes = base::from_hex(args->nonce);
                if (!bytes)
                    throw base::Error(base::ErrorKind::Usage, "BAD_NONCE_OPTION", "--nonce " + args->nonce + ": not hex; pass the nonce's bytes as hex digits");
                options.expected_nonce = std::string(bytes->begin(), bytes->end());
            }
            std::string document = read_document(args->doc);
            options.root_cert_pem = args->root_cert.empty() ? vmm::host_root_certificate_pem() : base::read_file(args->root_cert, kMaxPemFile);
            if (at->count() > 0)
                options.at = static_cast<std::time_t>(args->at);
            vmm::nsm::VerifiedDocument verified = vmm::nsm::verify_document(document, options);
            cli.print(qtvmm::Json::parse(verified.payload.dump()));
        });
    });
