// qt-vmm enclave pcr --input FILE | --signing-certificate PEM: the PCR value a file or a signing
// certificate produces, H(48 zero bytes ‖ H(bytes)) — {"PCR": hex} or {"PCR8": hex}.
#include "base/file.h"
#include "eif-format/pcr.h"
#include "tools/qt-vmm/command.h"

#include <memory>

namespace {

struct PcrOptions {
    std::string input;
    std::string certificate;
};

constexpr std::size_t kMaxCertificateFile = 64 * 1024;

} // namespace

static qtvmm::CommandRegistration reg("enclave pcr", "Compute the PCR of a file or of a signing certificate (PCR8)",
    [](CLI::App& cmd, qtvmm::Cli& cli) {
        auto opts = std::make_shared<PcrOptions>();
        auto* input = cmd.add_option("--input", opts->input, "File whose PCR to compute");
        auto* cert = cmd.add_option("--signing-certificate", opts->certificate, "PEM certificate whose PCR8 to compute");
        input->excludes(cert);
        cmd.require_option(1);
        qtvmm::set_examples(cmd, {
            "qt-vmm enclave pcr --input app.bin",
            "qt-vmm enclave pcr --signing-certificate cert.pem   # the PCR8 an image signed with it gets",
        });
        cmd.callback([&cli, opts] {
            if (!opts->input.empty()) {
                cli.print(qtvmm::Json { { "PCR", eif::to_hex(eif::pcr_of_file(opts->input)) } });
                return;
            }
            std::string pem = base::read_file(opts->certificate, kMaxCertificateFile);
            cli.print(qtvmm::Json { { "PCR8", eif::to_hex(eif::pcr_of_certificate_pem(pem)) } });
        });
    });
