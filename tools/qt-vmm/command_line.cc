// The command line main() was given, kept for the forwarders of tools_commands.h.
#include "tools/qt-vmm/tools_commands.h"

namespace {
char** g_argv = nullptr;
}

void qtvmm::keep_command_line(char** argv)
{
    g_argv = argv;
}

char** qtvmm::kept_command_line()
{
    return g_argv;
}
