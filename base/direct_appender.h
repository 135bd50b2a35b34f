// base/direct_appender.h — writes a long stream of bytes to the end of a file without copying
// it through the page cache: the bytes gather in an aligned 1 MiB buffer and each full buffer
// goes out with O_DIRECT (the device reads it from our memory), so a 200 MiB image costs no
// kernel memcpy, no dirty pages to flush later, and does not push 200 MiB of other files out of
// the cache. The file is reopened with O_DIRECT through /proc/self/fd (the same inode, whatever
// its name now is). Where O_DIRECT is refused (tmpfs before Linux 6.6, some FUSE, no /proc),
// the appender writes ordinarily and hands every 8 MiB to the disk at once (sync_file_range),
// so the final fsync has little left to wait for.
//
// Bytes already appended can be rewritten with patch() (a header whose contents are known only
// at the end): a patch lands in the buffer if those bytes are still there, else in the file.
// finish() writes what is pending (the last partial block padded, then the file cut back to its
// length); after it only patch() may follow. The caller fsyncs (base::AtomicFile::commit).
//
// Usage:
//     base::AtomicFile file("out.eif");
//     base::DirectAppender out(file.fd(), file.temp_path());
//     out.append(header_placeholder, 548);
//     out.append(data, n);                 // any number of times
//     out.patch(header, 548, 0);
//     out.finish();
//     file.commit();
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace base {

class DirectAppender {
public:
    enum class Mode { DirectWherePossible, Ordinary };
    // fd: the file, open for writing and empty; appends start at offset 0. name: for messages.
    // Mode::Ordinary never tries O_DIRECT (what a filesystem without it gets anyway).
    DirectAppender(int fd, std::string name, Mode mode = Mode::DirectWherePossible);
    DirectAppender(const DirectAppender&) = delete;
    DirectAppender& operator=(const DirectAppender&) = delete;
    ~DirectAppender();

    void append(const void* data, std::size_t size);
    // Rewrites size bytes at offset; offset + size must not pass position().
    void patch(const void* data, std::size_t size, std::uint64_t offset);
    void finish();

    std::uint64_t position() const { return m_flushed + m_pending; }
    // Whether the appends go out with O_DIRECT (false: ordinary writes).
    bool direct() const { return m_direct_fd >= 0; }

    static constexpr std::size_t kBlock = 4096;         // O_DIRECT offset/length/address alignment
    static constexpr std::size_t kBufferSize = 1 << 20; // one O_DIRECT write

private:
    void write_out(std::size_t size); // writes m_buffer[0, size) at m_flushed (size: a kBlock multiple, or the padded tail)
    void start_writeback(std::uint64_t end); // ordinary writes: hands [m_writeback_start, end) to the disk every 8 MiB

    int m_fd;
    int m_direct_fd { -1 };
    std::string m_name;
    std::unique_ptr<std::uint8_t, void (*)(void*)> m_buffer;
    std::uint64_t m_flushed { 0 }; // bytes in the file; a kBlock multiple while direct
    std::size_t m_pending { 0 };   // bytes in m_buffer
    std::uint64_t m_writeback_start { 0 };
    bool m_finished { false };
};

} // namespace base
