#include "eif-format/eif_layout.h"

#include <cstdio>

namespace eif {

std::string section_type_name(std::uint16_t type)
{
    switch (static_cast<SectionType>(type)) {
    case SectionType::Invalid:
        return "invalid";
    case SectionType::Kernel:
        return "kernel";
    case SectionType::Cmdline:
        return "cmdline";
    case SectionType::Ramdisk:
        return "ramdisk";
    case SectionType::Signature:
        return "signature";
    case SectionType::Metadata:
        return "metadata";
    }
    return "type " + std::to_string(type);
}

void put_be16(std::uint8_t* p, std::uint16_t v)
{
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}

void put_be32(std::uint8_t* p, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        p[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

void put_be64(std::uint8_t* p, std::uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        p[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}

std::uint16_t get_be16(const std::uint8_t* p)
{
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

std::uint32_t get_be32(const std::uint8_t* p)
{
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
        v = (v << 8) | p[i];
    return v;
}

std::uint64_t get_be64(const std::uint8_t* p)
{
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = (v << 8) | p[i];
    return v;
}

std::string hex_offset(std::uint64_t offset)
{
    char buffer[24];
    std::snprintf(buffer, sizeof buffer, "0x%llx", static_cast<unsigned long long>(offset));
    return buffer;
}

EifHeader decode_header(const std::uint8_t (&raw)[kHeaderSize])
{
    EifHeader h;
    for (std::size_t i = 0; i < 4; ++i)
        h.magic[i] = raw[i];
    h.version = get_be16(raw + 0x4);
    h.flags = get_be16(raw + 0x6);
    h.default_mem = get_be64(raw + 0x8);
    h.default_cpus = get_be64(raw + 0x10);
    h.reserved = get_be16(raw + 0x18);
    h.num_sections = get_be16(raw + kNumSectionsOffset);
    for (std::size_t i = 0; i < kMaxSections; ++i) {
        h.section_offsets[i] = get_be64(raw + kSectionOffsetsOffset + 8 * i);
        h.section_sizes[i] = get_be64(raw + kSectionSizesOffset + 8 * i);
    }
    h.unused = get_be32(raw + kUnusedOffset);
    h.crc32 = get_be32(raw + kCrcOffset);
    return h;
}

std::array<std::uint8_t, kHeaderSize> encode_header(const EifHeader& h)
{
    std::array<std::uint8_t, kHeaderSize> raw {};
    for (std::size_t i = 0; i < 4; ++i)
        raw[i] = h.magic[i];
    put_be16(raw.data() + 0x4, h.version);
    put_be16(raw.data() + 0x6, h.flags);
    put_be64(raw.data() + 0x8, h.default_mem);
    put_be64(raw.data() + 0x10, h.default_cpus);
    put_be16(raw.data() + 0x18, h.reserved);
    put_be16(raw.data() + kNumSectionsOffset, h.num_sections);
    for (std::size_t i = 0; i < kMaxSections; ++i) {
        put_be64(raw.data() + kSectionOffsetsOffset + 8 * i, h.section_offsets[i]);
        put_be64(raw.data() + kSectionSizesOffset + 8 * i, h.section_sizes[i]);
    }
    put_be32(raw.data() + kUnusedOffset, h.unused);
    put_be32(raw.data() + kCrcOffset, h.crc32);
    return raw;
}

SectionHeader decode_section_header(const std::uint8_t (&raw)[kSectionHeaderSize])
{
    return SectionHeader { get_be16(raw), get_be16(raw + 2), get_be64(raw + 4) };
}

std::array<std::uint8_t, kSectionHeaderSize> encode_section_header(const SectionHeader& h)
{
    std::array<std::uint8_t, kSectionHeaderSize> raw {};
    put_be16(raw.data(), h.type);
    put_be16(raw.data() + 2, h.flags);
    put_be64(raw.data() + 4, h.size);
    return raw;
}

} // namespace eif
