// vmm/vhost_user/fd_kind.cc — see fd_kind.h.
#include "vmm/vhost_user/fd_kind.h"

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::vhost_user {

namespace {

// The inode every anonymous-inode fd shares, from an eventfd of our own.
bool is_anon_inode(const struct stat& st)
{
    static const struct stat anon = [] {
        struct stat s {};
        int probe = ::eventfd(0, EFD_CLOEXEC);
        if (probe >= 0) {
            if (::fstat(probe, &s) != 0)
                s = {};
            ::close(probe);
        }
        return s;
    }();
    return anon.st_ino != 0 && st.st_dev == anon.st_dev && st.st_ino == anon.st_ino;
}

} // namespace

bool is_eventfd(int fd)
{
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !is_anon_inode(st))
        return false;
    char target[64];
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n < 0)
        return errno == ENOENT && ::access("/proc/self", F_OK) != 0; // no /proc: the inode check stands
    return std::string(target, static_cast<std::size_t>(n)) == "anon_inode:[eventfd]";
}

bool sealed_against_shrinking(int fd)
{
    int seals = ::fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (seals & F_SEAL_SHRINK) != 0;
}

} // namespace vmm::vhost_user
