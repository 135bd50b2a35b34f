// make-img and the architecture: multi-platform OCI indexes resolve to linux/<arch>, the image
// config, kernel, init and app entry binary must match, and the EIF header says which it is.
#include "base/error.h"
#include "eif-format/eif_layout.h"
#include "eif-format/eif_reader.h"
#include "tools/image/image_source.h"
#include "tools/image/layer_reader.h"
#include "tools/image/make_img.h"
#include "tools/image/testdata/scratch_dir.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using eif::Arch;

namespace {

std::string elf_head(std::uint16_t machine)
{
    std::string h(64, '\0');
    h.replace(0, 4, "\x7f" "ELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little-endian
    h[18] = static_cast<char>(machine & 0xff);
    h[19] = static_cast<char>(machine >> 8);
    return h;
}

std::uint16_t elf_machine(Arch arch) { return arch == Arch::Aarch64 ? 183 : 62; }

// An OCI image layout written blob by blob, as skopeo/buildx write multi-platform images.
struct OciLayout {
    fs::path dir;

    Json blob(const std::string& bytes, const std::string& media_type) const
    {
        std::string digest = image::sha256_digest(bytes.data(), bytes.size());
        image_test::write_text(dir / "blobs/sha256" / digest.substr(7), bytes);
        return Json { { "mediaType", media_type }, { "digest", digest }, { "size", bytes.size() } };
    }

    // One image: a layer holding bin/app (the first bytes of an ELF for `binary_arch`), a
    // config saying `config_arch` that runs it; returns the manifest's descriptor.
    Json image(const std::string& config_arch, Arch binary_arch, const std::string& name) const
    {
        fs::path root = dir.parent_path() / ("root-" + name);
        image_test::write_text(root / "bin/app", elf_head(elf_machine(binary_arch)));
        fs::path tar = dir.parent_path() / (name + ".tar");
        std::string cmd = "tar --format=pax --mtime=@0 -C '" + root.string() + "' -cf '" + tar.string() + "' bin";
        REQUIRE(std::system(cmd.c_str()) == 0);
        std::string layer_bytes;
        {
            std::ifstream in(tar, std::ios::binary);
            layer_bytes.assign(std::istreambuf_iterator<char>(in), {});
        }
        Json layer = blob(layer_bytes, "application/vnd.oci.image.layer.v1.tar");
        Json config_json { { "architecture", config_arch }, { "os", "linux" }, { "config", { { "Cmd", { "/bin/app", name } } } },
            { "rootfs", { { "type", "layers" }, { "diff_ids", { layer["digest"] } } } } };
        Json config = blob(config_json.dump(), "application/vnd.oci.image.config.v1+json");
        Json manifest { { "schemaVersion", 2 }, { "mediaType", "application/vnd.oci.image.manifest.v1+json" }, { "config", config }, { "layers", { layer } } };
        return blob(manifest.dump(), "application/vnd.oci.image.manifest.v1+json");
    }

    // index.json naming `top` (one descriptor), and the oci-layout file.
    void publish(Json top, const std::string& tag) const
    {
        top["annotations"] = { { "org.opencontainers.image.ref.name", tag } };
        image_test::write_text(dir / "index.json", Json { { "schemaVersion", 2 }, { "manifests", { top } } }.dump());
        image_test::write_text(dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    }

    // A nested image index of the given per-platform manifests ({descriptor, "arch[/variant]"}).
    Json index(const std::vector<std::pair<Json, std::string>>& platforms) const
    {
        Json list = Json::array();
        for (auto [d, platform] : platforms) {
            std::string arch = platform.substr(0, platform.find('/'));
            d["platform"] = { { "os", "linux" }, { "architecture", arch } };
            if (platform.find('/') != std::string::npos)
                d["platform"]["variant"] = platform.substr(platform.find('/') + 1);
            list.push_back(d);
        }
        return blob(Json { { "schemaVersion", 2 }, { "mediaType", "application/vnd.oci.image.index.v1+json" }, { "manifests", list } }.dump(),
            "application/vnd.oci.image.index.v1+json");
    }
};

// The scratch directory with a multi-platform layout at dir/multi (amd64 and arm64/v8) and a
// single-arch arm64 layout at dir/arm64only, plus fake kernels and inits for both.
struct Fixture {
    image_test::ScratchDir scratch;
    OciLayout multi { scratch.path / "multi" };
    OciLayout arm64_only { scratch.path / "arm64only" };
    OciLayout lying { scratch.path / "lying" };  // config arm64, app x86_64
    Fixture()
    {
        multi.publish(multi.index({ { multi.image("amd64", Arch::X86_64, "amd"), "amd64" }, { multi.image("arm64", Arch::Aarch64, "arm"), "arm64/v8" } }), "latest");
        arm64_only.publish(arm64_only.image("arm64", Arch::Aarch64, "only"), "latest");
        lying.publish(lying.image("arm64", Arch::X86_64, "lie"), "latest");
        std::string image(0x40, '\0');
        image.replace(0x38, 4, "ARM\x64");
        image_test::write_text(scratch.path / "Image", image + "arm64 kernel");
        std::string bz(0x210, '\0');
        bz.replace(0x202, 4, "HdrS");
        image_test::write_text(scratch.path / "bzImage", bz + "x86 kernel");
        image_test::write_text(scratch.path / "init-arm64", elf_head(183) + "init");
        image_test::write_text(scratch.path / "init-x86_64", elf_head(62) + "init");
    }

    image::MakeImgOptions options(const std::string& source, Arch arch) const
    {
        image::MakeImgOptions o;
        o.docker_uri = "oci:" + (scratch.path / source).string();
        o.eif_path = (scratch.path / "out.eif").string();
        o.arch = arch;
        o.kernel_path = (scratch.path / (arch == Arch::Aarch64 ? "Image" : "bzImage")).string();
        o.init_path = (scratch.path / (arch == Arch::Aarch64 ? "init-arm64" : "init-x86_64")).string();
        return o;
    }
};

void quiet(const std::string&) {}

std::string error_of(const std::function<void()>& f)
{
    try {
        f();
    } catch (const base::Error& e) {
        return e.code() + ": " + e.what();
    }
    return "";
}

} // namespace

TEST_CASE("resolve_image: a multi-platform index resolves to linux/<arch> (arm64 with variant v8)")
{
    Fixture f;
    for (Arch arch : { Arch::X86_64, Arch::Aarch64 }) {
        image::ResolvedImage img = image::resolve_image("oci:" + f.multi.dir.string(), arch, f.scratch.path.string(), quiet);
        CHECK(img.architecture == eif::oci_arch_name(arch));
        CHECK(img.config["config"]["Cmd"][1] == (arch == Arch::Aarch64 ? "arm" : "amd"));
    }
}

TEST_CASE("resolve_image: an index without linux/<arch> is a clear error naming the platforms it has")
{
    Fixture f;
    OciLayout armv7 { f.scratch.path / "armv7" };
    armv7.publish(armv7.index({ { armv7.image("amd64", Arch::X86_64, "a"), "amd64" }, { armv7.image("arm", Arch::Aarch64, "b"), "arm/v7" },
                      { armv7.image("arm64", Arch::Aarch64, "c"), "arm64/v9" } }),
        "latest");
    std::string e = error_of([&] { image::resolve_image("oci:" + armv7.dir.string(), Arch::Aarch64, f.scratch.path.string(), quiet); });
    CHECK(e.rfind("IMG_AMBIGUOUS_IMAGE", 0) == 0);
    CHECK(e.find("linux/amd64, linux/arm/v7, linux/arm64/v9") != std::string::npos);
    CHECK(e.find("none is linux/arm64") != std::string::npos);
}

TEST_CASE("make_img: --arch sets the EIF header flag; the same layout gives each architecture's image")
{
    Fixture f;
    for (Arch arch : { Arch::X86_64, Arch::Aarch64 }) {
        image::MakeImgOptions o = f.options("multi", arch);
        image::make_img(o, quiet);
        eif::EifReader eif = eif::EifReader::open(o.eif_path);
        CHECK(eif::arch_of_flags(eif.header().flags) == arch);
        CHECK((eif.header().flags & eif::kFlagArchArm64) == (arch == Arch::Aarch64 ? eif::kFlagArchArm64 : 0));
    }
}

TEST_CASE("make_img: a mismatched image config, kernel, init or app binary is refused and nothing is written")
{
    Fixture f;
    auto refused = [&](const image::MakeImgOptions& o, const std::string& code, const std::string& text) {
        std::string e = error_of([&] { image::make_img(o, quiet); });
        CHECK_MESSAGE(e.rfind(code + ":", 0) == 0, e);
        CHECK_MESSAGE(e.find(text) != std::string::npos, e);
        CHECK(!fs::exists(o.eif_path));
    };
    // A single-arch arm64 image, built for x86_64.
    refused(f.options("arm64only", Arch::X86_64), "IMG_ARCH_MISMATCH", "built for arm64 but the EIF is for x86_64; pass --arch arm64");
    image::MakeImgOptions o = f.options("multi", Arch::Aarch64);
    o.kernel_path = (f.scratch.path / "bzImage").string();
    refused(o, "IMG_KERNEL_ARCH", "is an x86_64 bzImage but the image is for aarch64");
    o = f.options("multi", Arch::X86_64);
    o.kernel_path = (f.scratch.path / "Image").string();
    refused(o, "IMG_KERNEL_ARCH", "is an arm64 Image but the image is for x86_64");
    o = f.options("multi", Arch::Aarch64);
    o.init_path = (f.scratch.path / "init-x86_64").string();
    refused(o, "IMG_INIT_ARCH", "is an x86_64 ELF but the image is for aarch64");
    // The config says arm64, the app inside is an x86_64 binary.
    refused(f.options("lying", Arch::Aarch64), "IMG_APP_ARCH", "the app's entry binary '/bin/app' is an x86_64 ELF but the image is for aarch64");
}
