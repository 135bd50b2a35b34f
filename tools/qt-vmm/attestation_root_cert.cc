// qt-vmm attestation root-cert: prints this host's attestation root certificate (PEM), the trust
// anchor for documents its enclaves get from /dev/nsm. As root it makes the root on first use;
// any other user reads the public copy (vmm/enclave/attestation_keys.h).
#include "tools/qt-vmm/command.h"
#include "vmm/enclave/attestation_keys.h"

#include <iostream>

static qtvmm::CommandRegistration reg("attestation root-cert", "Print this host's attestation root certificate (PEM)",
    [](CLI::App& cmd, qtvmm::Cli&) {
        qtvmm::set_examples(cmd, {
            "qt-vmm attestation root-cert > host-root.pem",
            "qt-vmm attestation verify --doc doc.cbor --root-cert host-root.pem   # on another machine",
        });
        cmd.callback([] { std::cout << vmm::host_root_certificate_pem() << std::flush; });
    });
