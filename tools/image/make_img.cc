#include "tools/image/make_img.h"

#include "base/error.h"
#include "base/executable_dir.h"
#include "eif-format/eif_layout.h"
#include "eif-format/eif_writer.h"
#include "eif-format/metadata.h"
#include "tools/image/file_tree.h"
#include "tools/image/image_source.h"
#include "tools/image/launch_config.h"
#include "tools/image/layer_reader.h"
#include "tools/image/ramdisk.h"
#include "tools/image/spill_file.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <sys/stat.h>
#include <unistd.h>

namespace image {

namespace {

void require_file(const std::string& path, const char* what, const char* fix)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        throw base::Error(base::ErrorKind::NotFound, "IMG_MISSING_INPUT", std::string(what) + " '" + path + "' " + (::access(path.c_str(), F_OK) == 0 ? "is not a regular file" : "does not exist") + "; " + fix);
}

std::uint16_t arch_flags_for(const std::string& architecture, const std::function<void(const std::string&)>& log)
{
    if (architecture == "amd64" || architecture.empty())
        return 0;
    if (architecture == "arm64") {
        log("Warning: the image is for arm64; the EIF is marked aarch64 and will not run on an x86_64 host.");
        return eif::kFlagArchArm64;
    }
    throw base::Error(base::ErrorKind::InvalidInput, "IMG_UNSUPPORTED_ARCH",
        "the image is built for '" + architecture + "'; enclave images must be amd64 (or arm64); pick the linux/amd64 variant of the image");
}

} // namespace

std::string default_kernel_path()
{
    if (const char* env = std::getenv("QT_VMM_KERNEL"); env && *env)
        return env;
    return base::executable_dir() + "/../kernel/bzImage";
}

std::string default_init_path()
{
    if (const char* env = std::getenv("QT_VMM_INIT"); env && *env)
        return env;
    return base::executable_dir() + "/../guest/init";
}

std::uint32_t ramdisk_mtime()
{
    const char* env = std::getenv("SOURCE_DATE_EPOCH");
    if (!env || !*env)
        return 0;
    char* end = nullptr;
    errno = 0;
    unsigned long long value = std::strtoull(env, &end, 10);
    if (errno != 0 || *end != '\0' || env[0] == '-' || value > 0xffffffffull)
        throw base::Error(base::ErrorKind::Usage, "IMG_BAD_SOURCE_DATE_EPOCH",
            std::string("SOURCE_DATE_EPOCH='") + env + "' is not a number of seconds between 0 and 4294967295");
    return static_cast<std::uint32_t>(value);
}

eif::Measurements make_img(const MakeImgOptions& options, const std::function<void(const std::string&)>& log)
{
    if (options.private_key.has_value() != options.certificate.has_value())
        throw base::Error(base::ErrorKind::Usage, "IMG_SIGNING_ARGS",
            "--private-key and --signing-certificate go together: pass both to sign the image, or neither");
    // Cheap checks first, so a typo does not cost a full image read.
    require_file(options.kernel_path, "guest kernel", "pass --kernel or set QT_VMM_KERNEL (build one with `make kernel`)");
    require_file(options.init_path, "guest init", "set QT_VMM_INIT or build it (`make`, it lands in <build>/guest/init)");
    std::uint32_t mtime = ramdisk_mtime();
    nlohmann::ordered_json custom = nullptr;
    if (options.metadata_path)
        custom = eif::read_custom_metadata_file(*options.metadata_path);

    log("Start building the Enclave Image...");
    ResolvedImage image = resolve_image(options.docker_uri, options.eif_path, log, options.limits);
    std::uint16_t arch_flags = arch_flags_for(image.architecture, log);
    LaunchConfig launch = launch_config_from_image_config(image.config);

    FileTree tree;
    SpillFile spill(options.eif_path);
    UnpackTotals totals;
    for (std::size_t i = 0; i < image.layers.size(); ++i) {
        log("Unpacking layer " + std::to_string(i + 1) + "/" + std::to_string(image.layers.size()) + " ("
            + std::to_string(image.layers[i].range.size) + " bytes)...");
        read_layer(image.layers[i], static_cast<unsigned>(i), tree, spill, options.limits, totals);
    }
    spill.flush();
    add_mount_points(tree);

    eif::MetadataInput meta;
    meta.image_name = options.name.value_or(image.name);
    meta.image_version = options.version.value_or(image.config_digest.substr(image.config_digest.find(':') + 1));
    meta.kernel_config_path = eif::kernel_config_path_for(options.kernel_path);
    meta.docker_info = image.config;
    meta.custom_metadata = custom;

    eif::BuildRequest request;
    request.kernel_path = options.kernel_path;
    request.cmdline = options.cmdline;
    request.metadata = eif::build_metadata(meta);
    request.arch_flags = arch_flags;
    const std::string init_path = options.init_path;
    // The boot ramdisk always has mtime 0: PCR1 then names exactly kernel + cmdline + init.
    request.ramdisks.push_back(eif::SectionSource::producer([init_path](const eif::ChunkSink& out) {
        write_boot_ramdisk(init_path, 0, out);
    }));
    request.ramdisks.push_back(eif::SectionSource::producer([&tree, &spill, &launch, mtime](const eif::ChunkSink& out) {
        write_app_ramdisk(tree, spill.fd(), launch, mtime, out);
    }));
    if (options.private_key)
        request.signing = eif::SigningInput { *options.private_key, *options.certificate };

    log("Writing " + options.eif_path + "...");
    eif::Measurements m = eif::write_eif(request, options.eif_path);
    log("Enclave Image successfully created.");
    return m;
}

} // namespace image
