// qt-vmm enclave console: replays a debug-mode enclave's console, then follows it until Ctrl-C
// or the enclave ends. Read-only: nothing typed here reaches the enclave. The guest's bytes are
// made safe for a terminal (terminal_text.h) unless --raw asks for them as they are.
#include "base/error.h"
#include "tools/qt-vmm/command.h"
#include "tools/qt-vmm/terminal_text.h"
#include "vmm/enclave/control_protocol.h"
#include "vmm/enclave/run_dir.h"

#include <sys/socket.h>
#include <unistd.h>

namespace {

qtvmm::CommandRegistration reg("enclave console", "Show a debug-mode enclave's console (read-only)", [](CLI::App& cmd, qtvmm::Cli& cli) {
    auto id = std::make_shared<int>(-1);
    auto no_follow = std::make_shared<bool>(false);
    auto raw = std::make_shared<bool>(false);
    qtvmm::add_enclave_id(cmd, *id, "The enclave")->required();
    qtvmm::set_examples(cmd, {
        "qt-vmm enclave console --enclave-id 0              # replay, then follow until Ctrl-C or the end",
        "qt-vmm enclave console --enclave-id 0 --no-follow  # what the console holds now",
        "qt-vmm enclave console --enclave-id 0 --raw > console.bin  # the guest's bytes unfiltered",
    });
    cmd.add_flag("--no-follow", *no_follow, "Print what the console holds now and exit");
    cmd.add_flag("--raw", *raw,
        "Write the guest's bytes as they are (default: control codes such as ESC shown as \\x1b, bad UTF-8 as U+FFFD)");
    cmd.callback([id, no_follow, raw, &cli] {
        vmm::RunDir dir = vmm::RunDir::open();
        qtvmm::TerminalText filter;
        auto print = [&](std::string_view bytes) {
            std::string safe = *raw ? std::string(bytes) : filter.feed(bytes);
            base::write_all(1, safe.data(), safe.size(), "stdout");
        };
        auto print_end = [&] {
            std::string rest = *raw ? std::string() : filter.finish();
            base::write_all(1, rest.data(), rest.size(), "stdout");
        };
        std::string socket = dir.socket_path(*id);
        // Ended debug-mode enclaves leave their last console behind (owner and root only).
        auto show_saved = [&]() {
            std::optional<std::string> text = dir.read_saved_console(*id);
            if (!text)
                return false;
            cli.info("Enclave " + std::to_string(*id) + " has ended; its console as it was at the end:");
            print(*text);
            print_end();
            return true;
        };
        auto not_found = [&] {
            return base::Error(base::ErrorKind::NotFound, "ENCLAVE_NOT_FOUND",
                "no enclave with id " + std::to_string(*id) + " has a console to show; list them with qt-vmm enclave query");
        };
        if (::access(socket.c_str(), F_OK) != 0) {
            if (show_saved())
                return;
            throw not_found();
        }
        base::UniqueFd stream;
        try {
            stream = vmm::control_open(socket, vmm::Json { { "op", "console" }, { "follow", !*no_follow } });
        } catch (const base::Error& e) {
            // The enclave ended between the check and the request: its saved console is next.
            if (e.code() != "DAEMON_CLOSED" && e.code() != "DAEMON_GONE")
                throw;
            for (int i = 0; i < 50; ++i) {
                if (show_saved())
                    return;
                ::usleep(20000); // the daemon writes it as it ends
            }
            throw not_found();
        }
        cli.info("Connecting to the console for enclave " + std::to_string(*id) + "...");
        cli.info("Successfully connected to the console.");
        char buffer[4096];
        for (;;) {
            ssize_t n = ::read(stream.get(), buffer, sizeof buffer);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            print(std::string_view(buffer, static_cast<std::size_t>(n)));
        }
        print_end();
    });
});

} // namespace
