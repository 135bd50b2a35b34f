#include "eif-format/eif_arch.h"

#include "eif-format/eif_layout.h"

namespace eif {

const char* arch_name(Arch arch) { return arch == Arch::Aarch64 ? "aarch64" : "x86_64"; }

const char* oci_arch_name(Arch arch) { return arch == Arch::Aarch64 ? "arm64" : "amd64"; }

std::optional<Arch> parse_arch(std::string_view name)
{
    if (name == "x86_64" || name == "amd64")
        return Arch::X86_64;
    if (name == "aarch64" || name == "arm64")
        return Arch::Aarch64;
    return std::nullopt;
}

std::uint16_t arch_flags(Arch arch) { return arch == Arch::Aarch64 ? kFlagArchArm64 : 0; }

Arch arch_of_flags(std::uint16_t header_flags) { return (header_flags & kFlagArchArm64) ? Arch::Aarch64 : Arch::X86_64; }

} // namespace eif
