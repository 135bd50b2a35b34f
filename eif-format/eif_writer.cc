#include "eif-format/eif_writer.h"

#include "base/error.h"
#include "base/file.h"
#include "eif-format/eif_layout.h"
#include "eif-format/eif_stream_writer.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

namespace eif {

SectionSource SectionSource::file(std::string path)
{
    SectionSource s;
    s.m_kind = Kind::File;
    s.m_text = std::move(path);
    return s;
}

SectionSource SectionSource::bytes(std::string data)
{
    SectionSource s;
    s.m_kind = Kind::Bytes;
    s.m_text = std::move(data);
    return s;
}

SectionSource SectionSource::producer(std::function<void(const ChunkSink&)> produce)
{
    SectionSource s;
    s.m_kind = Kind::Producer;
    s.m_produce = std::move(produce);
    return s;
}

std::string SectionSource::describe() const
{
    switch (m_kind) {
    case Kind::File:
        return m_text;
    case Kind::Bytes:
        return "memory";
    case Kind::Producer:
        return "producer";
    }
    return {};
}

void SectionSource::emit(const ChunkSink& sink) const
{
    switch (m_kind) {
    case Kind::Bytes:
        sink(m_text.data(), m_text.size());
        return;
    case Kind::Producer:
        m_produce(sink);
        return;
    case Kind::File: {
        base::UniqueFd fd = base::open_read(m_text);
        ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
        std::vector<std::uint8_t> buffer(kChunkSizeForFiles);
        for (;;) {
            ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                base::throw_errno("FILE_READ", "cannot read", m_text);
            }
            if (n == 0)
                return;
            sink(buffer.data(), static_cast<std::size_t>(n));
        }
    }
    }
}

namespace {

void check_request(const BuildRequest& request)
{
    if (request.kernel_path.empty())
        throw base::Error(base::ErrorKind::Usage, "EIF_NO_KERNEL", "no kernel given; pass --kernel or build one with `make kernel`");
    if (request.ramdisks.empty())
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_NO_RAMDISK", "an EIF needs at least one ramdisk");
    if (request.ramdisks.size() > kMaxSections - 4)
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_TOO_MANY_SECTIONS",
            std::to_string(request.ramdisks.size()) + " ramdisks given; an EIF holds at most 28");
    if (request.cmdline.find('\0') != std::string::npos)
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_CMDLINE", "the kernel command line contains a NUL byte");
    if (request.arch_flags & ~kFlagArchArm64)
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_FLAGS", "arch_flags may only be 0 (x86_64) or 1 (aarch64)");
    if (!request.metadata.is_object())
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_METADATA", "the metadata section must be a JSON object; see build_metadata()");
}

} // namespace

Measurements write_eif(const BuildRequest& request, const std::string& output_path)
{
    check_request(request);
    // Everything that can be checked up front is checked before the output exists.
    std::optional<Signer> signer;
    if (request.signing)
        signer.emplace(Signer::load(*request.signing, request.signing_time));
    base::open_read(request.kernel_path);

    base::AtomicFile file(output_path);
    StreamingWriter writer(file);
    writer.add(SectionType::Kernel, SectionSource::file(request.kernel_path));
    writer.add(SectionType::Cmdline, SectionSource::bytes(request.cmdline));
    writer.add(SectionType::Metadata, SectionSource::bytes(serialize_metadata(request.metadata)));
    for (const SectionSource& ramdisk : request.ramdisks)
        writer.add(SectionType::Ramdisk, ramdisk);
    Measurements m = writer.measure();
    if (signer) {
        writer.add(SectionType::Signature, SectionSource::bytes(signer->signature_section(writer.pcr0())));
        m.pcr8 = to_hex(signer->pcr8());
    }
    EifHeader header;
    header.flags = request.arch_flags;
    writer.finish(header);
    file.commit();
    return m;
}

} // namespace eif
