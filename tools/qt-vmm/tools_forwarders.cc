// qt-vmm's stand-ins for the commands of qt-vmm-tools (see tools_commands.h): each takes the rest
// of the command line unparsed (-h included) and execs qt-vmm-tools, found beside qt-vmm, with
// the original command line, so the real command parses, helps and fails exactly as it would here.
#include "base/error.h"
#include "base/executable_dir.h"
#include "tools/qt-vmm/command.h"
#include "tools/qt-vmm/tools_commands.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <unistd.h>

namespace {

[[noreturn]] void exec_tools(const qtvmm::ToolsCommand& command)
{
    std::string path = base::executable_dir() + "/" + qtvmm::kToolsProgram;
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    ::execv(path.c_str(), qtvmm::kept_command_line());
    int error = errno;
    throw base::Error(base::ErrorKind::NotFound, "TOOLS_MISSING",
        std::string("'") + command.path + "' runs the companion program " + path + ", which "
            + (error == ENOENT ? "does not exist" : "cannot be run (" + std::string(std::strerror(error)) + ")")
            + "; install qt-vmm-tools beside qt-vmm (`make all` builds both)");
}

const bool registered = [] {
    for (const qtvmm::ToolsCommand& command : qtvmm::kToolsCommands) {
        qtvmm::CommandRegistration(command.path, command.description, [&command](CLI::App& cmd, qtvmm::Cli&) {
            cmd.prefix_command();     // everything after the command goes to qt-vmm-tools unparsed,
            cmd.fallthrough(false);   // not up to qt-vmm's own options,
            cmd.set_help_flag();      // -h too: qt-vmm-tools prints the command's real help
            cmd.callback([&command] { exec_tools(command); });
        });
    }
    return true;
}();

} // namespace
