// qt-vmm enclave stop: ends an enclave (owner or root) or clears the record of an ended one.
#include "base/error.h"
#include "tools/qt-vmm/command.h"
#include "vmm/enclave/run_dir.h"

namespace {

qtvmm::CommandRegistration reg("enclave stop", "Stop an enclave", [](CLI::App& cmd, qtvmm::Cli& cli) {
    auto id = std::make_shared<int>(-1);
    qtvmm::add_enclave_id(cmd, *id, "The enclave to stop")->required();
    qtvmm::set_examples(cmd, { "sudo qt-vmm enclave stop --enclave-id 0   # prints: stop 0 success" });
    cmd.callback([id, &cli] {
        vmm::RunDir dir = vmm::RunDir::open();
        if (dir.stop_enclave(*id)) {
            cli.print_text("stop " + std::to_string(*id) + " success");
            return;
        }
        throw base::Error(base::ErrorKind::NotFound, "ENCLAVE_NOT_FOUND",
            "no enclave with id " + std::to_string(*id) + "; list them with qt-vmm enclave query");
    });
});

} // namespace
