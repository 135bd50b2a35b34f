#include "tools/image/temp_file.h"

#include "base/error.h"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

namespace image {

TempFile::TempFile(base::UniqueFd fd)
    : m_fd(std::move(fd))
    , m_path("/proc/self/fd/" + std::to_string(m_fd.get()))
{
}

std::string directory_of(const std::string& path)
{
    auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    if (slash == 0)
        return "/";
    return path.substr(0, slash);
}

TempFile TempFile::create_in(const std::string& dir)
{
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return TempFile(base::UniqueFd(fd));
    // Filesystems without O_TMPFILE: a named file, unlinked before anyone could see it for long.
    std::string templ = dir + "/.qt-vmm-scratch-XXXXXX";
    std::vector<char> name(templ.begin(), templ.end());
    name.push_back('\0');
    fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0)
        base::throw_errno("IMG_TEMP_FILE", "cannot create a scratch file in", dir);
    ::unlink(name.data());
    return TempFile(base::UniqueFd(fd));
}

TempFile TempFile::create_near(const std::string& near_path)
{
    try {
        return create_in(directory_of(near_path));
    } catch (const base::Error&) {
        const char* tmp = std::getenv("TMPDIR");
        return create_in(tmp && *tmp ? tmp : "/tmp");
    }
}

} // namespace image
