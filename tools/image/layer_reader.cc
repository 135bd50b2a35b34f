#include "tools/image/layer_reader.h"

#include "base/chunk_pipeline.h"
#include "base/error.h"
#include "base/file.h"
#include "tools/image/blob_digest.h"

#include <archive.h>
#include <archive_entry.h>
#include <exception>
#include <optional>
#include <vector>

namespace image {

namespace {

constexpr std::size_t kReadSize = 1 << 20;

// Feeds libarchive from a BlobRange in 1 MiB reads. With `hash` set it hashes every byte on the
// way: the hash runs on a thread of its own (a base::ChunkPipeline stage) while libarchive unpacks
// the same bytes, so the digest check costs no time where there is a second CPU. Without (a layer
// read in place, whose digest a BackgroundDigest checks) libarchive may skip file data unread.
struct Feed {
    const BlobRange* range;
    bool hash { true };
    std::uint64_t position { 0 };
    std::vector<char> buffer = std::vector<char>(kReadSize);
    Sha256 sha {};
    // Only for a hashing feed (its stage thread is not started otherwise).
    std::optional<base::ChunkPipeline> hashing {};
    std::exception_ptr error {};

    void start()
    {
        if (hash)
            hashing.emplace(std::vector<base::ChunkPipeline::Stage> { [this](const std::uint8_t* p, std::size_t n) { sha.update(p, n); } });
    }

    std::size_t next()
    {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kReadSize, range->size - position));
        if (n > 0) {
            base::pread_exact(range->fd, buffer.data(), n, range->offset + position, range->name);
            if (hashing)
                hashing->push(buffer.data(), n);
            position += n;
        }
        return n;
    }
    std::uint64_t skip(std::uint64_t request)
    {
        std::uint64_t n = hash ? 0 : std::min(request, range->size - position); // a hashing feed reads everything
        position += n;
        return n;
    }
    // Reads the rest of the blob and returns its digest.
    std::string finish()
    {
        while (next() > 0) {
        }
        if (hashing)
            hashing->drain();
        return sha.finish();
    }
};

la_int64_t feed_skip(archive*, void* client, la_int64_t request)
{
    return static_cast<la_int64_t>(static_cast<Feed*>(client)->skip(static_cast<std::uint64_t>(request)));
}

la_ssize_t feed_read(archive*, void* client, const void** out)
{
    auto* feed = static_cast<Feed*>(client);
    try {
        std::size_t n = feed->next();
        *out = feed->buffer.data();
        return static_cast<la_ssize_t>(n);
    } catch (...) {
        feed->error = std::current_exception(); // never unwind through libarchive's C frames
        return -1;
    }
}

struct ArchiveReader {
    archive* a { archive_read_new() };
    ~ArchiveReader() { archive_read_free(a); }
};

bool looks_compressed(const BlobRange& range)
{
    unsigned char magic[4] = {};
    if (range.size < 4)
        return false;
    base::pread_exact(range.fd, magic, 4, range.offset, range.name);
    bool gzip = magic[0] == 0x1f && magic[1] == 0x8b;
    bool zstd = magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd;
    bool xz = magic[0] == 0xfd && magic[1] == '7' && magic[2] == 'z' && magic[3] == 'X';
    bool bzip2 = magic[0] == 'B' && magic[1] == 'Z' && magic[2] == 'h';
    return gzip || zstd || xz || bzip2;
}

std::uint32_t id_field(la_int64_t value, const std::string& path, const char* what)
{
    if (value < 0 || value > 0xffffffffll)
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_LAYER_BAD_ENTRY",
            "layer entry '" + path + "' has " + what + " " + std::to_string(value) + ", outside 0..4294967295");
    return static_cast<std::uint32_t>(value);
}

} // namespace

