// qt-vmm enclave query: every enclave on this parent (or one), as a JSON array.
#include "tools/qt-vmm/command.h"
#include "vmm/enclave/run_dir.h"

namespace {

qtvmm::CommandRegistration reg("enclave query", "Show enclaves (all, or one with --enclave-id)", [](CLI::App& cmd, qtvmm::Cli& cli) {
    auto id = std::make_shared<int>(-1);
    qtvmm::add_enclave_id(cmd, *id, "Only this enclave");
    qtvmm::set_examples(cmd, {
        "qt-vmm enclave query",
        "qt-vmm enclave query --enclave-id 0",
        "qt-vmm --output table enclave query",
        "qt-vmm --query '[].{id: EnclaveID, cid: EnclaveCID, state: State}' --output tsv enclave query",
    });
    cmd.callback([id, &cli] {
        vmm::RunDir dir = vmm::RunDir::open();
        qtvmm::Json result = qtvmm::Json::array();
        for (const vmm::Json& e : dir.list_enclaves()) {
            if (*id < 0 || e.value("EnclaveID", -1) == *id)
                result.push_back(e);
        }
        cli.print(result);
    });
});

} // namespace
