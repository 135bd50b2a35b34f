#include "base/byte_sink.h"

#include "base/file.h"

namespace base {

void ByteSink::from_file(int fd, std::uint64_t offset, std::uint64_t size, const std::string& name) const
{
    if (size == 0)
        return;
    if (m_file_range) {
        m_file_range(fd, offset, size, name);
        return;
    }
    read_in_pieces(fd, offset, size, 1 << 20, name, [this](const std::uint8_t* p, std::size_t n) { m_bytes(p, n); });
}

} // namespace base
