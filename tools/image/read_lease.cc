#include "tools/image/read_lease.h"

#include <csignal>
#include <fcntl.h>
#include <utility>

namespace image {

namespace {

// A broken lease raises SIGIO, which by default ends the process. Ignore it unless someone has
// already chosen what it does.
void ignore_sigio_by_default()
{
    struct sigaction current {};
    if (::sigaction(SIGIO, nullptr, &current) == 0 && current.sa_handler == SIG_DFL && !(current.sa_flags & SA_SIGINFO)) {
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        ::sigaction(SIGIO, &ignore, nullptr);
    }
}

} // namespace

std::optional<ReadLease> ReadLease::take(int fd)
{
    ignore_sigio_by_default();
    if (::fcntl(fd, F_SETLEASE, F_RDLCK) != 0)
        return std::nullopt;
    return ReadLease(fd);
}

ReadLease::ReadLease(ReadLease&& other) noexcept
    : m_fd(std::exchange(other.m_fd, -1))
{
}

ReadLease& ReadLease::operator=(ReadLease&& other) noexcept
{
    if (this != &other) {
        release();
        m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
}

ReadLease::~ReadLease() { release(); }

void ReadLease::release()
{
    if (m_fd >= 0)
        ::fcntl(m_fd, F_SETLEASE, F_UNLCK);
    m_fd = -1;
}

bool ReadLease::intact() const
{
    // While a break is pending the kernel reports the type the lease is being broken to (F_UNLCK);
    // after it was broken (timed out), no lease at all.
    return m_fd >= 0 && ::fcntl(m_fd, F_GETLEASE) == F_RDLCK;
}

} // namespace image
