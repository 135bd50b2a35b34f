#include "eif-format/eif_reader.h"

#include "base/error.h"
#include "eif-format/sealed_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <vector>
#include <zlib.h>

namespace eif {

namespace {

[[noreturn]] void fail(const std::string& code, const std::string& name, const std::string& message)
{
    throw base::Error(base::ErrorKind::InvalidInput, code, "eif: " + name + ": " + message);
}

bool known_type(std::uint16_t type)
{
    return type >= static_cast<std::uint16_t>(SectionType::Kernel) && type <= static_cast<std::uint16_t>(SectionType::Metadata);
}

std::uint32_t crc_update(std::uint32_t crc, const std::uint8_t* data, std::size_t size)
{
    return static_cast<std::uint32_t>(::crc32_z(crc, data, size));
}

} // namespace

EifReader EifReader::open(const std::string& path, const ReadOptions& options)
{
    // O_NONBLOCK so that a FIFO given by mistake cannot block the open; parse() then rejects
    // anything but a regular file (for which O_NONBLOCK has no effect).
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        base::throw_errno("FILE_OPEN", "cannot open", path);
    return from_fd(base::UniqueFd(fd), path, options);
}

EifReader EifReader::open_sealed(const std::string& path, const ReadOptions& options)
{
    // The structure first, from the file (cheap, and it bounds the copy to a valid EIF's size),
    // then everything, CRC included, again from the sealed copy.
    ReadOptions structure = options;
    structure.verify_crc = false;
    EifReader original = open(path, structure);
    base::UniqueFd copy = sealed_copy(original.fd(), original.file_size(), path);
    return from_fd(std::move(copy), path, options);
}

EifReader EifReader::from_fd(base::UniqueFd fd, std::string name, const ReadOptions& options)
{
    EifReader reader;
    reader.m_fd = std::move(fd);
    reader.m_name = std::move(name);
    reader.parse(options);
    return reader;
}

void EifReader::parse(const ReadOptions& options)
{
    struct stat st {};
    if (::fstat(m_fd.get(), &st) != 0)
        base::throw_errno("FILE_STAT", "cannot stat", m_name);
    if (!S_ISREG(st.st_mode))
        fail("EIF_NOT_REGULAR", m_name, "not a regular file; pass an .eif file");
    m_file_size = static_cast<std::uint64_t>(st.st_size);
    if (m_file_size < kHeaderSize)
        fail("EIF_TRUNCATED", m_name, "file is " + std::to_string(m_file_size) + " bytes, shorter than the 548-byte EIF header");
    ::posix_fadvise(m_fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);

    std::uint8_t raw[kHeaderSize];
    base::pread_exact(m_fd.get(), raw, sizeof raw, 0, m_name);
    m_header = decode_header(raw);
    const EifHeader& h = m_header;

    if (h.magic != kMagic)
        fail("EIF_BAD_MAGIC", m_name, "bad magic at offset 0x0 (expected \".eif\"); not an Enclave Image File");
    bool old_ok = options.allow_old_versions && (h.version == 2 || h.version == 3);
    if (h.version != kCurrentVersion && !old_ok)
        fail("EIF_BAD_VERSION", m_name, "unsupported version " + std::to_string(h.version) + " at offset 0x4 (expected 4)");
    if (h.flags & ~kFlagArchArm64)
        fail("EIF_BAD_HEADER", m_name, "header flags at offset 0x6 are " + hex_offset(h.flags) + "; only bit 0 (arch) may be set");
    if (h.reserved != 0)
        fail("EIF_BAD_HEADER", m_name, "reserved field at offset 0x18 is " + std::to_string(h.reserved) + ", must be 0");
    if (h.unused != 0)
        fail("EIF_BAD_HEADER", m_name, "unused field at offset 0x21c is " + std::to_string(h.unused) + ", must be 0");
    if (h.num_sections == 0 || h.num_sections > kMaxSections)
        fail("EIF_BAD_HEADER", m_name, "num_sections at offset 0x1a is " + std::to_string(h.num_sections) + "; must be 1..32");
    for (std::size_t i = h.num_sections; i < kMaxSections; ++i) {
        if (h.section_offsets[i] != 0)
            fail("EIF_BAD_HEADER", m_name, "unused section_offsets[" + std::to_string(i) + "] at offset " + hex_offset(kSectionOffsetsOffset + 8 * i) + " is not 0");
        if (h.section_sizes[i] != 0)
            fail("EIF_BAD_HEADER", m_name, "unused section_sizes[" + std::to_string(i) + "] at offset " + hex_offset(kSectionSizesOffset + 8 * i) + " is not 0");
    }

    std::uint64_t expected = kHeaderSize;
    std::optional<std::size_t> kernel, cmdline;
    for (std::size_t i = 0; i < h.num_sections; ++i) {
        std::string where = "section " + std::to_string(i);
        std::uint64_t offset = h.section_offsets[i];
        std::uint64_t size = h.section_sizes[i];
        if (offset != expected) {
            fail("EIF_BAD_LAYOUT", m_name, where + ": section_offsets[" + std::to_string(i) + "] at offset "
                    + hex_offset(kSectionOffsetsOffset + 8 * i) + " is " + hex_offset(offset) + " but the previous data ends at "
                    + hex_offset(expected) + " (" + (offset > expected ? "gap" : "overlap") + "); sections must be back to back");
        }
        if (m_file_size - offset < kSectionHeaderSize)
            fail("EIF_TRUNCATED", m_name, where + " header at offset " + hex_offset(offset) + " is past the end of the file (" + std::to_string(m_file_size) + " bytes)");
        if (size > m_file_size - offset - kSectionHeaderSize)
            fail("EIF_TRUNCATED", m_name, where + " at offset " + hex_offset(offset) + ": size " + std::to_string(size)
                    + " runs past the end of the file (" + std::to_string(m_file_size) + " bytes)");
        std::uint8_t raw_section[kSectionHeaderSize];
        base::pread_exact(m_fd.get(), raw_section, sizeof raw_section, offset, m_name);
        SectionHeader sh = decode_section_header(raw_section);
        std::string at = where + " header at offset " + hex_offset(offset);
        if (!known_type(sh.type))
            fail("EIF_BAD_SECTION", m_name, at + ": " + (sh.type == 0 ? std::string("invalid section type 0") : "unknown section type " + std::to_string(sh.type)));
        if (sh.flags != 0)
            fail("EIF_BAD_SECTION", m_name, at + ": flags " + hex_offset(sh.flags) + " must be 0");
        if (sh.size != size)
            fail("EIF_BAD_SECTION", m_name, at + ": size " + std::to_string(sh.size) + " does not match header table size " + std::to_string(size));

        auto type = static_cast<SectionType>(sh.type);
        m_sections.push_back(SectionInfo { i, type, offset, offset + kSectionHeaderSize, size });
        auto once = [&](std::optional<std::size_t>& slot, const char* what) {
            if (slot)
                fail("EIF_DUPLICATE_SECTION", m_name, at + ": second " + what + " section (the first is section " + std::to_string(*slot) + ")");
            slot = i;
        };
        switch (type) {
        case SectionType::Kernel:
            once(kernel, "kernel");
            break;
        case SectionType::Cmdline:
            once(cmdline, "cmdline");
            break;
        case SectionType::Metadata:
            once(m_metadata, "metadata");
            break;
        case SectionType::Signature:
            once(m_signature, "signature");
            if (size > kMaxSignatureSize)
                fail("EIF_BAD_SECTION", m_name, at + ": signature section is " + std::to_string(size) + " bytes, more than the 32768 allowed");
            break;
        case SectionType::Ramdisk:
            if (!kernel)
                fail("EIF_BAD_LAYOUT", m_name, at + ": ramdisk before the kernel section; ramdisks must follow the kernel");
            m_ramdisks.push_back(i);
            break;
        case SectionType::Invalid:
            break;
        }
        expected = offset + kSectionHeaderSize + size;
    }
    if (expected != m_file_size)
        fail("EIF_BAD_LAYOUT", m_name, std::to_string(m_file_size - expected) + " unexpected bytes after the last section at offset " + hex_offset(expected));
    if (!kernel)
        fail("EIF_MISSING_SECTION", m_name, "no kernel section");
    if (!cmdline)
        fail("EIF_MISSING_SECTION", m_name, "no cmdline section");
    if (m_ramdisks.empty())
        fail("EIF_MISSING_SECTION", m_name, "no ramdisk section");
    if (h.version >= 4 && !m_metadata)
        fail("EIF_MISSING_SECTION", m_name, "no metadata section (required by EIF version 4)");
    m_kernel = *kernel;
    m_cmdline = *cmdline;

    if (options.verify_crc) {
        ScanResult result = scan();
        if (!result.crc_ok)
            fail("EIF_BAD_CRC", m_name, "CRC-32 mismatch: header at offset 0x220 says " + hex_offset(result.stored_crc)
                    + ", the contents give " + hex_offset(result.computed_crc) + "; the file is corrupt");
    }
}

std::uint64_t EifReader::ramdisks_size() const
{
    std::uint64_t total = 0;
    for (std::size_t i : m_ramdisks)
        total += m_sections[i].size;
    return total;
}

void EifReader::read_section(std::size_t index, void* buffer, std::size_t buffer_size) const
{
    const SectionInfo& s = section(index);
    if (buffer_size < s.size)
        throw base::Error(base::ErrorKind::Internal, "EIF_BUFFER_TOO_SMALL",
            "eif: " + m_name + ": section " + std::to_string(index) + " is " + std::to_string(s.size) + " bytes, buffer has " + std::to_string(buffer_size));
    base::pread_exact(m_fd.get(), buffer, s.size, s.data_offset, m_name);
}

void EifReader::read_ramdisks(void* buffer, std::size_t buffer_size) const
{
    if (buffer_size < ramdisks_size())
        throw base::Error(base::ErrorKind::Internal, "EIF_BUFFER_TOO_SMALL",
            "eif: " + m_name + ": the ramdisks are " + std::to_string(ramdisks_size()) + " bytes, buffer has " + std::to_string(buffer_size));
    auto* out = static_cast<std::uint8_t*>(buffer);
    for (std::size_t i : m_ramdisks) {
        read_section(i, out, m_sections[i].size);
        out += m_sections[i].size;
    }
}

void EifReader::for_each_chunk(std::size_t index, const ChunkCallback& callback, std::size_t chunk_size) const
{
    const SectionInfo& s = section(index);
    if (chunk_size == 0)
        chunk_size = kChunkSize;
    std::vector<std::uint8_t> buffer(static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, s.size)));
    std::uint64_t done = 0;
    while (done < s.size) {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), s.size - done));
        base::pread_exact(m_fd.get(), buffer.data(), n, s.data_offset + done, m_name);
        callback(buffer.data(), n);
        done += n;
    }
}

