// qt-vmm: the command-line front end. Parses global options, builds the command tree from the
// self-registered commands (see command.h) and turns every base::Error into one line on stderr
// and its exit status.
#include "base/error.h"
#include "tools/qt-vmm/command.h"
#include "tools/qt-vmm/query_option.h"
#include "tools/qt-vmm/tools_commands.h"

#include <iostream>
#include <openssl/crypto.h>
#include <unistd.h>

#ifndef QT_VMM_VERSION
#define QT_VMM_VERSION "0.1.0"
#endif

int main(int argc, char** argv)
{
    // No OpenSSL clean-up at exit: freeing its algorithm stores cost a launch ≈ 10 % of the
    // launcher's CPU (perf), for memory the exit returns anyway. Forked daemons _exit().
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
    qtvmm::Cli cli;
    qtvmm::keep_command_line(argv);
    CLI::App app { "qt-vmm: build and run isolated enclaves (QingTian / Nitro compatible) on Linux KVM", "qt-vmm" };
    app.set_version_flag("--version", QT_VMM_VERSION);
    app.require_subcommand(1);
    app.fallthrough();

    std::string output_name = "json";
    app.add_option("--output,-o", output_name, "Output format: json, jsonc, none, table, tsv, yaml, yamlc")
        ->check(CLI::IsMember({ "json", "jsonc", "none", "table", "tsv", "yaml", "yamlc" }));
    std::string query_text;
    auto* query_option = app.add_option("--query", query_text,
        "JMESPath query applied to the result before it is formatted (https://jmespath.org), e.g. '[].EnclaveID'");
    app.add_flag("--debug", cli.debug, "Show all debug logs");
    app.add_flag("--verbose", cli.verbose, "Show more progress information");
    app.add_flag("--only-show-errors", cli.only_show_errors, "Show only errors, suppressing warnings and progress");
    app.parse_complete_callback([&] {
        cli.output = *qtvmm::parse_output_format(output_name);
        if (query_option->count() > 0)
            cli.query = qtvmm::compile_query(query_text);
        // As knack: colour only when both stdout and stderr are terminals.
        cli.color = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
    });

    qtvmm::build_commands(app, cli, argc, argv);

    if (std::optional<std::string> problem = qtvmm::unknown_command_problem(app, argc, argv)) {
        std::cerr << "qt-vmm: error [USAGE]: " << *problem << "\n";
        return static_cast<int>(base::ErrorKind::Usage);
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "qt-vmm: error [USAGE]: " << e.what() << "; run with -h for usage\n";
        return static_cast<int>(base::ErrorKind::Usage);
    } catch (const base::Error& e) {
        std::cerr << "qt-vmm: error [" << e.code() << "]: " << e.what() << "\n";
        return e.exit_status();
    } catch (const std::exception& e) {
        std::cerr << "qt-vmm: error [INTERNAL]: " << e.what() << "\n";
        return static_cast<int>(base::ErrorKind::Internal);
    }
    return 0;
}
