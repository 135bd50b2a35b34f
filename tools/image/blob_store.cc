#include "tools/image/blob_store.h"

#include "base/error.h"
#include "tools/image/file_tree.h"
#include "tools/image/temp_file.h"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace image {

struct BlobStore::Archive {
    struct Member {
        BlobRange range;           // regular files
        std::string link;          // symlink target (relative to the member's directory)
        std::string hardlink;      // hardlink target (a member name)
    };
    base::UniqueFd file;
    std::vector<TempFile> scratch; // unpacked members of a compressed archive
    std::map<std::string, Member> members;
};

namespace {

std::string normalize(const std::string& name, const std::string& what)
{
    std::vector<std::string> parts = split_entry_path(name, what);
    std::string out;
    for (const auto& p : parts)
        out += (out.empty() ? "" : "/") + p;
    return out;
}

struct ArchiveReader {
    archive* a { archive_read_new() };
    ~ArchiveReader() { archive_read_free(a); }
};

} // namespace

BlobStore::BlobStore(BlobStore&&) noexcept = default;
BlobStore& BlobStore::operator=(BlobStore&&) noexcept = default;
BlobStore::~BlobStore() = default;

BlobStore BlobStore::open_directory(const std::string& dir)
{
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            throw base::Error(base::ErrorKind::NotFound, "IMG_SOURCE_NOT_FOUND",
                "image layout directory '" + dir + "' does not exist; pass oci:DIR with the directory an OCI image was saved to (e.g. by `skopeo copy ... oci:DIR`)");
        base::throw_errno("IMG_SOURCE_OPEN", "cannot open image layout directory", dir);
    }
    BlobStore store;
    store.m_label = dir;
    store.m_dir.reset(fd);
    return store;
}

BlobStore BlobStore::open_archive(const std::string& path, const std::string& scratch_near, const UnpackLimits& limits)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT)
            throw base::Error(base::ErrorKind::NotFound, "IMG_SOURCE_NOT_FOUND", "image archive '" + path + "' does not exist");
        base::throw_errno("IMG_SOURCE_OPEN", "cannot open image archive", path);
    }
    if (!S_ISREG(st.st_mode))
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_SOURCE_NOT_FILE", "image archive '" + path + "' is not a regular file");

    BlobStore store;
    store.m_label = path;
    store.m_archive = std::make_unique<Archive>();
    Archive& ar = *store.m_archive;
    ar.file = base::open_read(path);

    ArchiveReader reader;
    archive_read_support_format_tar(reader.a);
    archive_read_support_filter_gzip(reader.a);
    archive_read_support_filter_zstd(reader.a);
    archive_read_support_filter_xz(reader.a);
    archive_read_support_filter_bzip2(reader.a);
    if (archive_read_open_fd(reader.a, ar.file.get(), 1 << 20) != ARCHIVE_OK)
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_ARCHIVE_BAD",
            "'" + path + "' is not a tar archive (" + archive_error_string(reader.a) + "); pass a file written by `docker save`, `podman save` or `skopeo copy ... oci-archive:FILE`");
    bool compressed = false;
    UnpackTotals totals;
    const std::string where = "image archive '" + path + "'";
    for (;;) {
        archive_entry* entry = nullptr;
        int r = archive_read_next_header(reader.a, &entry);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            throw base::Error(base::ErrorKind::InvalidInput, "IMG_ARCHIVE_BAD",
                "'" + path + "' is not a readable tar archive: " + archive_error_string(reader.a));
        compressed = archive_filter_count(reader.a) > 1;
        count_entry(limits, totals, where);
        const char* raw_name = archive_entry_pathname(entry);
        if (!raw_name)
            continue;
        std::string name = normalize(raw_name, "archive member");
        if (name.empty())
            continue;
        Archive::Member member;
        if (const char* hl = archive_entry_hardlink(entry)) {
            member.hardlink = normalize(hl, "hardlink target of archive member '" + name + "'");
        } else if (archive_entry_filetype(entry) == AE_IFLNK) {
            member.link = archive_entry_symlink(entry) ? archive_entry_symlink(entry) : "";
        } else if (archive_entry_filetype(entry) == AE_IFREG) {
            std::uint64_t size = static_cast<std::uint64_t>(archive_entry_size(entry));
            if (archive_entry_sparse_count(entry) > 0)
                throw base::Error(base::ErrorKind::InvalidInput, "IMG_ARCHIVE_BAD", "'" + path + "': member '" + name + "' is a sparse file; image archives never hold those");
            member.range = BlobRange { .fd = ar.file.get(), .offset = 0, .size = size, .name = path + ":" + name };
            if (!compressed) {
                member.range.offset = static_cast<std::uint64_t>(archive_filter_bytes(reader.a, 0));
                if (member.range.offset + size > static_cast<std::uint64_t>(st.st_size))
                    throw base::Error(base::ErrorKind::InvalidInput, "IMG_ARCHIVE_TRUNCATED", "'" + path + "': member '" + name + "' runs past the end of the file (truncated archive?)");
            } else {
                count_bytes(limits, totals, size, where, "member '" + name + "'");
                TempFile tmp = TempFile::create_near(scratch_near);
                const void* block = nullptr;
                size_t len = 0;
                la_int64_t off = 0;
                std::uint64_t written = 0;
                for (;;) {
                    int d = archive_read_data_block(reader.a, &block, &len, &off);
                    if (d == ARCHIVE_EOF)
                        break;
                    if (d < ARCHIVE_WARN)
                        throw base::Error(base::ErrorKind::InvalidInput, "IMG_ARCHIVE_BAD",
                            "'" + path + "': cannot unpack member '" + name + "': " + archive_error_string(reader.a));
                    if (static_cast<std::uint64_t>(off) + len > size)
                        throw base::Error(base::ErrorKind::InvalidInput, "IMG_ARCHIVE_BAD",
                            "'" + path + "': member '" + name + "' has more data than its " + std::to_string(size) + "-byte size");
                    if (::pwrite(tmp.fd(), block, len, off) != static_cast<ssize_t>(len))
                        base::throw_errno("IMG_TEMP_FILE", "cannot write a scratch file for", name);
                    check_ratio(limits, static_cast<std::uint64_t>(archive_filter_bytes(reader.a, 0)),
                        static_cast<std::uint64_t>(st.st_size), where);
                    written = std::max<std::uint64_t>(written, static_cast<std::uint64_t>(off) + len);
                }
                if (written != size)
                    throw base::Error(base::ErrorKind::InvalidInput, "IMG_ARCHIVE_TRUNCATED", "'" + path + "': member '" + name + "' is truncated");
                member.range.fd = tmp.fd();
                ar.scratch.push_back(std::move(tmp));
            }
        } else {
            continue; // directories and anything else: not blobs
        }
        ar.members.insert_or_assign(name, std::move(member));
    }
    return store;
}

