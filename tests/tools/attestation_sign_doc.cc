// tests/tools/attestation_sign_doc: makes attestation documents for the integration tests
// (tests/integration/attestation_cli.sh) with the same DocumentSigner the enclave daemon uses —
// a test helper, never part of qt-vmm. It issues a fresh leaf from the given root, as a start does.
//
// Usage:
//     attestation_sign_doc make-root KEY_OUT CERT_OUT [CN]
//     attestation_sign_doc sign --root-key K --root-cert C --out DOC [--module-id ID] [--start UNIX]
//         [--pcr N=HEX]... [--nonce HEX] [--user-data HEX] [--public-key HEX] [--cabundle-root PEM]
// --cabundle-root puts another root in the cabundle than the one that issued the leaf (a forged
// chain, which verifiers must reject).
#include "base/error.h"
#include "base/file.h"
#include "base/hex.h"
#include "vmm/nsm/attestation_document.h"
#include "vmm/nsm/certificates.h"

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>

namespace {

[[noreturn]] void usage(const std::string& why)
{
    std::cerr << "attestation_sign_doc: " << why << "\n"
              << "usage: attestation_sign_doc make-root KEY_OUT CERT_OUT [CN]\n"
              << "       attestation_sign_doc sign --root-key K --root-cert C --out DOC [--module-id ID] [--start UNIX]\n"
              << "           [--pcr N=HEX]... [--nonce HEX] [--user-data HEX] [--public-key HEX] [--cabundle-root PEM]\n";
    std::exit(2);
}

std::string bytes_of_hex(const std::string& hex, const char* what)
{
    auto bytes = base::from_hex(hex);
    if (!bytes)
        usage(std::string(what) + " is not hex");
    return std::string(bytes->begin(), bytes->end());
}

void write_file(const std::string& path, const std::string& bytes, unsigned mode)
{
    base::AtomicFile out(path, mode);
    out.write(bytes);
    out.commit();
}

int make_root(int argc, char** argv)
{
    if (argc < 4)
        usage("make-root needs KEY_OUT and CERT_OUT");
    std::time_t now = std::time(nullptr);
    auto root = vmm::nsm::make_root_ca(argc > 4 ? argv[4] : "foreign test root", now - 3600, now + 10L * 365 * 24 * 3600);
    write_file(argv[2], root.key_pem, 0600);
    write_file(argv[3], root.cert_pem, 0644);
    return 0;
}

int sign(int argc, char** argv)
{
    std::string root_key, root_cert, cabundle_root, out, module_id = "test-enc0";
    std::time_t start = std::time(nullptr);
    vmm::nsm::DocumentFields fields;
    for (unsigned i = 0; i < 16; ++i)
        fields.pcrs[i] = eif::Digest {};
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        if (i + 1 >= argc)
            usage(arg + " needs a value");
        std::string value = argv[++i];
        if (arg == "--root-key")
            root_key = base::read_file(value, 64 * 1024);
        else if (arg == "--root-cert")
            root_cert = base::read_file(value, 64 * 1024);
        else if (arg == "--cabundle-root")
            cabundle_root = base::read_file(value, 64 * 1024);
        else if (arg == "--out")
            out = value;
        else if (arg == "--module-id")
            module_id = value;
        else if (arg == "--start")
            start = static_cast<std::time_t>(std::strtoll(value.c_str(), nullptr, 10));
        else if (arg == "--nonce")
            fields.nonce = bytes_of_hex(value, "--nonce");
        else if (arg == "--user-data")
            fields.user_data = bytes_of_hex(value, "--user-data");
        else if (arg == "--public-key")
            fields.public_key = bytes_of_hex(value, "--public-key");
        else if (arg == "--pcr") {
            auto eq = value.find('=');
            std::string digest = eq == std::string::npos ? "" : bytes_of_hex(value.substr(eq + 1), "--pcr");
            if (digest.size() != eif::kDigestSize)
                usage("--pcr wants N=<96 hex digits>");
            std::memcpy(fields.pcrs[static_cast<unsigned>(std::stoul(value.substr(0, eq)))].data(), digest.data(), digest.size());
        } else
            usage("unknown option " + arg);
    }
    if (root_key.empty() || root_cert.empty() || out.empty())
        usage("sign needs --root-key, --root-cert and --out");
    auto leaf = vmm::nsm::issue_leaf(vmm::nsm::KeyAndCert { root_key, root_cert }, module_id, start - 60, start + 365L * 24 * 3600);
    auto signer = vmm::nsm::DocumentSigner::create(leaf.key_pem, leaf.cert_pem, { cabundle_root.empty() ? root_cert : cabundle_root });
    fields.module_id = module_id;
    fields.timestamp_ms = static_cast<std::uint64_t>(start) * 1000;
    write_file(out, signer.sign(fields), 0644);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        if (argc >= 2 && std::strcmp(argv[1], "make-root") == 0)
            return make_root(argc, argv);
        if (argc >= 2 && std::strcmp(argv[1], "sign") == 0)
            return sign(argc, argv);
        usage("the first word must be make-root or sign");
    } catch (const base::Error& e) {
        std::cerr << "attestation_sign_doc: error [" << e.code() << "]: " << e.what() << "\n";
        return 1;
    }
}
