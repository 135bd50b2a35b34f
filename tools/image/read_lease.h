// tools/image/read_lease.h — proof that nobody changed a file while we read it twice. A read
// lease (fcntl F_SETLEASE, F_RDLCK) can only be taken while no one has the file open for
// writing; once held, anyone who opens it for writing or truncates it first breaks the lease
// (their open waits until we let go, up to /proc/sys/fs/lease-break-time seconds). So a file
// hashed and later read again under a lease that is still intact gave the same bytes both times.
// make-img uses it to read uncompressed layers' file contents straight from the verified blob
// instead of copying them to a scratch file.
//
// The kernel signals a lease break with SIGIO, whose default action ends the process: take()
// sets SIGIO to be ignored when it still has its default action (nothing else here uses it), and
// intact() asks the kernel instead.
//
// Usage:
//     std::optional<image::ReadLease> lease = image::ReadLease::take(fd);   // fd opened O_RDONLY
//     if (!lease) { /* open for writing elsewhere, not ours, or no leases here: copy instead */ }
//     ... hash the file, read it again ...
//     if (!lease->intact()) { /* someone opened it for writing meanwhile: the reads may differ */ }
#pragma once

#include <optional>

namespace image {

class ReadLease {
public:
    // A lease on fd (which must stay open while the lease lives), or nullopt where the kernel
    // refuses one: the file is open for writing somewhere, belongs to another user (without
    // CAP_LEASE), its filesystem has no leases, or leases are off (fs.leases-enable = 0).
    static std::optional<ReadLease> take(int fd);

    ReadLease(ReadLease&& other) noexcept;
    ReadLease& operator=(ReadLease&& other) noexcept;
    ReadLease(const ReadLease&) = delete;
    ReadLease& operator=(const ReadLease&) = delete;
    ~ReadLease();

    // True while no one has opened the file for writing or truncated it since take().
    bool intact() const;
    int fd() const { return m_fd; }

private:
    explicit ReadLease(int fd)
        : m_fd(fd)
    {
    }
    void release();
    int m_fd { -1 };
};

} // namespace image
