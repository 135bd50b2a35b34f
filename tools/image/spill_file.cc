#include "tools/image/spill_file.h"

#include "base/error.h"
#include "base/file.h"

#include <algorithm>
#include <unistd.h>

namespace image {

namespace {
constexpr std::size_t kBufferSize = 1 << 20;
}

SpillFile::SpillFile(const std::string& near_path)
    : m_file(TempFile::create_near(near_path))
{
    m_buffer.reserve(kBufferSize);
}

void SpillFile::append(const void* data, std::size_t size)
{
    const char* p = static_cast<const char*>(data);
    m_size += size;
    if (m_buffer.size() + size > kBufferSize) {
        flush();
        if (size >= kBufferSize / 2) {
            base::pwrite_all(m_file.fd(), p, size, m_flushed, "scratch file");
            m_flushed += size;
            return;
        }
    }
    m_buffer.insert(m_buffer.end(), p, p + size);
}

void SpillFile::append_zeros(std::uint64_t count)
{
    static const char zeros[65536] = {};
    if (count >= sizeof zeros) {
        // Big holes (sparse tar entries): extend the file instead of writing zeros.
        flush();
        m_size += count;
        m_flushed = m_size;
        if (::ftruncate(m_file.fd(), static_cast<off_t>(m_size)) != 0)
            base::throw_errno("IMG_TEMP_FILE", "cannot extend", "scratch file");
        return;
    }
    while (count > 0) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(count, sizeof zeros));
        append(zeros, n);
        count -= n;
    }
}

void SpillFile::flush()
{
    if (!m_buffer.empty())
        base::pwrite_all(m_file.fd(), m_buffer.data(), m_buffer.size(), m_flushed, "scratch file");
    m_flushed += m_buffer.size();
    m_buffer.clear();
}

} // namespace image
