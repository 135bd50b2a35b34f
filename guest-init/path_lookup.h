// guest-init/path_lookup.h — finds the program for argv[0] the way a shell (execvp) does, using
// the image's PATH (Nitro's init wrongly used its own default PATH).
//
//   PathLookup found = lookup_program("python3", "/usr/local/bin:/usr/bin", probe_executable);
//   if (found.error == 0) execve(found.path.c_str(), argv, envp);
//
// Rules: a name containing '/' is used as is (relative to the working directory); an empty name
// is not found; otherwise each PATH entry in order ("" means the current directory), the first
// candidate the probe accepts wins. When nothing is accepted the error is EACCES if some
// candidate existed but was not executable, else ENOENT.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace guest_init {

struct PathLookup {
    std::string path;
    int error = 0; // 0, ENOENT or EACCES
};

// A probe answers 0 for an executable regular file, ENOENT if nothing is there, EACCES if
// something is there that cannot be executed (a directory, no x bit).
using ExecProbe = std::function<int(const std::string& candidate)>;

PathLookup lookup_program(std::string_view name, std::string_view path_value, const ExecProbe& probe);

// The real probe: stat + access(X_OK).
int probe_executable(const std::string& candidate);

} // namespace guest_init
