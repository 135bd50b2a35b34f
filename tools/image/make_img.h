// tools/image/make_img.h — builds an enclave image file (EIF) from a container image:
// resolve the source (image_source.h), merge its layers (file_tree.h, layer_reader.h), derive
// cmd/env (launch_config.h) and stream both ramdisks (ramdisk.h) into eif::write_eif, which
// measures and (optionally) signs them and renames the finished file into place.
//
// Reproducible: the same inputs give a byte-identical EIF. The app ramdisk's mtimes and the
// metadata BuildTime come from $SOURCE_DATE_EPOCH (0 / now when unset); the boot ramdisk always
// uses mtime 0, so PCR1 depends only on kernel, cmdline and init.
//
// Usage:
//     image::MakeImgOptions o;
//     o.docker_uri = "oci:./layout"; o.eif_path = "app.eif";
//     o.kernel_path = image::default_kernel_path(); o.init_path = image::default_init_path();
//     eif::Measurements m = image::make_img(o, [](const std::string& line) { std::cerr << line << "\n"; });
#pragma once

#include "eif-format/pcr.h"
#include "tools/image/unpack_limits.h"

#include <functional>
#include <optional>
#include <string>

namespace image {

inline constexpr const char* kDefaultCmdline = "console=ttyS0 reboot=k panic=-1 random.trust_cpu=on";

struct MakeImgOptions {
    std::string docker_uri;
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

// $QT_VMM_KERNEL, else <dir of this executable>/../kernel/bzImage.
std::string default_kernel_path();
// $QT_VMM_INIT, else <dir of this executable>/../guest/init.
std::string default_init_path();
// The cpio mtime: $SOURCE_DATE_EPOCH (must be an integer 0..4294967295) or 0.
std::uint32_t ramdisk_mtime();

} // namespace image
