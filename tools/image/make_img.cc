#include "tools/image/make_img.h"

#include "base/error.h"
#include "base/executable_dir.h"
#include "eif-format/eif_layout.h"
#include "eif-format/eif_writer.h"
#include "eif-format/metadata.h"
#include "tools/image/app_entry.h"
#include "tools/image/content_sources.h"
#include "tools/image/guest_arch.h"
#include "tools/image/file_tree.h"
#include "tools/image/image_source.h"
#include "tools/image/launch_config.h"
#include "tools/image/layer_reader.h"
#include "tools/image/ramdisk.h"
#include "tools/image/spill_file.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <optional>
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

// The image config's "architecture" (empty: not stated) must be the EIF's.
void check_image_arch(const std::string& architecture, eif::Arch arch)
{
    if (architecture.empty() || architecture == eif::oci_arch_name(arch))
        return;
    std::optional<eif::Arch> image_arch = eif::parse_arch(architecture);
    if (!image_arch)
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_UNSUPPORTED_ARCH",
            "the image is built for '" + architecture + "'; enclave images must be amd64 or arm64; pick the linux/"
                + eif::oci_arch_name(arch) + " variant of the image");
    throw base::Error(base::ErrorKind::InvalidInput, "IMG_ARCH_MISMATCH",
        std::string("the image is built for ") + eif::oci_arch_name(*image_arch) + " but the EIF is for " + eif::arch_name(arch)
            + "; pass --arch " + eif::oci_arch_name(*image_arch) + " (with a kernel and init for it) or pick the linux/"
            + eif::oci_arch_name(arch) + " variant of the image");
}

// The app's entry binary, when it is an ELF, must be for the EIF's architecture (scripts and
// names that are not in the image are left to guest-init).
void check_app_arch(const FileTree& tree, const ContentSources& contents, const LaunchConfig& launch, eif::Arch arch)
{
    const Inode* exe = find_app_entry(tree, launch);
    if (!exe)
        return;
    std::string head(static_cast<std::size_t>(std::min<std::uint64_t>(exe->size, 64)), '\0');
    contents.pread(*exe, head.data(), head.size(), 0);
    if (head.rfind("\x7f" "ELF", 0) != 0)
        return;
    check_elf_arch(head, arch, "IMG_APP_ARCH", "the app's entry binary '" + launch.argv[0] + "'",
        std::string("build the image for ") + eif::oci_arch_name(arch) + " (a linux/" + eif::oci_arch_name(arch) + " base and binaries) or pass --arch "
            + eif::oci_arch_name(elf_arch(head).value_or(eif::host_arch())));
}

// <exe dir>/../FILE for the host's architecture, <exe dir>/../<arm64|x86_64>/FILE for the other.
std::string beside_executable(eif::Arch arch, const std::string& file)
{
    std::string dir = base::executable_dir() + "/../";
    if (arch != eif::host_arch())
        dir += arch == eif::Arch::Aarch64 ? "arm64/" : "x86_64/";
    return dir + file;
}

std::optional<std::string> env_for(eif::Arch arch, const std::string& base_name)
{
    std::string specific = base_name + (arch == eif::Arch::Aarch64 ? "_AARCH64" : "_X86_64");
    if (const char* env = std::getenv(specific.c_str()); env && *env)
        return env;
    if (arch == eif::host_arch())
        if (const char* env = std::getenv(base_name.c_str()); env && *env)
            return env;
    return std::nullopt;
}

} // namespace

std::string default_kernel_path(eif::Arch arch)
{
    return env_for(arch, "QT_VMM_KERNEL").value_or(beside_executable(arch, arch == eif::Arch::Aarch64 ? "kernel/Image" : "kernel/bzImage"));
}

std::string default_init_path(eif::Arch arch)
{
    return env_for(arch, "QT_VMM_INIT").value_or(beside_executable(arch, "guest/init"));
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
    const bool arm64 = options.arch == eif::Arch::Aarch64;
    require_file(options.kernel_path, "guest kernel", arm64
            ? "pass --kernel or set QT_VMM_KERNEL_AARCH64 (build an arm64 Image with `make kernel ARCH=arm64`)"
            : "pass --kernel or set QT_VMM_KERNEL (build one with `make kernel`)");
    require_file(options.init_path, "guest init", arm64
            ? "set QT_VMM_INIT_AARCH64 or cross-build it (`make ARCH=arm64`, it lands in <build>/arm64/guest/init)"
            : "set QT_VMM_INIT or build it (`make`, it lands in <build>/guest/init)");
    check_kernel_arch(options.kernel_path, options.arch);
    check_elf_arch(read_file_head(options.init_path, "guest init"), options.arch, "IMG_INIT_ARCH", "guest init '" + options.init_path + "'",
        arm64 ? "set QT_VMM_INIT_AARCH64 to an arm64 build of guest-init (`make ARCH=arm64`)" : "set QT_VMM_INIT to an x86_64 build of guest-init (`make`)");
    std::uint32_t mtime = ramdisk_mtime();
    nlohmann::ordered_json custom = nullptr;
    if (options.metadata_path)
        custom = eif::read_custom_metadata_file(*options.metadata_path);

    log("Start building the Enclave Image...");
    ResolvedImage image = resolve_image(options.docker_uri, options.arch, options.eif_path, log, options.limits);
    check_image_arch(image.architecture, options.arch);
    LaunchConfig launch = launch_config_from_image_config(image.config);

    FileTree tree;
    SpillFile spill(options.eif_path);
    ContentSources contents(spill);
    UnpackTotals totals;
    for (std::size_t i = 0; i < image.layers.size(); ++i) {
        log("Unpacking layer " + std::to_string(i + 1) + "/" + std::to_string(image.layers.size()) + " ("
            + std::to_string(image.layers[i].range.size) + " bytes)...");
        read_layer(image.layers[i], static_cast<unsigned>(i), tree, contents, options.limits, totals);
    }
    spill.flush();
    check_app_arch(tree, contents, launch, options.arch);
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
    request.arch_flags = eif::arch_flags(options.arch);
    const std::string init_path = options.init_path;
    // The boot ramdisk always has mtime 0: PCR1 then names exactly kernel + cmdline + init.
    request.ramdisks.push_back(eif::SectionSource::producer([init_path](const eif::ChunkSink& out) {
        write_boot_ramdisk(init_path, 0, out);
    }));
    request.ramdisks.push_back(eif::SectionSource::producer([&tree, &contents, &launch, mtime](const eif::ChunkSink& out) {
        write_app_ramdisk(tree, contents, launch, mtime, out);
        // The last read of the layer blobs is done: they must not have changed since their
        // digests were checked (else write_eif fails and leaves no image behind).
        contents.verify();
    }));
    if (options.private_key)
        request.signing = eif::SigningInput { *options.private_key, *options.certificate };

    log("Writing " + options.eif_path + "...");
    eif::Measurements m = eif::write_eif(request, options.eif_path);
    log("Enclave Image successfully created.");
    return m;
}

} // namespace image
