// eif-format/eif_arch.h — the guest architecture of an enclave image: the EIF header's arch flag
// (bit 0: 0 = x86_64, 1 = aarch64), the names users type and tools print, and the host's own.
// One place for all of them, so make-img, describe-eif and start agree.
//
// Usage:
//     std::optional<eif::Arch> a = eif::parse_arch("arm64");   // also aarch64, x86_64, amd64
//     header.flags |= eif::arch_flags(*a);                     // kFlagArchArm64 for aarch64
//     if (eif::arch_of_flags(header.flags) != eif::host_arch()) ...
//     eif::arch_name(eif::Arch::Aarch64);                       // "aarch64" (describe-eif "Arch")
//     eif::oci_arch_name(eif::Arch::Aarch64);                   // "arm64" (OCI platform/config)
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace eif {

enum class Arch { X86_64, Aarch64 };

// "x86_64" / "aarch64": what describe-eif and errors print (the kernel's `uname -m` names).
const char* arch_name(Arch arch);
// "amd64" / "arm64": the OCI and Docker names (image config "architecture", index platforms).
const char* oci_arch_name(Arch arch);
// Accepts both spellings of each: x86_64|amd64, aarch64|arm64; nullopt for anything else.
std::optional<Arch> parse_arch(std::string_view name);

std::uint16_t arch_flags(Arch arch);
Arch arch_of_flags(std::uint16_t header_flags);

// The architecture this binary was built for (an arm64 qt-vmm runs arm64 enclaves under KVM).
constexpr Arch host_arch()
{
#if defined(__aarch64__)
    return Arch::Aarch64;
#else
    return Arch::X86_64;
#endif
}

} // namespace eif
