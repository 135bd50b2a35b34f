// raise_fd_limit: a daemon started with the usual soft limit ends with the designed one.
#include "vmm/enclave/daemon_fd_limit.h"

#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

TEST_CASE("raise_fd_limit lifts a low soft limit to the daemon's designed figure")
{
    rlimit saved {};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    rlimit low = saved;
    low.rlim_cur = 256;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::uint64_t now = vmm::raise_fd_limit();
    rlimit after {};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &after) == 0);
    if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max >= vmm::kDaemonFileLimit || ::geteuid() == 0) {
        CHECK(now == vmm::kDaemonFileLimit);
        CHECK(after.rlim_cur == vmm::kDaemonFileLimit);
    } else {
        CHECK(now == saved.rlim_max); // capped by a hard limit an unprivileged process cannot raise
    }
    CHECK(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
}
