// vmm/arch/x86/bzimage.h — validates a Linux bzImage and extracts what the 64-bit boot protocol
// needs: the setup header to copy into the zero page and the protected-mode code to load.
//
// Usage:
//     vmm::x86::BzImage image = vmm::x86::BzImage::parse(kernel_bytes);  // throws on a bad image
//     ram.write(kKernelLoadAddress, image.protected_mode_code(), image.protected_mode_size());
//     std::memcpy(zero_page + 0x1f1, image.setup_header(), image.setup_header_size());
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace vmm::x86 {

class BzImage {
public:
    // Checks boot_flag, "HdrS", protocol >= 2.12 with XLF_KERNEL_64, LOADED_HIGH, sizes.
    // The span must outlive the BzImage.
    static BzImage parse(std::span<const std::uint8_t> file);

    std::uint16_t protocol_version() const { return m_version; }
    const std::uint8_t* setup_header() const { return m_file.data() + 0x1f1; }
    std::size_t setup_header_size() const { return m_header_end - 0x1f1; }
    const std::uint8_t* protected_mode_code() const { return m_file.data() + m_setup_size; }
    std::size_t protected_mode_size() const { return m_file.size() - m_setup_size; }
    std::uint32_t init_size() const { return m_init_size; }
    std::uint32_t cmdline_max() const { return m_cmdline_size; }
    std::uint32_t initrd_address_max() const { return m_initrd_addr_max; }
    bool can_load_above_4g() const { return m_xloadflags & 0x2; }

private:
    std::span<const std::uint8_t> m_file;
    std::size_t m_setup_size { 0 };
    std::size_t m_header_end { 0 };
    std::uint16_t m_version { 0 };
    std::uint16_t m_xloadflags { 0 };
    std::uint32_t m_init_size { 0 };
    std::uint32_t m_cmdline_size { 0 };
    std::uint32_t m_initrd_addr_max { 0 };
};

} // namespace vmm::x86