BlobRange BlobStore::lookup(const std::string& raw_name) const
{
    std::string name = normalize(raw_name, "blob path in " + m_label + ":");
    if (name.empty())
        return {};
    if (m_archive) {
        for (int hops = 0; hops < 16; ++hops) {
            auto it = m_archive->members.find(name);
            if (it == m_archive->members.end())
                return {};
            const Archive::Member& m = it->second;
            if (m.range.fd >= 0)
                return m.range;
            if (!m.hardlink.empty()) {
                name = m.hardlink;
                continue;
            }
            std::string dir = name.find('/') == std::string::npos ? "" : name.substr(0, name.rfind('/'));
            if (!m.link.empty() && m.link[0] == '/')
                name = normalize(m.link, "symlink target in " + m_label);
            else
                name = normalize(dir + (dir.empty() ? "" : "/") + m.link, "symlink target in " + m_label);
        }
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_ARCHIVE_BAD", m_label + ": too many links while looking up '" + raw_name + "'");
    }
    // A directory: open beneath it only (no symlink or ".." may lead outside).
    open_how how {};
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    int fd = static_cast<int>(::syscall(SYS_openat2, m_dir.get(), name.c_str(), &how, sizeof how));
    if (fd < 0 && errno == ENOSYS)
        fd = ::openat(m_dir.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return {};
        if (errno == EXDEV || errno == ELOOP)
            throw base::Error(base::ErrorKind::InvalidInput, "IMG_LAYOUT_PATH_ESCAPE", m_label + "/" + name + " leads outside the image layout directory");
        base::throw_errno("IMG_SOURCE_OPEN", "cannot open", m_label + "/" + name);
    }
    base::UniqueFd owned(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_SOURCE_NOT_FILE", m_label + "/" + name + " is not a regular file");
    m_dir_files.push_back(std::move(owned)); // open as long as the store

    return BlobRange { .fd = fd, .offset = 0, .size = static_cast<std::uint64_t>(st.st_size), .name = m_label + "/" + name };
}

BlobRange BlobStore::find(const std::string& name) const
{
    BlobRange r = lookup(name);
    if (r.fd < 0)
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_BLOB_MISSING", m_label + " has no '" + name + "' (incomplete or not an image of the expected kind)");
    return r;
}

std::string BlobStore::read_small(const BlobRange& range, std::size_t max_bytes) const
{
    if (range.size > max_bytes)
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_BLOB_TOO_LARGE",
            range.name + " is " + std::to_string(range.size) + " bytes; at most " + std::to_string(max_bytes) + " are accepted for it");
    std::string out(range.size, '\0');
    base::pread_exact(range.fd, out.data(), out.size(), range.offset, range.name);
    return out;
}

} // namespace image
