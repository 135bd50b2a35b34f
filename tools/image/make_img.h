// tools/image/make_img.h — builds an enclave image file (EIF) from a container image:
// resolve the source (image_source.h), merge its layers (file_tree.h, layer_reader.h), derive
// cmd/env (launch_config.h) and stream both ramdisks (ramdisk.h) into eif::write_eif, which
// measures and (optionally) signs them and renames the finished file into place.
//
// Reproducible: the same inputs give a byte-identical EIF. The app ramdisk's mtimes and the
// metadata BuildTime come from $SOURCE_DATE_EPOCH (0 / now when unset); the boot ramdisk always
// uses mtime 0, so PCR1 depends only on kernel, cmdline and init.
//
// Architecture: options.arch (default: the host's) picks the linux/<arch> entry of a
// multi-platform index, must match the image config's "architecture", the kernel's boot header
// and the ELF machine of guest-init and of the app's entry binary (guest_arch.h), and sets the
// EIF header's arch flag.
//
// Usage:
//     image::MakeImgOptions o;
//     o.docker_uri = "oci:./layout"; o.eif_path = "app.eif"; o.arch = eif::Arch::Aarch64;
//     o.kernel_path = image::default_kernel_path(o.arch); o.init_path = image::default_init_path(o.arch);
//     eif::Measurements m = image::make_img(o, [](const std::string& line) { std::cerr << line << "\n"; });
#pragma once

#include "eif-format/eif_arch.h"
#include "eif-format/pcr.h"
#include "tools/image/unpack_limits.h"

#include <functional>
#include <optional>
#include <string>

namespace image {

inline constexpr const char* kDefaultCmdline = "console=ttyS0 reboot=k panic=-1 random.trust_cpu=on";

struct MakeImgOptions {
    std::string docker_uri;
    eif::Arch arch { eif::host_arch() };
    std::string eif_path;
    std::string kernel_path;
    std::string init_path;
    std::string cmdline { kDefaultCmdline };
    std::optional<std::string> name;           // default: the image name without its tag
    std::optional<std::string> version;        // default: the config digest without "sha256:"
    std::optional<std::string> metadata_path;  // --metadata: JSON file, ≤ 4096 bytes
    std::optional<std::string> private_key;    // both or neither
    std::optional<std::string> certificate;
    UnpackLimits limits {};                    // --max-unpacked-bytes, --max-entries, --max-ratio
};

eif::Measurements make_img(const MakeImgOptions& options, const std::function<void(const std::string&)>& log);

// $QT_VMM_KERNEL_<ARCH> (QT_VMM_KERNEL_AARCH64, QT_VMM_KERNEL_X86_64), else for the host's
// architecture $QT_VMM_KERNEL, else <dir of this executable>/../kernel/<bzImage|Image> for the
// host's architecture and <dir>/../<arm64|x86_64>/kernel/<bzImage|Image> for the other (the
// build tree: build/bin/qt-vmm, build/kernel/bzImage, build/arm64/kernel/Image).
std::string default_kernel_path(eif::Arch arch = eif::host_arch());
// The same for guest-init: $QT_VMM_INIT_<ARCH>, $QT_VMM_INIT (host's arch), <dir>/../guest/init
// or <dir>/../<arm64|x86_64>/guest/init.
std::string default_init_path(eif::Arch arch = eif::host_arch());
// The cpio mtime: $SOURCE_DATE_EPOCH (must be an integer 0..4294967295) or 0.
std::uint32_t ramdisk_mtime();

} // namespace image
