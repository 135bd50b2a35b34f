#include "base/error.h"

#include <cerrno>
#include <cstring>

namespace base {

void throw_errno(const std::string& code, const std::string& what, const std::string& path)
{
    int saved = errno;
    ErrorKind kind = ErrorKind::Io;
    if (saved == EACCES || saved == EPERM)
        kind = ErrorKind::Permission;
    else if (saved == ENOENT)
        kind = ErrorKind::NotFound;
    throw Error(kind, code, what + " " + path + ": " + std::strerror(saved));
}

} // namespace base
