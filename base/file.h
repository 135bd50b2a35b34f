// base/file.h — small, safe file primitives: RAII descriptors, whole-file reads with a size cap,
// and AtomicFile, which makes "bad input leaves nothing half-written" easy.
//
// Usage:
//     base::AtomicFile out("image.eif");       // creates image.eif.tmp-XXXXXX beside it
//     out.write(header.data(), header.size());
//     out.commit();                            // fsync + rename; without it the temp is removed
//
//     std::string text = base::read_file("cmdline", 1 << 20);  // throws if larger than 1 MiB
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace base {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd)
        : m_fd(fd)
    {
    }
    UniqueFd(UniqueFd&& other) noexcept
        : m_fd(std::exchange(other.m_fd, -1))
    {
    }
    UniqueFd& operator=(UniqueFd&& other) noexcept
    {
        if (this != &other)
            reset(std::exchange(other.m_fd, -1));
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return m_fd; }
    bool valid() const { return m_fd >= 0; }
    int release() { return std::exchange(m_fd, -1); }
    void reset(int fd = -1);

private:
    int m_fd { -1 };
};

// Opens a file read-only (O_CLOEXEC); throws base::Error naming the path on failure.
UniqueFd open_read(const std::string& path);

// Reads a whole file; throws if it is larger than max_bytes (so hostile input cannot
// make us allocate without bound).
std::string read_file(const std::string& path, std::size_t max_bytes);

// Reads exactly size bytes at offset (pread loop); throws on a short read or error.
void pread_exact(int fd, void* buffer, std::size_t size, std::uint64_t offset, const std::string& path);
// Reads size bytes at offset in pieces of at most piece bytes (one buffer, reused) and hands each
// to fn in order; throws like pread_exact.
void read_in_pieces(int fd, std::uint64_t offset, std::uint64_t size, std::size_t piece, const std::string& path,
    const std::function<void(const std::uint8_t* data, std::size_t size)>& fn);

// Writes all bytes (write loop, EINTR-safe); throws on error.
void write_all(int fd, const void* data, std::size_t size, const std::string& path);
// Writes all bytes at offset (pwrite loop, EINTR-safe; the file offset does not move); throws on error.
void pwrite_all(int fd, const void* data, std::size_t size, std::uint64_t offset, const std::string& path);

// A file that appears under its final name only when commit() succeeds.
class AtomicFile {
public:
    explicit AtomicFile(std::string final_path, unsigned mode = 0644);
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    ~AtomicFile();

    int fd() const { return m_fd.get(); }
    const std::string& temp_path() const { return m_temp_path; }
    void write(const void* data, std::size_t size);
    void write(const std::string& data) { write(data.data(), data.size()); }
    void pwrite(const void* data, std::size_t size, std::uint64_t offset);
    // Flushes to disk and renames over the final path.
    void commit();

private:
    std::string m_final_path;
    std::string m_temp_path;
    UniqueFd m_fd;
    bool m_committed { false };
};

} // namespace base
