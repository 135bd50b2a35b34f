// qt-vmm enclave make-img --docker-uri SRC --eif OUT: builds an enclave image file from a
// container image without a Docker daemon (oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE,
// or NAME[:TAG] exported through a local docker/podman). Prints {"digest", "PCR0", "PCR1",
// "PCR2"[, "PCR8"]}; progress goes to stderr. --arch x86_64|arm64 (default: the host's) picks the
// guest architecture. See tools/image/make_img.h.
#include "base/error.h"
#include "tools/image/make_img.h"
#include "tools/qt-vmm/command.h"
#include "tools/qt-vmm/tools_commands.h"

#include <limits>
#include <memory>

static qtvmm::CommandRegistration reg(qtvmm::kMakeImgCommand.path, qtvmm::kMakeImgCommand.description,
    [](CLI::App& cmd, qtvmm::Cli& cli) {
        struct Args {
            image::MakeImgOptions options;
            std::string name, version, metadata, private_key, certificate, kernel, cmdline, arch;
        };
        auto args = std::make_shared<Args>();
        cmd.add_option("--docker-uri", args->options.docker_uri,
               "Image source: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], or NAME[:TAG] (via local docker/podman)")
            ->required();
        cmd.add_option("--eif", args->options.eif_path, "Output enclave image file")->required();
        cmd.add_option("--private-key", args->private_key, "PEM private key to sign the image (with --signing-certificate)");
        cmd.add_option("--signing-certificate", args->certificate, "PEM certificate matching --private-key");
        cmd.add_option("--arch", args->arch, std::string("Guest architecture: x86_64 (amd64) or arm64 (aarch64); default: the host's (")
                + eif::arch_name(eif::host_arch()) + ")");
        cmd.add_option("--kernel", args->kernel, "Guest kernel: an x86_64 bzImage or an arm64 Image (default: $QT_VMM_KERNEL_<ARCH>, "
                "$QT_VMM_KERNEL, else <qt-vmm dir>/../kernel/bzImage; for arm64 <qt-vmm dir>/../arm64/kernel/Image)");
        cmd.add_option("--cmdline", args->cmdline, std::string("Guest kernel command line (default: ") + image::kDefaultCmdline + ")");
        cmd.add_option("--name", args->name, "Image name in the metadata (default: the image name without tag)");
        cmd.add_option("--version", args->version, "Image version in the metadata (default: the image config digest)");
        cmd.add_option("--metadata", args->metadata, "JSON file (≤ 4096 bytes) stored as custom metadata");
        const std::uint64_t most = std::numeric_limits<std::uint64_t>::max();
        image::UnpackLimits& limits = args->options.limits;
        cmd.add_option("--max-unpacked-bytes", limits.max_unpacked_bytes,
               "Refuse an image whose files add up to more bytes (default " + std::to_string(limits.max_unpacked_bytes) + ")")
            ->check(qtvmm::whole_number(1, most));
        cmd.add_option("--max-entries", limits.max_entries,
               "Refuse an image with more entries over all layers (default " + std::to_string(limits.max_entries) + ")")
            ->check(qtvmm::whole_number(1, most));
        cmd.add_option("--max-ratio", limits.max_ratio,
               "Refuse a layer that decompresses to this many times its size, past 64 MiB (default "
                   + std::to_string(limits.max_ratio) + ")")
            ->check(qtvmm::whole_number(1, most));
        qtvmm::set_examples(cmd, {
            "qt-vmm enclave make-img --docker-uri docker-archive:app.tar --eif app.eif",
            "qt-vmm enclave make-img --docker-uri oci:./layout:latest --eif app.eif --kernel ./bzImage",
            "qt-vmm enclave make-img --docker-uri oci:./multi --eif app-arm64.eif --arch arm64 --kernel ./Image",
            "qt-vmm enclave make-img --docker-uri myapp:1.0 --eif app.eif --private-key key.pem --signing-certificate cert.pem",
            "qt-vmm enclave make-img --docker-uri oci:./big --eif big.eif --max-unpacked-bytes 17179869184  # a trusted 16 GiB image",
        });
        cmd.callback([&cli, args] {
            image::MakeImgOptions o = args->options;
            if (!args->arch.empty()) {
                std::optional<eif::Arch> arch = eif::parse_arch(args->arch);
                if (!arch)
                    throw base::Error(base::ErrorKind::Usage, "IMG_BAD_ARCH",
                        "--arch " + args->arch + " is not known; use x86_64 (or amd64) or arm64 (or aarch64)");
                o.arch = *arch;
            }
            o.kernel_path = args->kernel.empty() ? image::default_kernel_path(o.arch) : args->kernel;
            o.init_path = image::default_init_path(o.arch);
            if (!args->cmdline.empty())
                o.cmdline = args->cmdline;
            if (!args->name.empty())
                o.name = args->name;
            if (!args->version.empty())
                o.version = args->version;
            if (!args->metadata.empty())
                o.metadata_path = args->metadata;
            if (!args->private_key.empty())
                o.private_key = args->private_key;
            if (!args->certificate.empty())
                o.certificate = args->certificate;
            eif::Measurements m = image::make_img(o, [&cli](const std::string& line) { cli.info(line); });
            qtvmm::Json out { { "digest", "SHA384" }, { "PCR0", m.pcr0 }, { "PCR1", m.pcr1 }, { "PCR2", m.pcr2 } };
            if (m.pcr8)
                out["PCR8"] = *m.pcr8;
            cli.print(out);
        });
    });
