// tools/qt-vmm/command.h — how a qt-vmm subcommand plugs into the CLI.
//
// Every command lives in its own .cc file in tools/qt-vmm/ and registers itself at static
// initialisation time; main.cc never lists commands. The files are linked as objects (not from
// an archive), so the registrations are always kept.
//
// Usage (in tools/qt-vmm/enclave_pcr.cc):
//     static qtvmm::CommandRegistration reg("enclave pcr", [](CLI::App& cmd, qtvmm::Cli& cli) {
//         auto* input = cmd.add_option("--input", ...);
//         cmd.callback([&cli, ...] { cli.print(qtvmm::Json{{"PCR", hex}}); });
//     });
// The path ("enclave pcr") creates the group "enclave" on first use. A callback reports failure
// by throwing base::Error; main() prints it as one line and exits with its status.
#pragma once

#include "tools/qt-vmm/output.h"

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

namespace qtvmm {

// Global options and output helpers shared by every command.
struct Cli {
    OutputFormat output { OutputFormat::Json };
    std::optional<jmespath::Expression> query; // --query, compiled
    bool color { false };                      // jsonc/yamlc colour: stdout and stderr are terminals
    bool debug { false };
    bool verbose { false };
    bool only_show_errors { false };

    // Prints a command's result: --query applied, then the --output format chosen.
    void print(const Json& result) const;
    // Prints a plain status line (e.g. "stop 0 success"), unless --output none.
    void print_text(const std::string& line) const;
    // Progress/warning text on stderr; suppressed by --only-show-errors.
    void info(const std::string& line) const;
    // Extra detail on stderr with --verbose or --debug.
    void detail(const std::string& line) const;
};

using CommandSetup = std::function<void(CLI::App& command, Cli& cli)>;

struct CommandRegistration {
    CommandRegistration(const char* path, const char* description, CommandSetup setup);
};

// Builds the full CLI tree from every registration; used by main().
void build_commands(CLI::App& root, Cli& cli);

} // namespace qtvmm
