// tools/qt-vmm/tools_commands.h — the commands that live in the companion program qt-vmm-tools
// instead of qt-vmm itself, so that qt-vmm (and the enclave daemon it forks) never loads what
// they need (libarchive, libxml2, ICU, yaml-cpp, ...) and starts faster.
//
// qt-vmm registers a forwarder under each path (tools_forwarders.cc): it is listed in -h like any
// other command, and running it execs <dir of qt-vmm>/qt-vmm-tools with the same command line.
// qt-vmm-tools registers the real command under the same path and description, e.g.
//     static qtvmm::CommandRegistration reg(qtvmm::kMakeImgCommand.path, qtvmm::kMakeImgCommand.description, ...);
// Moving a command: add it here and to qt-vmm-tools_COMMANDS in tools/qt-vmm/module.mk.
#pragma once

namespace qtvmm {

struct ToolsCommand {
    const char* path;
    const char* description;
};

inline constexpr const char* kToolsProgram = "qt-vmm-tools";

inline constexpr ToolsCommand kMakeImgCommand { "enclave make-img", "Build an enclave image file (EIF) from a container image" };
inline constexpr ToolsCommand kVsockProxyCommand { "vsock proxy",
    "Egress for an enclave: relay its connections to CID 3 port LOCAL_PORT to an allow-listed REMOTE_ADDR:REMOTE_PORT (like Nitro's vsock-proxy)" };

inline constexpr ToolsCommand kToolsCommands[] = { kMakeImgCommand, kVsockProxyCommand };

// main() hands over its argv (command_line.cc); a forwarder passes it to qt-vmm-tools unchanged.
void keep_command_line(char** argv);
char** kept_command_line();

} // namespace qtvmm
