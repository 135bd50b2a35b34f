// eif-format/eif_reader.h — opens an EIF, validates its structure strictly and streams its
// sections. Never reads a whole image into memory: section data is read on demand, in chunks.
//
// open() checks (each failure is a base::Error naming the offset and the field): magic, version
// (4; 2 and 3 only with ReadOptions::allow_old_versions), header flags (arch bit only), reserved
// and unused fields 0, num_sections in 1..32, unused slots zero, every section header's type
// known, flags 0 and size equal to the header table's, sections back to back from 0x224 with no
// gap, overlap or trailing byte, exactly one kernel and one cmdline, at least one ramdisk, all
// ramdisks after the kernel, at most one metadata (required for v4) and signature section, the
// signature at most 32768 bytes, and (ReadOptions::verify_crc, on by default) the CRC-32.
//
// Usage:
//     auto eif = eif::EifReader::open("app.eif");                   // throws base::Error
//     auto booted = eif::EifReader::open_sealed("app.eif");         // checked and booted from one copy
//     const auto& k = eif.section(eif.kernel_index());
//     std::vector<uint8_t> kernel(k.size);
//     eif.read_section(eif.kernel_index(), kernel.data(), kernel.size());
//     eif.read_ramdisks(guest_ptr, eif.ramdisks_size());            // all ramdisks, concatenated
//     eif.for_each_chunk(i, [](const uint8_t* p, size_t n) { ... });
//     eif::ScanResult scan = eif.scan();                             // CRC + PCRs in one pass
#pragma once

#include "base/file.h"
#include "eif-format/eif_layout.h"
#include "eif-format/pcr.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace eif {

inline constexpr std::size_t kChunkSize = 1 << 20;

struct ReadOptions {
    bool allow_old_versions { false }; // accept versions 2 and 3 (no metadata section)
    bool verify_crc { true };          // open() streams the whole file once to check the CRC
};

struct SectionInfo {
    std::size_t index { 0 };
    SectionType type { SectionType::Invalid };
    std::uint64_t header_offset { 0 }; // the 12-byte section header
    std::uint64_t data_offset { 0 };   // header_offset + 12
    std::uint64_t size { 0 };
};

struct ScanResult {
    bool crc_ok { false };
    std::uint32_t stored_crc { 0 };
    std::uint32_t computed_crc { 0 };
    Measurements measurements; // pcr0/1/2 (pcr8 is not derived here, see signature.h)
    Digest pcr0 {};
};

using ChunkCallback = std::function<void(const std::uint8_t* data, std::size_t size)>;

class EifReader {
public:
    static EifReader open(const std::string& path, const ReadOptions& options = {});
    // As open(), but reads the file once into a sealed memfd (sealed_copy.h) and serves every
    // later read from that copy: what is checked is what is used, whatever happens to the file.
    static EifReader open_sealed(const std::string& path, const ReadOptions& options = {});
    // Takes an open descriptor (e.g. a memfd); name is used in messages.
    static EifReader from_fd(base::UniqueFd fd, std::string name, const ReadOptions& options = {});

    const EifHeader& header() const { return m_header; }
    const std::vector<SectionInfo>& sections() const { return m_sections; }
    const SectionInfo& section(std::size_t index) const { return m_sections.at(index); }
    std::uint64_t file_size() const { return m_file_size; }
    const std::string& name() const { return m_name; }
    int fd() const { return m_fd.get(); }

    std::size_t kernel_index() const { return m_kernel; }
    std::size_t cmdline_index() const { return m_cmdline; }
    std::optional<std::size_t> metadata_index() const { return m_metadata; }
    std::optional<std::size_t> signature_index() const { return m_signature; }
    const std::vector<std::size_t>& ramdisk_indices() const { return m_ramdisks; }
    std::uint64_t ramdisks_size() const;

    // Reads section data into buffer; buffer_size must be >= the section size.
    void read_section(std::size_t index, void* buffer, std::size_t buffer_size) const;
    // Reads all ramdisks, concatenated in file order (one initramfs), into buffer.
    void read_ramdisks(void* buffer, std::size_t buffer_size) const;
    // Calls back with consecutive chunks (at most chunk_size bytes) of section data.
    void for_each_chunk(std::size_t index, const ChunkCallback& callback, std::size_t chunk_size = kChunkSize) const;
    // A small section as a string; throws if it is larger than max_bytes.
    std::string read_small_section(std::size_t index, std::size_t max_bytes) const;

    // One streaming pass over the file: CRC-32 and PCR0/1/2.
    ScanResult scan() const;

private:
    EifReader() = default;
    void parse(const ReadOptions& options);

    base::UniqueFd m_fd;
    std::string m_name;
    std::uint64_t m_file_size { 0 };
    EifHeader m_header;
    std::vector<SectionInfo> m_sections;
    std::size_t m_kernel { 0 };
    std::size_t m_cmdline { 0 };
    std::optional<std::size_t> m_metadata;
    std::optional<std::size_t> m_signature;
    std::vector<std::size_t> m_ramdisks;
};

} // namespace eif
