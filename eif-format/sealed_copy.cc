// eif-format/sealed_copy.cc — see sealed_copy.h.
#include "eif-format/sealed_copy.h"

#include "base/error.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>
#include <vector>

namespace eif {

namespace {

// sendfile into the memfd; a plain read/write loop where sendfile is not supported.
void copy_bytes(int from, int to, std::uint64_t size, const std::string& name)
{
    off_t offset = 0;
    std::uint64_t done = 0;
    bool use_sendfile = true;
    std::vector<char> buffer;
    while (done < size) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size - done, 1 << 30));
        ssize_t n;
        if (use_sendfile) {
            n = ::sendfile(to, from, &offset, want);
            if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
                use_sendfile = false;
                buffer.resize(1 << 20);
                continue;
            }
        } else {
            n = ::pread(from, buffer.data(), std::min(want, buffer.size()), static_cast<off_t>(done));
            if (n > 0)
                base::write_all(to, buffer.data(), static_cast<std::size_t>(n), "the sealed copy of " + name);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            base::throw_errno("FILE_READ", "cannot copy", name);
        if (n == 0)
            throw base::Error(base::ErrorKind::Io, "FILE_CHANGED",
                name + " became shorter while it was being read (" + std::to_string(done) + " of " + std::to_string(size)
                    + " bytes); something is rewriting it: start again once it is complete");
        done += static_cast<std::uint64_t>(n);
    }
}

} // namespace

base::UniqueFd sealed_copy(int fd, std::uint64_t size, const std::string& name)
{
    base::UniqueFd copy(::memfd_create("eif", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!copy.valid())
        base::throw_errno("MEMFD", "cannot create a sealed copy of", name);
    copy_bytes(fd, copy.get(), size, name);
    if (::fcntl(copy.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
        base::throw_errno("MEMFD", "cannot seal the copy of", name);
    return copy;
}

} // namespace eif
