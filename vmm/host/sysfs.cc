#include "vmm/host/sysfs.h"

#include "base/error.h"
#include "base/file.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace vmm::host {

namespace {
constexpr std::size_t kMaxSysfsFile = 64 * 1024;
}

std::string sysfs_root()
{
    const char* root = std::getenv("QT_VMM_SYSFS_ROOT");
    return root && *root ? std::string(root) : std::string("/sys");
}

bool sysfs_root_overridden()
{
    const char* root = std::getenv("QT_VMM_SYSFS_ROOT");
    return root && *root;
}

std::string read_sysfs_text(const std::string& path)
{
    return base::read_file(path, kMaxSysfsFile);
}

std::optional<std::string> try_read_sysfs_text(const std::string& path)
{
    if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT)
        return std::nullopt;
    return read_sysfs_text(path);
}

std::uint64_t read_sysfs_u64(const std::string& path)
{
    std::string text = read_sysfs_text(path);
    std::size_t begin = text.find_first_not_of(" \t\n");
    std::size_t end = text.find_last_not_of(" \t\n");
    std::uint64_t value = 0;
    if (begin != std::string::npos) {
        const char* first = text.data() + begin;
        const char* last = text.data() + end + 1;
        auto [ptr, ec] = std::from_chars(first, last, value);
        if (ec == std::errc() && ptr == last)
            return value;
    }
    throw base::Error(base::ErrorKind::Io, "SYSFS_BAD_VALUE",
        path + " holds \"" + text.substr(0, 40) + "\", not a number; is this a Linux sysfs tree?");
}

void write_sysfs_u64(const std::string& path, std::uint64_t value)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        base::throw_errno("SYSFS_WRITE", "cannot open for writing", path);
    base::UniqueFd owner(fd);
    std::string text = std::to_string(value) + "\n";
    // sysfs takes the value in one write(); a failing write (e.g. EINVAL) is reported as such.
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n >= 0 && n != static_cast<ssize_t>(text.size()))
        errno = EIO;
    if (n != static_cast<ssize_t>(text.size()))
        base::throw_errno("SYSFS_WRITE", "cannot write " + std::to_string(value) + " to", path);
}

} // namespace vmm::host
