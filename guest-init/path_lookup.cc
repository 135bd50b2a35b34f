// guest-init/path_lookup.cc — shell-like program lookup through PATH (see the header).
#include "guest-init/path_lookup.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

namespace guest_init {

PathLookup lookup_program(std::string_view name, std::string_view path_value, const ExecProbe& probe)
{
    PathLookup result;
    if (name.empty()) {
        result.error = ENOENT;
        return result;
    }
    if (name.find('/') != std::string_view::npos) {
        result.path = name;
        return result;
    }
    bool saw_not_executable = false;
    size_t start = 0;
    while (true) {
        size_t end = path_value.find(':', start);
        std::string_view dir = path_value.substr(start, end == std::string_view::npos ? end : end - start);
        std::string candidate;
        if (!dir.empty()) {
            candidate = dir;
            if (candidate.back() != '/')
                candidate += '/';
        }
        candidate += name;
        int error = probe(candidate);
        if (error == 0) {
            result.path = std::move(candidate);
            return result;
        }
        if (error == EACCES)
            saw_not_executable = true;
        if (end == std::string_view::npos)
            break;
        start = end + 1;
    }
    result.error = saw_not_executable ? EACCES : ENOENT;
    return result;
}

int probe_executable(const std::string& candidate)
{
    struct stat st;
    if (stat(candidate.c_str(), &st) != 0)
        return errno == EACCES ? EACCES : ENOENT;
    if (!S_ISREG(st.st_mode) || access(candidate.c_str(), X_OK) != 0)
        return EACCES;
    return 0;
}

} // namespace guest_init