void read_layer(const LayerBlob& blob, unsigned index, FileTree& tree, ContentSources& sources, const UnpackLimits& limits,
    UnpackTotals& totals)
{
    const std::string where = "layer " + std::to_string(index + 1) + " (" + blob.range.name + ")";
    // Taken before the first byte is read, so that everything read from here on is covered.
    std::optional<std::uint32_t> blob_source = sources.in_place(blob.range);
    SpillFile& spill = sources.spill();
    const bool compressed = looks_compressed(blob.range);
    bool check = !blob.digest.empty() && !(blob.digest_is_diff_id && compressed);
    // A plain tar keeps each (non-sparse) file's bytes contiguous right after its header(s): with
    // the blob under a lease they are read from there when the ramdisk is written, and the digest
    // is checked by a thread of its own while make-img goes on (ContentSources::verify() waits).
    const bool in_place = blob_source && !compressed;

    Feed feed { .range = &blob.range, .hash = check && !in_place };
    feed.start();
    if (in_place && check)
        sources.check_digest_later(blob.range, blob.digest, where);
    ArchiveReader reader;
    archive_read_support_format_tar(reader.a);
    archive_read_support_format_empty(reader.a);
    archive_read_support_filter_gzip(reader.a);
    archive_read_support_filter_zstd(reader.a);
    archive_read_support_filter_xz(reader.a);
    archive_read_support_filter_bzip2(reader.a);

    auto fail = [&](const std::string& what) -> void {
        if (feed.error)
            std::rethrow_exception(feed.error);
        if (check && in_place) // a damaged layer is most usefully reported as the digest mismatch it is
            sources.verify_digests();
        if (feed.hash) {
            std::string actual = feed.finish();
            if (actual != blob.digest)
                throw digest_mismatch(where, actual, blob.digest);
        }
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_LAYER_BAD",
            where + ": " + what + ": " + (archive_error_string(reader.a) ? archive_error_string(reader.a) : "unknown error")
                + "; the layer is not a (gzip/zstd) tar or is damaged");
    };

    // The decompressed stream so far against the blob's size (a bomb is caught while it inflates).
    auto check_ratio = [&] {
        image::check_ratio(limits, static_cast<std::uint64_t>(archive_filter_bytes(reader.a, 0)), blob.range.size, where);
    };

    archive_read_set_callback_data(reader.a, &feed);
    archive_read_set_read_callback(reader.a, feed_read);
    archive_read_set_skip_callback(reader.a, feed_skip);
    if (archive_read_open1(reader.a) != ARCHIVE_OK)
        fail("cannot read");
    if (in_place && archive_filter_count(reader.a) != 1)
        fail("compressed in a way make-img does not recognise by its first bytes");
    for (;;) {
        archive_entry* e = nullptr;
        int r = archive_read_next_header(reader.a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            fail("bad tar header");
        check_ratio();
        count_entry(limits, totals, where);
        const char* raw_path = archive_entry_pathname(e);
        if (!raw_path)
            fail("entry without a name");
        LayerEntry entry;
        entry.path = raw_path;
        entry.mode = static_cast<std::uint32_t>(archive_entry_perm(e)) & 07777;
        entry.uid = id_field(archive_entry_uid(e), entry.path, "uid");
        entry.gid = id_field(archive_entry_gid(e), entry.path, "gid");
        std::uint64_t data_offset = 0;
        if (const char* hl = archive_entry_hardlink(e)) {
            entry.hardlink = true;
            entry.link_target = hl;
        } else {
            switch (archive_entry_filetype(e)) {
            case AE_IFDIR: entry.type = NodeType::Directory; break;
            case AE_IFLNK:
                entry.type = NodeType::Symlink;
                entry.link_target = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
                break;
            case AE_IFCHR: entry.type = NodeType::CharDevice; break;
            case AE_IFBLK: entry.type = NodeType::BlockDevice; break;
            case AE_IFIFO: entry.type = NodeType::Fifo; break;
            case AE_IFREG: entry.type = NodeType::Regular; break;
            default: continue; // sockets and unknown types cannot be packed into an initramfs
            }
            entry.rdev_major = static_cast<std::uint32_t>(archive_entry_rdevmajor(e));
            entry.rdev_minor = static_cast<std::uint32_t>(archive_entry_rdevminor(e));
        }
        if (!entry.hardlink && entry.type == NodeType::Regular) {
            entry.size = static_cast<std::uint64_t>(archive_entry_size(e));
            if (entry.size > 0xffffffffull)
                throw base::Error(base::ErrorKind::InvalidInput, "IMG_FILE_TOO_LARGE",
                    where + ": '" + entry.path + "' is " + std::to_string(entry.size)
                        + " bytes; an initramfs (newc cpio) holds files up to 4 GiB - 1, so leave it out of the enclave image");
            count_bytes(limits, totals, entry.size, where, "'" + entry.path + "'");
            if (in_place && archive_entry_sparse_count(e) == 0) {
                // The stream position right after the header is where the data starts.
                std::uint64_t at = static_cast<std::uint64_t>(archive_filter_bytes(reader.a, 0));
                if (at > blob.range.size || entry.size > blob.range.size - at)
                    fail("'" + entry.path + "' ends past the end of the layer");
                if (archive_read_data_skip(reader.a) != ARCHIVE_OK)
                    fail("cannot read the data of '" + entry.path + "'");
                tree.apply(index, entry, blob.range.offset + at, *blob_source);
                continue;
            }
            data_offset = spill.size();
            std::uint64_t written = 0;
            const void* block = nullptr;
            size_t len = 0;
            la_int64_t off = 0;
            for (;;) {
                int d = archive_read_data_block(reader.a, &block, &len, &off);
                if (d == ARCHIVE_EOF)
                    break;
                if (d < ARCHIVE_WARN)
                    fail("cannot read the data of '" + entry.path + "'");
                if (static_cast<std::uint64_t>(off) < written || static_cast<std::uint64_t>(off) + len > entry.size)
                    fail("bad data block in '" + entry.path + "'");
                spill.append_zeros(static_cast<std::uint64_t>(off) - written); // sparse holes
                spill.append(block, len);
                written = static_cast<std::uint64_t>(off) + len;
                check_ratio();
            }
            spill.append_zeros(entry.size - written);
        }
        tree.apply(index, entry, data_offset);
    }
    if (feed.error)
        std::rethrow_exception(feed.error);
    if (feed.hash) {
        // libarchive stops at the end-of-archive marker; hash whatever follows too.
        std::string actual = feed.finish();
        if (actual != blob.digest)
            throw digest_mismatch(where, actual, blob.digest);
    }
}

} // namespace image
