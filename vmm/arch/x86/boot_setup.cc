#include "vmm/arch/x86/boot_setup.h"

#include "base/error.h"
#include "vmm/arch/x86/layout.h"
#include "vmm/arch/x86/mptable.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace vmm::x86 {

namespace {

constexpr std::uint64_t kPageSize = 4096;

// Offsets in struct boot_params (Documentation/arch/x86/zero-page.rst, boot.rst).
constexpr std::size_t kExtRamdiskImage = 0x0c0;
constexpr std::size_t kExtRamdiskSize = 0x0c4;
constexpr std::size_t kExtCmdLinePtr = 0x0c8;
constexpr std::size_t kE820Entries = 0x1e8;
constexpr std::size_t kSetupHeader = 0x1f1;
constexpr std::size_t kVidMode = 0x1fa;
constexpr std::size_t kTypeOfLoader = 0x210;
constexpr std::size_t kCode32Start = 0x214;
constexpr std::size_t kRamdiskImage = 0x218;
constexpr std::size_t kRamdiskSize = 0x21c;
constexpr std::size_t kCmdLinePtr = 0x228;
constexpr std::size_t kE820Table = 0x2d0;
constexpr std::size_t kE820Max = 128;

enum E820Type : std::uint32_t { E820Ram = 1, E820Reserved = 2 };

template<typename T>
void put(std::array<std::uint8_t, 4096>& page, std::size_t offset, T value)
{
    std::memcpy(page.data() + offset, &value, sizeof value);
}

std::string mib_up(std::uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

} // namespace

BootLayout plan_boot(const BzImage& image, const GuestMemory& ram, std::uint64_t initrd_size, const std::string& cmdline)
{
    std::uint64_t cmdline_max = std::min<std::uint64_t>(image.cmdline_max() ? image.cmdline_max() : 255, kCmdlineMax - 1);
    if (cmdline.size() > cmdline_max)
        throw base::Error(base::ErrorKind::InvalidInput, "CMDLINE_TOO_LONG",
            "kernel command line is " + std::to_string(cmdline.size()) + " bytes; this kernel accepts at most " + std::to_string(cmdline_max));
    if (cmdline.find('\0') != std::string::npos)
        throw base::Error(base::ErrorKind::InvalidInput, "CMDLINE_NUL", "kernel command line contains a NUL byte");

    BootLayout layout;
    layout.kernel_address = kKernelLoadAddress;
    layout.kernel_end = kKernelLoadAddress + std::max<std::uint64_t>(image.init_size(), image.protected_mode_size());
    layout.entry_point = kKernelLoadAddress + 0x200;
    layout.initrd_size = initrd_size;

    // The initrd goes as high as possible in low RAM, below initrd_addr_max, page aligned.
    std::uint64_t top = ram.low_ram_end();
    std::uint64_t addr_max = image.initrd_address_max() ? std::uint64_t(image.initrd_address_max()) + 1 : 0x3800'0000ull;
    top = std::min(top, addr_max);
    std::uint64_t needed = layout.kernel_end + ((initrd_size + kPageSize - 1) & ~(kPageSize - 1));
    if (top < needed)
        throw base::Error(base::ErrorKind::Resource, "MEM_TOO_SMALL",
            "the kernel (" + mib_up(layout.kernel_end - kKernelLoadAddress) + " including its working space) and the initrd ("
                + mib_up(initrd_size) + ") need at least " + mib_up(needed) + " of low guest memory; start the enclave with more --mem");
    layout.initrd_address = (top - initrd_size) & ~(kPageSize - 1);
    return layout;
}

void write_boot_structures(GuestMemory& ram, const BzImage& image, const BootLayout& layout, const std::string& cmdline,
    unsigned vcpu_count)
{
    ram.write(layout.kernel_address, image.protected_mode_code(), image.protected_mode_size());

    std::string cmd = cmdline;
    cmd.push_back('\0');
    ram.write(kCmdlineAddress, cmd.data(), cmd.size());

    std::array<std::uint8_t, 4096> zero_page {};
    std::memcpy(zero_page.data() + kSetupHeader, image.setup_header(), image.setup_header_size());
    put<std::uint16_t>(zero_page, kVidMode, 0xffff);
    put<std::uint8_t>(zero_page, kTypeOfLoader, 0xff);
    put<std::uint32_t>(zero_page, kCode32Start, static_cast<std::uint32_t>(layout.kernel_address));
    put<std::uint32_t>(zero_page, kRamdiskImage, static_cast<std::uint32_t>(layout.initrd_address));
    put<std::uint32_t>(zero_page, kRamdiskSize, static_cast<std::uint32_t>(layout.initrd_size));
    put<std::uint32_t>(zero_page, kExtRamdiskImage, static_cast<std::uint32_t>(layout.initrd_address >> 32));
    put<std::uint32_t>(zero_page, kExtRamdiskSize, static_cast<std::uint32_t>(layout.initrd_size >> 32));
    put<std::uint32_t>(zero_page, kCmdLinePtr, static_cast<std::uint32_t>(kCmdlineAddress));
    put<std::uint32_t>(zero_page, kExtCmdLinePtr, 0);

    struct E820 {
        std::uint64_t address, size;
        std::uint32_t type;
    };
    std::vector<E820> map;
    map.push_back({ 0, kEbdaStart, E820Ram });
    map.push_back({ kEbdaStart, kHighMemoryStart - kEbdaStart, E820Reserved });
    for (const GuestMemory::Region& r : ram.regions()) {
        std::uint64_t start = std::max(r.guest_address, kHighMemoryStart);
        std::uint64_t end = r.guest_address + r.size;
        if (end > start)
            map.push_back({ start, end - start, E820Ram });
    }
    if (map.size() > kE820Max)
        throw base::Error(base::ErrorKind::Internal, "E820_OVERFLOW", "too many e820 entries");
    put<std::uint8_t>(zero_page, kE820Entries, static_cast<std::uint8_t>(map.size()));
    for (std::size_t i = 0; i < map.size(); ++i) {
        std::size_t at = kE820Table + i * 20;
        put(zero_page, at, map[i].address);
        put(zero_page, at + 8, map[i].size);
        put(zero_page, at + 16, map[i].type);
    }
    ram.write(kZeroPageAddress, zero_page.data(), zero_page.size());

    // GDT: boot.rst wants __BOOT_CS = 0x10 (64-bit code) and __BOOT_DS = 0x18 (data).
    const std::uint64_t gdt[4] = {
        0,
        0,
        0x00af9b000000ffffull, // 0x10: code, 64-bit (L=1), present, DPL 0
        0x00cf93000000ffffull, // 0x18: data, 4 GiB flat, present, DPL 0
    };
    ram.write(kGdtAddress, gdt, sizeof gdt);

    // Identity map of [0, 4 GiB) with 2 MiB pages: PML4[0] -> PDPT, PDPT[0..3] -> 4 page directories.
    std::array<std::uint64_t, 512> table {};
    table[0] = kPdptAddress | 0x3;
    ram.write(kPml4Address, table.data(), sizeof table);
    table.fill(0);
    for (std::uint64_t i = 0; i < 4; ++i)
        table[i] = (kPageDirectoryAddress + i * kPageSize) | 0x3;
    ram.write(kPdptAddress, table.data(), sizeof table);
    for (std::uint64_t d = 0; d < 4; ++d) {
        for (std::uint64_t i = 0; i < 512; ++i)
            table[i] = ((d * 512 + i) << 21) | 0x83; // present, writable, 2 MiB page
        ram.write(kPageDirectoryAddress + d * kPageSize, table.data(), sizeof table);
    }

    write_mp_table(ram, kMpTableAddress, vcpu_count);
}

} // namespace vmm::x86
