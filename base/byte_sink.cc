#include "base/byte_sink.h"

#include "base/file.h"

#include <algorithm>
#include <vector>

namespace base {

void ByteSink::from_file(int fd, std::uint64_t offset, std::uint64_t size, const std::string& name) const
{
    if (size == 0)
        return;
    if (m_file_range) {
        m_file_range(fd, offset, size, name);
        return;
    }
    constexpr std::uint64_t kPiece = 1 << 20;
    std::vector<char> buffer(static_cast<std::size_t>(std::min(size, kPiece)));
    while (size > 0) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, buffer.size()));
        pread_exact(fd, buffer.data(), n, offset, name);
        m_bytes(buffer.data(), n);
        offset += n;
        size -= n;
    }
}

} // namespace base
