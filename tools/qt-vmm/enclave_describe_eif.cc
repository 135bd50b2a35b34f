// qt-vmm enclave describe-eif --eif FILE: the nitro-cli describe-eif report of an image
// (version, PCRs, signature, CRC check, metadata). A bad CRC is reported as CheckCRC false.
#include "eif-format/describe.h"
#include "tools/qt-vmm/command.h"

#include <memory>

static qtvmm::CommandRegistration reg("enclave describe-eif", "Show the measurements, signature and metadata of an enclave image file",
    [](CLI::App& cmd, qtvmm::Cli& cli) {
        auto path = std::make_shared<std::string>();
        cmd.add_option("--eif,--eif-path", *path, "Enclave image file (.eif)")->required();
        qtvmm::set_examples(cmd, {
            "qt-vmm enclave describe-eif --eif app.eif",
            "qt-vmm --query Measurements.PCR0 --output tsv enclave describe-eif --eif app.eif",
        });
        cmd.callback([&cli, path] { cli.print(eif::describe_eif(*path)); });
    });
