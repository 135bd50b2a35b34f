#include "base/direct_appender.h"

#include "base/error.h"
#include "base/file.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <unistd.h>

namespace base {

namespace {

std::uint8_t* aligned_buffer()
{
    void* p = nullptr;
    if (::posix_memalign(&p, DirectAppender::kBlock, DirectAppender::kBufferSize) != 0)
        throw std::bad_alloc();
    return static_cast<std::uint8_t*>(p);
}

} // namespace

DirectAppender::DirectAppender(int fd, std::string name, Mode mode)
    : m_fd(fd)
    , m_name(std::move(name))
    , m_buffer(aligned_buffer(), std::free)
{
    if (mode == Mode::DirectWherePossible) {
        std::string self = "/proc/self/fd/" + std::to_string(fd);
        m_direct_fd = ::open(self.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
    }
}

DirectAppender::~DirectAppender()
{
    if (m_direct_fd >= 0)
        ::close(m_direct_fd);
}

void DirectAppender::append(const void* data, std::size_t size)
{
    const auto* p = static_cast<const std::uint8_t*>(data);
    while (size > 0) {
        std::size_t n = std::min(size, kBufferSize - m_pending);
        std::memcpy(m_buffer.get() + m_pending, p, n);
        m_pending += n;
        p += n;
        size -= n;
        if (m_pending == kBufferSize) {
            write_out(kBufferSize);
            m_flushed += kBufferSize;
            m_pending = 0;
        }
    }
}

void DirectAppender::write_out(std::size_t size)
{
    if (m_direct_fd >= 0) {
        ssize_t n = ::pwrite(m_direct_fd, m_buffer.get(), size, static_cast<off_t>(m_flushed));
        if (n == static_cast<ssize_t>(size))
            return;
        if (n >= 0 || errno != EINVAL) {
            // A short direct write (a full disk) or an I/O error: report it as ordinary writes would.
            if (n >= 0)
                errno = ENOSPC;
            throw_errno("FILE_WRITE", "cannot write", m_name);
        }
        // EINVAL: this file refuses the alignment after all; go on with ordinary writes.
        ::close(m_direct_fd);
        m_direct_fd = -1;
    }
    pwrite_all(m_fd, m_buffer.get(), size, m_flushed, m_name);
    start_writeback(m_flushed + size);
}

void DirectAppender::start_writeback(std::uint64_t end)
{
    // Advisory: an error here shows up in the caller's fsync.
    constexpr std::uint64_t kWritebackStep = 8 << 20;
    if (end - m_writeback_start >= kWritebackStep) {
        ::sync_file_range(m_fd, static_cast<off_t>(m_writeback_start), static_cast<off_t>(end - m_writeback_start), SYNC_FILE_RANGE_WRITE);
        m_writeback_start = end;
    }
}

void DirectAppender::patch(const void* data, std::size_t size, std::uint64_t offset)
{
    if (offset > position() || size > position() - offset)
        throw Error(ErrorKind::Internal, "FILE_WRITE", "patch past the end of " + m_name);
    const auto* p = static_cast<const std::uint8_t*>(data);
    // The part before m_flushed is in the file, the rest in the buffer.
    if (offset < m_flushed) {
        std::size_t in_file = static_cast<std::size_t>(std::min<std::uint64_t>(size, m_flushed - offset));
        pwrite_all(m_fd, p, in_file, offset, m_name);
        p += in_file;
        size -= in_file;
        offset += in_file;
    }
    if (size > 0)
        std::memcpy(m_buffer.get() + (offset - m_flushed), p, size);
}

void DirectAppender::finish()
{
    if (m_finished)
        return;
    m_finished = true;
    if (m_pending == 0)
        return;
    std::size_t padded = (m_pending + kBlock - 1) / kBlock * kBlock;
    std::memset(m_buffer.get() + m_pending, 0, padded - m_pending);
    write_out(m_direct_fd >= 0 ? padded : m_pending);
    m_flushed += m_pending;
    m_pending = 0;
    if (::ftruncate(m_fd, static_cast<off_t>(m_flushed)) != 0)
        throw_errno("FILE_WRITE", "cannot cut to length", m_name);
}

} // namespace base
