#include "tools/image/content_sources.h"

#include "base/chunk_pipeline.h"
#include "base/error.h"
#include "base/file.h"

namespace image {

namespace {
const std::string kSpillName = "the image contents scratch file";
}

ContentSources::ContentSources(SpillFile& spill)
    : m_spill(spill)
    , m_hash_turns(static_cast<std::ptrdiff_t>(base::available_cpus()))
{
}

std::optional<std::uint32_t> ContentSources::in_place(const BlobRange& blob)
{
    for (std::size_t i = 0; i < m_in_place.size(); ++i)
        if (m_in_place[i].lease.fd() == blob.fd)
            return static_cast<std::uint32_t>(i + 1);
    std::optional<ReadLease> lease = ReadLease::take(blob.fd);
    if (!lease)
        return std::nullopt;
    m_in_place.push_back(InPlace { std::move(*lease), blob.name });
    return static_cast<std::uint32_t>(m_in_place.size());
}

int ContentSources::fd(std::uint32_t source) const
{
    return source == 0 ? m_spill.fd() : m_in_place.at(source - 1).lease.fd();
}

const std::string& ContentSources::name(std::uint32_t source) const
{
    return source == 0 ? kSpillName : m_in_place.at(source - 1).name;
}

void ContentSources::pread(const Inode& inode, void* out, std::size_t size, std::uint64_t from) const
{
    base::pread_exact(fd(inode.data_source), out, size, inode.data_offset + from, name(inode.data_source));
}

void ContentSources::check_digest_later(const BlobRange& blob, const std::string& expected, const std::string& where)
{
    m_digests.push_back(std::make_unique<BackgroundDigest>(blob, expected, where, m_hash_turns));
}

void ContentSources::verify_digests()
{
    for (auto& digest : m_digests)
        digest->wait_and_check();
}

void ContentSources::verify()
{
    verify_digests();
    for (const InPlace& source : m_in_place)
        if (!source.lease.intact())
            throw base::Error(base::ErrorKind::InvalidInput, "IMG_BLOB_CHANGED",
                source.name + " was opened for writing while the image was built, so the files read from it may differ from "
                    "the bytes whose digest was checked; run make-img again once nothing writes to the image");
}

} // namespace image
