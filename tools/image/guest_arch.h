// tools/image/guest_arch.h — checks that what make-img packs runs on the EIF's architecture:
// the kernel's boot header (x86_64 bzImage: "HdrS" at 0x202; arm64 Image: "ARM\x64" at 0x38),
// and the ELF machine of guest-init and of the app's entry binary. A mismatch is a one-line
// error naming the file, what it is, and the fix; nothing is written before these checks.
//
// Usage:
//     image::check_kernel_arch("/path/Image", eif::Arch::Aarch64);         // throws IMG_KERNEL_ARCH
//     image::check_elf_arch(header_bytes, eif::Arch::Aarch64, "guest init '/x'", "fix");
//     std::optional<eif::Arch> a = image::kernel_arch(bytes);               // nullopt: neither
#pragma once

#include "eif-format/eif_arch.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace image {

// Bytes of a file's start that the checks below need (the bzImage magic ends at 0x206).
inline constexpr std::size_t kArchProbeBytes = 0x210;

// The architecture a kernel image boots on, from its first bytes; nullopt when it is neither.
std::optional<eif::Arch> kernel_arch(std::string_view head);
// The architecture of a 64-bit little-endian ELF (x86_64 or aarch64); nullopt for anything else
// (not ELF, 32-bit, another machine).
std::optional<eif::Arch> elf_arch(std::string_view head);
// "an x86_64 ELF", "an aarch64 ELF", "an ELF for machine 40", "not an ELF executable".
std::string describe_elf(std::string_view head);

// Reads the kernel's header and throws IMG_KERNEL_ARCH unless it boots on `arch`.
void check_kernel_arch(const std::string& kernel_path, eif::Arch arch);
// Throws IMG_INIT_ARCH (code) unless `head` is an ELF for `arch`; what = "guest init '/path'".
void check_elf_arch(std::string_view head, eif::Arch arch, const std::string& code, const std::string& what, const std::string& fix);
// The first kArchProbeBytes (or fewer) bytes of a file; throws IMG_MISSING_INPUT when unreadable.
std::string read_file_head(const std::string& path, const std::string& what);

} // namespace image
