#include "tools/image/spill_file.h"

#include "base/error.h"
#include "base/file.h"

#include <algorithm>
#include <unistd.h>

namespace image {

SpillFile::SpillFile(const std::string& near_path)
    : m_file(TempFile::create_near(near_path))
    , m_writer({ [this](const std::uint8_t* p, std::size_t n) {
        base::pwrite_all(m_file.fd(), p, n, m_written, "scratch file");
        m_written += n;
    } })
{
}

void SpillFile::append(const void* data, std::size_t size)
{
    m_size += size;
    m_writer.push(data, size);
}

void SpillFile::append_zeros(std::uint64_t count)
{
    static const char zeros[65536] = {};
    if (count >= sizeof zeros) {
        // Big holes (sparse tar entries): extend the file instead of writing zeros. The writer
        // is idle once drained, so its offset can move past the hole.
        m_writer.drain();
        m_size += count;
        m_written = m_size;
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
    m_writer.drain();
}

} // namespace image
