#include "vmm/arch/x86/bzimage.h"

#include "base/error.h"

#include <cstring>

namespace vmm::x86 {

namespace {

template<typename T>
T le(std::span<const std::uint8_t> f, std::size_t offset)
{
    T v;
    std::memcpy(&v, f.data() + offset, sizeof v);
    return v;
}

[[noreturn]] void bad(const std::string& what)
{
    throw base::Error(base::ErrorKind::InvalidInput, "KERNEL_BAD_BZIMAGE", "kernel is not a usable bzImage: " + what);
}

} // namespace

BzImage BzImage::parse(std::span<const std::uint8_t> file)
{
    if (file.size() < 0x270)
        bad("only " + std::to_string(file.size()) + " bytes");
    if (le<std::uint16_t>(file, 0x1fe) != 0xaa55)
        bad("boot_flag at 0x1fe is not 0xAA55");
    if (le<std::uint32_t>(file, 0x202) != 0x53726448)
        bad("no \"HdrS\" signature at 0x202");
    BzImage image;
    image.m_file = file;
    image.m_version = le<std::uint16_t>(file, 0x206);
    if (image.m_version < 0x020c)
        bad("boot protocol " + std::to_string(image.m_version >> 8) + "." + std::to_string(image.m_version & 0xff) + " is older than 2.12 (no 64-bit entry)");
    image.m_xloadflags = le<std::uint16_t>(file, 0x236);
    if (!(image.m_xloadflags & 0x1))
        bad("xloadflags lacks XLF_KERNEL_64 (not a 64-bit kernel)");
    if (!(file[0x211] & 0x1))
        bad("loadflags lacks LOADED_HIGH");
    unsigned setup_sects = file[0x1f1] ? file[0x1f1] : 4;
    image.m_setup_size = (setup_sects + 1) * 512ull;
    if (image.m_setup_size + 0x200 >= file.size())
        bad("setup_sects " + std::to_string(setup_sects) + " leaves no protected-mode code");
    image.m_header_end = 0x202 + file[0x201];
    if (image.m_header_end > image.m_setup_size || image.m_header_end < 0x264)
        bad("setup header ends at byte " + std::to_string(image.m_header_end) + ", outside the setup code or before init_size");
    image.m_init_size = le<std::uint32_t>(file, 0x260);
    image.m_cmdline_size = le<std::uint32_t>(file, 0x238);
    image.m_initrd_addr_max = le<std::uint32_t>(file, 0x22c);
    if (image.m_init_size < image.protected_mode_size())
        bad("init_size is smaller than the kernel");
    return image;
}

} // namespace vmm::x86
