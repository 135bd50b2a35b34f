#include "vmm/arch/arm64/image.h"

#include "base/error.h"
#include "base/hex.h"

#include <cstring>
#include <string>

namespace vmm::arm64 {

namespace {

std::uint64_t le64(const std::uint8_t* p)
{
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = v << 8 | p[i];
    return v;
}

[[noreturn]] void refuse(const std::string& what)
{
    throw base::Error(base::ErrorKind::InvalidInput, "KERNEL_IMAGE", "not a bootable arm64 Image: " + what);
}

// Kernels before 3.17 leave image_size 0; text_offset is then 0x80000 (booting.rst).
constexpr std::uint64_t kLegacyTextOffset = 0x80000;
constexpr std::uint64_t kTextOffsetLimit = 2ull << 20; // below the 2 MiB alignment of the base
constexpr std::uint64_t kImageSizeLimit = 1ull << 30;  // far above any kernel: a corrupt header

} // namespace

Image Image::parse(std::span<const std::uint8_t> file)
{
    if (file.size() < kHeaderSize)
        refuse("the file has " + std::to_string(file.size()) + " bytes, less than the 64-byte header");
    const std::uint8_t* h = file.data();
    std::uint32_t magic = static_cast<std::uint32_t>(le64(h + 0x38));
    if (magic != kMagic) {
        bool gzip = h[0] == 0x1f && h[1] == 0x8b;
        refuse(gzip ? "it is gzip-compressed (Image.gz); decompress it (gunzip) and pass the Image"
                    : "no \"ARM\\x64\" magic at offset 0x38; pass arch/arm64/boot/Image (a bzImage is x86)");
    }
    Image image;
    image.m_file = file;
    image.m_text_offset = le64(h + 0x08);
    image.m_memory_size = le64(h + 0x10);
    image.m_flags = le64(h + 0x18);
    if (image.m_memory_size == 0) {
        image.m_text_offset = kLegacyTextOffset;
        image.m_memory_size = file.size();
    }
    if (image.m_flags & 0x1)
        refuse("the kernel is big-endian (flags bit 0); build a little-endian kernel");
    if (image.m_flags >> 4)
        refuse("unknown flags " + base::hex_u64(image.m_flags) + " (bits above 3 are reserved)");
    // bits 1-2: page size, 0 = unspecified, 1 = 4K, 2 = 16K, 3 = 64K: any is fine under KVM
    if (image.m_text_offset % 4096 != 0 || image.m_text_offset >= kTextOffsetLimit)
        refuse("text_offset " + base::hex_u64(image.m_text_offset) + " is not a 4 KiB multiple below 2 MiB");
    if (image.m_memory_size < file.size())
        refuse("image_size " + std::to_string(image.m_memory_size) + " is smaller than the file (" + std::to_string(file.size())
            + " bytes); the file is corrupt or not an Image");
    if (image.m_memory_size > kImageSizeLimit)
        refuse("image_size " + std::to_string(image.m_memory_size) + " is over 1 GiB");
    return image;
}

} // namespace vmm::arm64
