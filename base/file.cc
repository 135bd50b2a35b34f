#include "base/file.h"

#include "base/error.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace base {

void UniqueFd::reset(int fd)
{
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = fd;
}

UniqueFd open_read(const std::string& path)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw_errno("FILE_OPEN", "cannot open", path);
    return UniqueFd(fd);
}

std::string read_file(const std::string& path, std::size_t max_bytes)
{
    UniqueFd fd = open_read(path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        throw_errno("FILE_STAT", "cannot stat", path);
    if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > max_bytes)
        throw Error(ErrorKind::InvalidInput, "FILE_TOO_LARGE",
            path + " is " + std::to_string(st.st_size) + " bytes; at most " + std::to_string(max_bytes) + " are accepted");
    std::string out;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("FILE_READ", "cannot read", path);
        }
        if (n == 0)
            break;
        if (out.size() + static_cast<std::size_t>(n) > max_bytes)
            throw Error(ErrorKind::InvalidInput, "FILE_TOO_LARGE",
                path + " is larger than the " + std::to_string(max_bytes) + " bytes accepted");
        out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
}

void pread_exact(int fd, void* buffer, std::size_t size, std::uint64_t offset, const std::string& path)
{
    auto* p = static_cast<char*>(buffer);
    while (size > 0) {
        ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("FILE_READ", "cannot read", path);
        }
        if (n == 0)
            throw Error(ErrorKind::InvalidInput, "FILE_TRUNCATED",
                path + ": unexpected end of file at offset " + std::to_string(offset));
        p += n;
        size -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
}

void read_in_pieces(int fd, std::uint64_t offset, std::uint64_t size, std::size_t piece, const std::string& path,
    const std::function<void(const std::uint8_t* data, std::size_t size)>& fn)
{
    std::vector<std::uint8_t> buffer(static_cast<std::size_t>(std::min<std::uint64_t>(size, piece)));
    while (size > 0) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, buffer.size()));
        pread_exact(fd, buffer.data(), n, offset, path);
        fn(buffer.data(), n);
        offset += n;
        size -= n;
    }
}

namespace {

// Writes all `size` bytes through `write_some(bytes, count, done)` — one write(2) or pwrite(2) —
// again after a short write or EINTR.
template <typename WriteSome>
void write_fully(const void* data, std::size_t size, const std::string& path, WriteSome write_some)
{
    const auto* p = static_cast<const char*>(data);
    std::size_t done = 0;
    while (done < size) {
        ssize_t n = write_some(p + done, size - done, done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("FILE_WRITE", "cannot write", path);
        }
        done += static_cast<std::size_t>(n);
    }
}

} // namespace

void write_all(int fd, const void* data, std::size_t size, const std::string& path)
{
    write_fully(data, size, path, [fd](const char* p, std::size_t n, std::size_t) { return ::write(fd, p, n); });
}

void pwrite_all(int fd, const void* data, std::size_t size, std::uint64_t offset, const std::string& path)
{
    write_fully(data, size, path, [fd, offset](const char* p, std::size_t n, std::size_t done) {
        return ::pwrite(fd, p, n, static_cast<off_t>(offset + done));
    });
}

AtomicFile::AtomicFile(std::string final_path, unsigned mode)
    : m_final_path(std::move(final_path))
{
    std::vector<char> templ(m_final_path.begin(), m_final_path.end());
    const char suffix[] = ".tmp-XXXXXX";
    templ.insert(templ.end(), suffix, suffix + sizeof suffix);
    int fd = ::mkostemp(templ.data(), O_CLOEXEC);
    if (fd < 0)
        throw_errno("FILE_CREATE", "cannot create a file beside", m_final_path);
    m_fd.reset(fd);
    m_temp_path.assign(templ.data());
    ::fchmod(fd, mode);
}

AtomicFile::~AtomicFile()
{
    if (!m_committed && !m_temp_path.empty())
        ::unlink(m_temp_path.c_str());
}

void AtomicFile::write(const void* data, std::size_t size)
{
    write_all(m_fd.get(), data, size, m_temp_path);
}

void AtomicFile::pwrite(const void* data, std::size_t size, std::uint64_t offset)
{
    pwrite_all(m_fd.get(), data, size, offset, m_temp_path);
}

void AtomicFile::commit()
{
    if (::fsync(m_fd.get()) != 0)
        throw_errno("FILE_WRITE", "cannot flush", m_temp_path);
    m_fd.reset();
    if (::rename(m_temp_path.c_str(), m_final_path.c_str()) != 0)
        throw_errno("FILE_RENAME", "cannot rename to", m_final_path);
    m_committed = true;
}

} // namespace base
