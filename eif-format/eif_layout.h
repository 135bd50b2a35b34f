// eif-format/eif_layout.h — the byte layout of an AWS Nitro Enclave Image File (EIF), version 4:
// constants, section types and big-endian encode/decode of the two fixed headers. Pure data, no
// I/O; the reader (eif_reader.h) and the writer (eif_writer.h) are built on it.
//
// Layout (all integers big-endian, no padding):
//     0x000 EifHeader (548 bytes): magic ".eif", version, flags, default_mem, default_cpus,
//           reserved, num_sections, section_offsets[32], section_sizes[32], unused, crc32
//     then per section: EifSectionHeader (12 bytes: type u16, flags u16, size u64) + data
//
// Usage:
//     eif::EifHeader header = eif::decode_header(bytes);   // no validation, see eif_reader.h
//     std::array<uint8_t, eif::kHeaderSize> raw = eif::encode_header(header);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace eif {

inline constexpr std::size_t kHeaderSize = 548;          // 0x224
inline constexpr std::size_t kSectionHeaderSize = 12;
inline constexpr std::size_t kMaxSections = 32;
inline constexpr std::size_t kCrcOffset = 0x220;         // CRC covers every byte but these 4
inline constexpr std::size_t kNumSectionsOffset = 0x1a;
inline constexpr std::size_t kSectionOffsetsOffset = 0x1c;
inline constexpr std::size_t kSectionSizesOffset = 0x11c;
inline constexpr std::size_t kUnusedOffset = 0x21c;
inline constexpr std::uint16_t kCurrentVersion = 4;
inline constexpr std::uint16_t kFlagArchArm64 = 0x1;     // header flags bit 0: 0 = x86_64
inline constexpr std::uint64_t kDefaultMem = 1ull << 30; // what the AWS builder writes
inline constexpr std::uint64_t kDefaultCpus = 2;
inline constexpr std::uint64_t kMaxSignatureSize = 32768; // spec limit of the signature section
inline constexpr std::array<std::uint8_t, 4> kMagic { '.', 'e', 'i', 'f' };

enum class SectionType : std::uint16_t {
    Invalid = 0,
    Kernel = 1,
    Cmdline = 2,
    Ramdisk = 3,
    Signature = 4,
    Metadata = 5,
};

// "kernel", "cmdline", ... ; "type N" for values outside the enum.
std::string section_type_name(std::uint16_t type);

struct EifHeader {
    std::array<std::uint8_t, 4> magic { kMagic };
    std::uint16_t version { kCurrentVersion };
    std::uint16_t flags { 0 };
    std::uint64_t default_mem { kDefaultMem };
    std::uint64_t default_cpus { kDefaultCpus };
    std::uint16_t reserved { 0 };
    std::uint16_t num_sections { 0 };
    std::array<std::uint64_t, kMaxSections> section_offsets {};
    std::array<std::uint64_t, kMaxSections> section_sizes {};
    std::uint32_t unused { 0 };
    std::uint32_t crc32 { 0 };
};

struct SectionHeader {
    std::uint16_t type { 0 };
    std::uint16_t flags { 0 };
    std::uint64_t size { 0 };
};

EifHeader decode_header(const std::uint8_t (&raw)[kHeaderSize]);
std::array<std::uint8_t, kHeaderSize> encode_header(const EifHeader& header);
SectionHeader decode_section_header(const std::uint8_t (&raw)[kSectionHeaderSize]);
std::array<std::uint8_t, kSectionHeaderSize> encode_section_header(const SectionHeader& header);

// Big-endian helpers (shared by the layout code and tests).
void put_be16(std::uint8_t* p, std::uint16_t v);
void put_be32(std::uint8_t* p, std::uint32_t v);
void put_be64(std::uint8_t* p, std::uint64_t v);
std::uint16_t get_be16(const std::uint8_t* p);
std::uint32_t get_be32(const std::uint8_t* p);
std::uint64_t get_be64(const std::uint8_t* p);

// "0x1a2b" — how every error message prints an offset.
std::string hex_offset(std::uint64_t offset);

} // namespace eif
