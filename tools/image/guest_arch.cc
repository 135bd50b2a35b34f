#include "tools/image/guest_arch.h"

#include "base/error.h"
#include "base/file.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace image {

namespace {

constexpr std::uint16_t kElfMachineX86_64 = 62;
constexpr std::uint16_t kElfMachineAarch64 = 183;

bool has_at(std::string_view head, std::size_t offset, std::string_view magic)
{
    return head.size() >= offset + magic.size() && head.substr(offset, magic.size()) == magic;
}

bool is_elf(std::string_view head) { return has_at(head, 0, "\x7f" "ELF") && head.size() >= 20; }

std::uint16_t elf_machine(std::string_view head)
{
    // e_machine at 18; little-endian when EI_DATA (5) is 1.
    auto b = [&](std::size_t i) { return static_cast<std::uint16_t>(static_cast<unsigned char>(head[i])); };
    return head[5] == 1 ? static_cast<std::uint16_t>(b(18) | (b(19) << 8)) : static_cast<std::uint16_t>((b(18) << 8) | b(19));
}

const char* kernel_kind(eif::Arch arch) { return arch == eif::Arch::Aarch64 ? "an arm64 Image" : "an x86_64 bzImage"; }

} // namespace

std::optional<eif::Arch> kernel_arch(std::string_view head)
{
    if (has_at(head, 0x38, "ARM\x64"))
        return eif::Arch::Aarch64;
    if (has_at(head, 0x202, "HdrS"))
        return eif::Arch::X86_64;
    return std::nullopt;
}

std::optional<eif::Arch> elf_arch(std::string_view head)
{
    if (!is_elf(head) || head[4] != 2 /* ELFCLASS64 */ || head[5] != 1 /* little-endian */)
        return std::nullopt;
    switch (elf_machine(head)) {
    case kElfMachineX86_64:
        return eif::Arch::X86_64;
    case kElfMachineAarch64:
        return eif::Arch::Aarch64;
    default:
        return std::nullopt;
    }
}

std::string describe_elf(std::string_view head)
{
    if (!is_elf(head))
        return "not an ELF executable";
    if (auto arch = elf_arch(head))
        return std::string("an ") + eif::arch_name(*arch) + " ELF";
    if (head[4] != 2)
        return "a 32-bit ELF";
    return "an ELF for machine " + std::to_string(elf_machine(head));
}

std::string read_file_head(const std::string& path, const std::string& what)
{
    base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        base::throw_errno("IMG_MISSING_INPUT", "cannot open " + what, path);
    std::string head(kArchProbeBytes, '\0');
    std::size_t got = 0;
    while (got < head.size()) {
        ssize_t n = ::read(fd.get(), head.data() + got, head.size() - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            base::throw_errno("IMG_MISSING_INPUT", "cannot read " + what, path);
        if (n == 0)
            break;
        got += static_cast<std::size_t>(n);
    }
    head.resize(got);
    return head;
}

void check_kernel_arch(const std::string& kernel_path, eif::Arch arch)
{
    std::optional<eif::Arch> found = kernel_arch(read_file_head(kernel_path, "guest kernel"));
    if (found == arch)
        return;
    const std::string fix = arch == eif::Arch::Aarch64
        ? "pass --kernel with an arm64 Image (build it with `make kernel ARCH=arm64`) or drop --arch arm64"
        : "pass --kernel with an x86_64 bzImage (build it with `make kernel`) or use --arch arm64";
    throw base::Error(base::ErrorKind::InvalidInput, "IMG_KERNEL_ARCH",
        "guest kernel '" + kernel_path + "' is " + (found ? kernel_kind(*found) : "neither an x86_64 bzImage nor an arm64 Image")
            + " but the image is for " + eif::arch_name(arch) + "; " + fix);
}

void check_elf_arch(std::string_view head, eif::Arch arch, const std::string& code, const std::string& what, const std::string& fix)
{
    if (elf_arch(head) == arch)
        return;
    throw base::Error(base::ErrorKind::InvalidInput, code,
        what + " is " + describe_elf(head) + " but the image is for " + eif::arch_name(arch) + "; " + fix);
}

} // namespace image