std::string EifReader::read_small_section(std::size_t index, std::size_t max_bytes) const
{
    const SectionInfo& s = section(index);
    if (s.size > max_bytes)
        fail("EIF_SECTION_TOO_LARGE", m_name, "section " + std::to_string(index) + " (" + section_type_name(static_cast<std::uint16_t>(s.type))
                + ") at offset " + hex_offset(s.header_offset) + " is " + std::to_string(s.size) + " bytes; at most "
                + std::to_string(max_bytes) + " are accepted");
    std::string out(static_cast<std::size_t>(s.size), '\0');
    base::pread_exact(m_fd.get(), out.data(), out.size(), s.data_offset, m_name);
    return out;
}

ScanResult EifReader::scan() const
{
    ScanResult result;
    std::uint8_t raw[kHeaderSize];
    base::pread_exact(m_fd.get(), raw, sizeof raw, 0, m_name);
    std::uint32_t crc = crc_update(0, raw, kCrcOffset);
    ImageMeasurer measurer;
    for (const SectionInfo& s : m_sections) {
        std::uint8_t raw_section[kSectionHeaderSize];
        base::pread_exact(m_fd.get(), raw_section, sizeof raw_section, s.header_offset, m_name);
        crc = crc_update(crc, raw_section, sizeof raw_section);
        measurer.begin_section(s.type);
        for_each_chunk(s.index, [&](const std::uint8_t* data, std::size_t size) {
            crc = crc_update(crc, data, size);
            measurer.update(data, size);
        });
    }
    result.stored_crc = m_header.crc32;
    result.computed_crc = crc;
    result.crc_ok = crc == m_header.crc32;
    result.measurements = measurer.finish();
    result.pcr0 = measurer.pcr0();
    return result;
}

} // namespace eif
