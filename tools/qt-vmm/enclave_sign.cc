// qt-vmm enclave sign --eif FILE --private-key KEY --signing-certificate CERT: adds or replaces
// the signature section of an image in place (atomically) and prints its measurements with PCR8.
#include "eif-format/describe.h"
#include "eif-format/eif_sign.h"
#include "tools/qt-vmm/command.h"

#include <memory>

static qtvmm::CommandRegistration reg("enclave sign", "Sign an enclave image file (adds or replaces its signature, sets PCR8)",
    [](CLI::App& cmd, qtvmm::Cli& cli) {
        auto path = std::make_shared<std::string>();
        auto signing = std::make_shared<eif::SigningInput>();
        cmd.add_option("--eif,--eif-path", *path, "Enclave image file to sign in place")->required();
        cmd.add_option("--private-key", signing->private_key_path, "EC private key (PEM; P-256, P-384 or P-521)")->required();
        cmd.add_option("--signing-certificate", signing->certificate_path, "Certificate of that key (PEM)")->required();
        qtvmm::set_examples(cmd, {
            "qt-vmm enclave sign --eif app.eif --private-key key.pem --signing-certificate cert.pem",
        });
        cmd.callback([&cli, path, signing] {
            eif::Measurements m = eif::sign_eif(*path, *signing);
            cli.info("Enclave Image successfully signed.");
            cli.print(qtvmm::Json { { "Measurements", eif::measurements_json(m) } });
        });
    });
