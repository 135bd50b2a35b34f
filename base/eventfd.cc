#include "base/eventfd.h"

#include "base/error.h"

#include <cstdint>
#include <sys/eventfd.h>
#include <unistd.h>

namespace base {

UniqueFd make_eventfd(const std::string& code, const std::string& what)
{
    UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!fd.valid())
        throw_errno(code, "cannot create an eventfd for", what);
    return fd;
}

void signal_eventfd(int fd)
{
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
}

} // namespace base
