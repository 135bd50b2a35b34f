// tools/image/cpio_writer.h — a streaming writer of "newc" cpio archives (magic 070701), the
// format the Linux kernel unpacks as an initramfs.
//
// Output is deterministic: every entry gets the same mtime (0 or SOURCE_DATE_EPOCH, chosen by the
// caller), inode numbers are handed out sequentially by allocate_ino(), and nothing from the host
// (device numbers, times) leaks in. Hardlinks follow the convention both the kernel
// (init/initramfs.c: entries with nlink >= 2 and the same ino/mode are linked) and GNU cpio
// expect: every member of a group carries the same ino and nlink, and only the last one carries
// the data (the others have size 0). Output goes to a sink in chunks of up to 1 MiB, so a
// ramdisk can stream straight into the EIF writer without a temp file.
//
// Usage:
//     image::CpioWriter cpio([&](const void* p, size_t n) { out.append((const char*)p, n); }, /*mtime=*/0);
//     cpio.add_directory("dev", 0755);
//     cpio.add_file("cmd", 0644, "/bin/sh\n");
//     cpio.add({ .name = "init", .mode = S_IFREG | 0755, .size = n }, init_fd, 0);
//     cpio.finish();                                   // trailer + flush
#pragma once

#include "base/byte_sink.h"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace image {

struct CpioEntry {
    std::string name {};           // relative path, no leading "/" or "./"
    std::uint32_t mode { 0 };      // file type bits | permission bits (incl. setuid/sticky)
    std::uint32_t uid { 0 };
    std::uint32_t gid { 0 };
    std::uint32_t nlink { 1 };
    std::uint32_t ino { 0 };       // 0 = allocate a fresh one
    std::uint64_t size { 0 };      // bytes of data that follow (symlink: target length)
    std::uint32_t rdev_major { 0 };
    std::uint32_t rdev_minor { 0 };
};

// Receives consecutive chunks of the archive (file data as file ranges: see base/byte_sink.h).
using ByteSink = base::ByteSink;

class CpioWriter {
public:
    CpioWriter(ByteSink sink, std::uint32_t mtime);
    CpioWriter(const CpioWriter&) = delete;
    CpioWriter& operator=(const CpioWriter&) = delete;

    std::uint32_t allocate_ino() { return m_next_ino++; }

    void add_directory(const std::string& name, std::uint32_t permissions, std::uint32_t uid = 0, std::uint32_t gid = 0);
    // A regular file whose contents are in memory.
    void add_file(const std::string& name, std::uint32_t permissions, std::string_view contents);
    // Any entry whose data (entry.size bytes) is in memory: symlink targets, small files.
    void add(CpioEntry entry, std::string_view data);
    // An entry whose entry.size bytes of data are copied from src_fd at src_offset.
    void add(CpioEntry entry, int src_fd, std::uint64_t src_offset, const std::string& src_name);
    // Writes the TRAILER!!! entry and flushes. Nothing may be added afterwards.
    void finish();

    std::uint64_t bytes_written() const { return m_offset; }

private:
    void write_header(CpioEntry& entry);
    void append(const void* data, std::size_t size);
    void pad();
    void flush();

    ByteSink m_sink;
    std::uint32_t m_mtime;
    std::uint32_t m_next_ino { 1 };
    std::uint64_t m_offset { 0 }; // logical bytes written (incl. buffered)
    std::vector<char> m_buffer;
    bool m_finished { false };
};

// Formats one 110-byte newc header followed by name, NUL and padding (exposed for tests).
std::string cpio_newc_header(const CpioEntry& entry, std::uint32_t mtime);

} // namespace image
