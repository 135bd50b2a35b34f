#include "vmm/enclave/daemon_fd_limit.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/resource.h>

namespace vmm {

std::uint64_t raise_fd_limit()
{
    rlimit limit {};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return 0;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= kDaemonFileLimit)
        return limit.rlim_cur;
    if (limit.rlim_cur == RLIM_INFINITY)
        return kDaemonFileLimit;
    rlimit wanted = limit;
    wanted.rlim_cur = kDaemonFileLimit;
    if (wanted.rlim_max != RLIM_INFINITY && wanted.rlim_max < kDaemonFileLimit)
        wanted.rlim_max = kDaemonFileLimit; // needs CAP_SYS_RESOURCE
    if (::setrlimit(RLIMIT_NOFILE, &wanted) == 0)
        return kDaemonFileLimit;
    int saved = errno;
    // Not allowed to raise the hard limit: go as far as it lets us.
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    std::fprintf(stderr,
        "qt-vmm daemon: warning: RLIMIT_NOFILE stays at %llu (%s), below the %llu the daemon is designed for; "
        "vsock connections past it are refused (raise the hard limit, e.g. ulimit -Hn %llu)\n",
        static_cast<unsigned long long>(limit.rlim_cur), std::strerror(saved), static_cast<unsigned long long>(kDaemonFileLimit),
        static_cast<unsigned long long>(kDaemonFileLimit));
    return limit.rlim_cur;
}

} // namespace vmm
