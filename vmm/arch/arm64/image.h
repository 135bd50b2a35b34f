// vmm/arch/arm64/image.h — validates an arm64 Linux "Image" (Documentation/arch/arm64/booting.rst)
// and extracts what loading it needs: text_offset, the size it occupies and its flags.
//
// Usage:
//     vmm::arm64::Image image = vmm::arm64::Image::parse(kernel_bytes);  // throws on a bad image
//     ram.write(kernel_base + image.text_offset(), image.data(), image.file_size());
//     // [kernel_base, kernel_base + image.text_offset() + image.memory_size()) stays free
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace vmm::arm64 {

class Image {
public:
    static constexpr std::size_t kHeaderSize = 64;
    static constexpr std::uint32_t kMagic = 0x644d'5241; // "ARM\x64" at offset 0x38

    // Checks the magic, little-endian, the page-size field, text_offset and image_size; throws
    // base::Error (InvalidInput, KERNEL_IMAGE) naming what is wrong. The span must outlive it.
    static Image parse(std::span<const std::uint8_t> file);

    const std::uint8_t* data() const { return m_file.data(); }
    std::size_t file_size() const { return m_file.size(); }
    std::uint64_t text_offset() const { return m_text_offset; }
    // Bytes the kernel occupies from its load address, .bss included (>= file_size()).
    std::uint64_t memory_size() const { return m_memory_size; }
    std::uint64_t flags() const { return m_flags; }
    // flags bit 3: the 2 MiB aligned base may be anywhere in RAM (else near its start).
    bool placement_anywhere() const { return m_flags & 0x8; }

private:
    std::span<const std::uint8_t> m_file;
    std::uint64_t m_text_offset { 0 };
    std::uint64_t m_memory_size { 0 };
    std::uint64_t m_flags { 0 };
};

} // namespace vmm::arm64
