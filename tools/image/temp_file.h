// tools/image/temp_file.h — an anonymous scratch file that can never be left behind.
//
// The file is created with O_TMPFILE (no name at all, so even a crash or SIGKILL leaves nothing on
// disk); where the filesystem does not support that, it is created with mkstemp and unlinked at
// once. path() names it as /proc/self/fd/N for APIs that want a path (e.g. eif::write_eif).
//
// Usage:
//     image::TempFile spill = image::TempFile::create_near("/out/app.eif"); // in /out, else $TMPDIR
//     base::write_all(spill.fd(), data, size, spill.path());
#pragma once

#include "base/file.h"

#include <string>

namespace image {

class TempFile {
public:
    // A scratch file in the directory of near_path (so big images land where the output goes),
    // falling back to $TMPDIR (or /tmp) when that directory cannot hold one.
    static TempFile create_near(const std::string& near_path);
    // A scratch file in dir.
    static TempFile create_in(const std::string& dir);

    int fd() const { return m_fd.get(); }
    const std::string& path() const { return m_path; }

private:
    explicit TempFile(base::UniqueFd fd);
    base::UniqueFd m_fd;
    std::string m_path;
};

// The directory part of a path ("." when it has none).
std::string directory_of(const std::string& path);

} // namespace image
