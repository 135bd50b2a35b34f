#include "base/executable_dir.h"

#include <climits>
#include <unistd.h>

namespace base {

std::string executable_dir()
{
    char buffer[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
    if (n <= 0)
        return ".";
    std::string exe(buffer, static_cast<std::size_t>(n));
    return exe.substr(0, exe.rfind('/'));
}

} // namespace base
