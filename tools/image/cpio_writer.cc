#include "tools/image/cpio_writer.h"

#include "base/error.h"
#include "base/file.h"

#include <algorithm>
#include <cstdio>
#include <sys/stat.h>

namespace image {

namespace {

constexpr std::size_t kBufferSize = 1 << 20;

std::uint32_t field32(std::uint64_t value, const std::string& name, const char* what)
{
    if (value > 0xffffffffu)
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_CPIO_TOO_LARGE",
            "cpio: " + std::string(what) + " of '" + name + "' is " + std::to_string(value)
                + ", more than the newc format can hold (4 GiB - 1); split the file or leave it out of the image");
    return static_cast<std::uint32_t>(value);
}

} // namespace

std::string cpio_newc_header(const CpioEntry& entry, std::uint32_t mtime)
{
    if (entry.name.empty() || entry.name.find('\0') != std::string::npos)
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_CPIO_BAD_NAME", "cpio: empty name or a name with a NUL byte");
    const std::uint32_t values[13] = {
        entry.ino, entry.mode, entry.uid, entry.gid, entry.nlink, mtime,
        field32(entry.size, entry.name, "size"), 0, 0, entry.rdev_major, entry.rdev_minor,
        field32(entry.name.size() + 1, entry.name, "name length"), 0,
    };
    char header[6 + 13 * 8 + 1];
    std::snprintf(header, 7, "070701");
    for (int i = 0; i < 13; ++i)
        std::snprintf(header + 6 + i * 8, 9, "%08x", values[i]);
    std::string out(header, 110);
    out += entry.name;
    out.push_back('\0');
    out.append((4 - out.size() % 4) % 4, '\0');
    return out;
}

CpioWriter::CpioWriter(ByteSink sink, std::uint32_t mtime)
    : m_sink(std::move(sink))
    , m_mtime(mtime)
{
    m_buffer.reserve(kBufferSize);
}

void CpioWriter::append(const void* data, std::size_t size)
{
    const char* p = static_cast<const char*>(data);
    m_offset += size;
    if (m_buffer.size() + size > kBufferSize) {
        flush();
        if (size >= kBufferSize) {
            m_sink(p, size);
            return;
        }
    }
    m_buffer.insert(m_buffer.end(), p, p + size);
}

void CpioWriter::flush()
{
    if (!m_buffer.empty())
        m_sink(m_buffer.data(), m_buffer.size());
    m_buffer.clear();
}

void CpioWriter::pad()
{
    static const char zeros[4] = {};
    if (m_offset % 4)
        append(zeros, 4 - m_offset % 4);
}

void CpioWriter::write_header(CpioEntry& entry)
{
    if (m_finished)
        throw base::Error(base::ErrorKind::Internal, "IMG_CPIO_FINISHED", "cpio: entry added after the trailer");
    if (entry.ino == 0)
        entry.ino = allocate_ino();
    std::string header = cpio_newc_header(entry, m_mtime);
    append(header.data(), header.size());
}

void CpioWriter::add_directory(const std::string& name, std::uint32_t permissions, std::uint32_t uid, std::uint32_t gid)
{
    add(CpioEntry { .name = name, .mode = S_IFDIR | (permissions & 07777), .uid = uid, .gid = gid, .nlink = 2 }, std::string_view {});
}

void CpioWriter::add_file(const std::string& name, std::uint32_t permissions, std::string_view contents)
{
    add(CpioEntry { .name = name, .mode = S_IFREG | (permissions & 07777), .size = contents.size() }, contents);
}

void CpioWriter::add(CpioEntry entry, std::string_view data)
{
    if (entry.size != data.size())
        throw base::Error(base::ErrorKind::Internal, "IMG_CPIO_SIZE", "cpio: size of '" + entry.name + "' does not match its data");
    write_header(entry);
    append(data.data(), data.size());
    pad();
}

void CpioWriter::add(CpioEntry entry, int src_fd, std::uint64_t src_offset, const std::string& src_name)
{
    write_header(entry);
    if (entry.size > 0) {
        // The data goes to the sink as a file range (read straight into its buffers where it can).
        flush();
        m_sink.from_file(src_fd, src_offset, entry.size, src_name);
        m_offset += entry.size;
    }
    pad();
}

void CpioWriter::finish()
{
    CpioEntry trailer { .name = "TRAILER!!!", .ino = 0 };
    std::string header = cpio_newc_header(trailer, 0);
    append(header.data(), header.size());
    flush();
    m_finished = true;
}

} // namespace image
