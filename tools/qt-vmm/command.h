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
#include <cstdint>
#include <functional>
#include <initializer_list>
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

// Builds the CLI tree from every registration; used by main() with its argc/argv. Every command
// is in the tree (-h lists them all); only those named on the command line (every word of their
// path present) get their options and callback.
void build_commands(CLI::App& root, Cli& cli, int argc, const char* const* argv);

// A validator for numeric options: a whole number from `min` to `max` (so "-5" is refused as
// written, never wrapped into a huge unsigned value). CLI11 names the option in the error.
CLI::Validator whole_number(std::uint64_t min, std::uint64_t max);

// --enclave-id ID (a whole number from 0), as every enclave command takes it.
CLI::Option* add_enclave_id(CLI::App& command, int& id, const char* description);

// Adds an "Examples:" section to a command's -h.
void set_examples(CLI::App& command, std::initializer_list<const char*> examples);

// Before parsing: the first word on the command line that is not a command of its group (e.g.
// "qt-vmm enclave fly"), or a group without its command ("qt-vmm vsock"), gives a one-line
// problem naming it, the closest command and the choices; nullopt when the words are fine.
std::optional<std::string> unknown_command_problem(CLI::App& root, int argc, const char* const* argv);

} // namespace qtvmm
