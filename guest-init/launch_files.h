// guest-init/launch_files.h — parsing of the files make-img writes beside /rootfs in ramdisk 1:
// /cmd (one argv element per line), /env (one KEY=VALUE per line), /workdir and /user (one
// line each). Pure functions on the file contents, so they are tested without booting.
//
//   CmdParse cmd = parse_cmd(read("/cmd"));        // cmd.error empty on success
//   EnvParse env = parse_env(read("/env"));        // env.vars, env.ignored_lines
//   env_set_default(env.vars, "PATH", kDefaultPath);
//   auto path = env_lookup(env.vars, "PATH");      // std::optional<std::string_view>
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guest-init/status_protocol.h"

namespace guest_init {

// Docker's default PATH, used when the image's Env has none.
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Lines of text; each line ends at '\n', a last line without '\n' counts, a final '\n' does not
// start another line. Empty lines in the middle are kept (they are empty strings).
std::vector<std::string> split_lines(std::string_view text);

struct CmdParse {
    std::vector<std::string> argv;
    std::string error; // empty on success
    InitError code = InitError::Internal; // CmdEmpty or CmdInvalid when error is set
};
// Errors: no lines or an empty argv[0] (CmdEmpty), a NUL byte (CmdInvalid).
CmdParse parse_cmd(std::string_view text);

struct EnvParse {
    std::vector<std::string> vars;          // "KEY=VALUE", a later duplicate KEY replaces the earlier
    std::vector<size_t> ignored_lines;      // 1-based numbers of lines without '=', empty keys, NULs
};
EnvParse parse_env(std::string_view text);

std::optional<std::string_view> env_lookup(const std::vector<std::string>& vars, std::string_view key);
// Adds KEY=VALUE unless KEY is already set.
void env_set_default(std::vector<std::string>& vars, std::string_view key, std::string_view value);

// The one-line files (/workdir, /user): the first line without its line end and surrounding
// spaces/tabs/CR; empty if the file is empty.
std::string parse_single_line(std::string_view text);

} // namespace guest_init
