// qt-vmm enclave stop: ends an enclave (owner or root) or clears the record of an ended one.
#include "base/error.h"
#include "tools/qt-vmm/command.h"
#include "vmm/enclave/control_protocol.h"
#include "vmm/enclave/run_dir.h"

#include <sys/stat.h>
#include <unistd.h>

namespace {

qtvmm::CommandRegistration reg("enclave stop", "Stop an enclave", [](CLI::App& cmd, qtvmm::Cli& cli) {
    auto id = std::make_shared<int>(-1);
    qtvmm::add_enclave_id(cmd, *id, "The enclave to stop")->required();
    qtvmm::set_examples(cmd, { "sudo qt-vmm enclave stop --enclave-id 0   # prints: stop 0 success" });
    cmd.callback([id, &cli] {
        vmm::RunDir dir = vmm::RunDir::open();
        std::string socket = dir.socket_path(*id);
        struct stat st {};
        if (::stat(socket.c_str(), &st) == 0) {
            try {
                vmm::control_request(socket, vmm::Json { { "op", "stop" } }, 30000);
                cli.print_text("stop " + std::to_string(*id) + " success");
                return;
            } catch (const base::Error& e) {
                if (e.code() != "DAEMON_GONE")
                    throw;
                dir.list_enclaves(); // turns the stale socket into a record, cleared below
            }
        }
        if (dir.remove_record(*id)) {
            cli.print_text("stop " + std::to_string(*id) + " success");
            return;
        }
        throw base::Error(base::ErrorKind::NotFound, "ENCLAVE_NOT_FOUND",
            "no enclave with id " + std::to_string(*id) + "; list them with qt-vmm enclave query");
    });
});

} // namespace
