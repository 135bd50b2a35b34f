// vmm/enclave/trusted_dir.cc — see trusted_dir.h.
#include "vmm/enclave/trusted_dir.h"

#include "base/error.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

namespace {

bool as_root() { return ::geteuid() == 0; }

// The run directory itself: not writable by others; group-writable only with the sticky bit
// (members of the qt-vmm group may then add entries but not remove or rename root's).
bool safe_mode(mode_t mode)
{
    return !(mode & S_IWOTH) && (!(mode & S_IWGRP) || (mode & S_ISVTX));
}

// An ancestor: nobody but root can rename or remove its entries (writable only by root, or
// sticky like /tmp).
bool safe_ancestor(const struct stat& st)
{
    return st.st_uid == 0 && (!(st.st_mode & (S_IWGRP | S_IWOTH)) || (st.st_mode & S_ISVTX));
}

std::string octal_mode(mode_t mode)
{
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

} // namespace

base::UniqueFd open_trusted_dir(const std::string& path, const char* env, const char* code)
{
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
        base::throw_errno(code, "cannot create the directory", path + " (set " + env + " to a directory root owns)");
    auto unsafe = [&](const std::string& problem) {
        return base::Error(base::ErrorKind::Permission, code,
            path + " " + problem + "; qt-vmm runs as root and trusts what is in it: make it a real directory owned by root and not "
                                   "writable by others (chown root " + path + " && chmod 0755 " + path
                + ", or 1770 with the qt-vmm group), or set " + env + " to one");
    };
    auto unsafe_ancestor = [&](const std::string& ancestor, const struct stat& up) {
        return base::Error(base::ErrorKind::Permission, code,
            path + " lies in " + ancestor + ", which someone other than root can change (owner uid " + std::to_string(up.st_uid)
                + ", mode " + octal_mode(up.st_mode) + "); qt-vmm runs as root and trusts what is in it: make " + ancestor
                + " root's and not writable by others (chown root " + ancestor + " && chmod go-w " + ancestor + "), or set " + env
                + " to a directory in one that is");
    };
    struct stat link {};
    if (::lstat(path.c_str(), &link) != 0)
        base::throw_errno(code, "cannot stat", path);
    if (as_root() && S_ISLNK(link.st_mode))
        throw unsafe("is a symbolic link");
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        base::throw_errno(code, "cannot open the directory", path);
    base::UniqueFd dir(fd);
    if (!as_root())
        return dir;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_dev != link.st_dev || st.st_ino != link.st_ino)
        throw unsafe("changed while it was being checked");
    if (st.st_uid != 0)
        throw unsafe("is owned by uid " + std::to_string(st.st_uid) + ", not root");
    if (!safe_mode(st.st_mode))
        throw unsafe("has mode " + octal_mode(st.st_mode) + " (writable by others, or group-writable without the sticky bit)");
    // Every ancestor: nobody but root may replace the directory under its name.
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved)) {
        std::string ancestor = resolved;
        while (ancestor != "/") {
            ancestor = ancestor.substr(0, ancestor.rfind('/'));
            if (ancestor.empty())
                ancestor = "/";
            struct stat up {};
            if (::stat(ancestor.c_str(), &up) != 0 || !safe_ancestor(up))
                throw unsafe_ancestor(ancestor, up);
        }
    }
    return dir;
}

base::UniqueFd create_fresh(int dir_fd, const std::string& name, mode_t mode, int flags)
{
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT && errno != EISDIR && errno != EPERM)
            base::throw_errno("FILE_CREATE", "cannot replace", name);
        int fd = ::openat(dir_fd, name.c_str(), flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0)
            return base::UniqueFd(fd);
        if (errno != EEXIST)
            break;
    }
    base::throw_errno("FILE_CREATE", "cannot create", name);
}

base::UniqueFd open_own_file(int dir_fd, const std::string& name, mode_t mode)
{
    for (int attempt = 0; attempt < 3; ++attempt) {
        int fd = ::openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
        if (fd >= 0) {
            base::UniqueFd file(fd);
            struct stat st {};
            if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid())
                return file;
        } else if (errno != ELOOP && errno != ENXIO && errno != EACCES) {
            break;
        }
        // A symlink, FIFO, socket or another user's file under our name: replace it.
        if (::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT)
            break;
    }
    base::throw_errno("FILE_OPEN", "cannot open", name);
}

std::optional<std::string> read_plain_file(int dir_fd, const std::string& name, std::size_t max_bytes, bool only_root_writes)
{
    int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    base::UniqueFd file(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) > max_bytes)
        return std::nullopt;
    if (only_root_writes && as_root() && (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))))
        return std::nullopt;
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        ssize_t n = ::pread(fd, text.data() + got, text.size() - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    return text;
}

} // namespace vmm
