#include "base/error.h"
#include "tools/image/app_entry.h"
#include "tools/image/guest_arch.h"
#include "tools/image/testdata/scratch_dir.h"

#include <doctest/doctest.h>

using eif::Arch;

namespace {

// The first bytes of a 64-bit little-endian ELF for e_machine `machine` (class/data overridable).
std::string elf_head(std::uint16_t machine, char elf_class = 2, char data = 1)
{
    std::string h(64, '\0');
    h.replace(0, 4, "\x7f" "ELF");
    h[4] = elf_class;
    h[5] = data;
    h[18] = static_cast<char>(data == 1 ? machine & 0xff : machine >> 8);
    h[19] = static_cast<char>(data == 1 ? machine >> 8 : machine & 0xff);
    return h;
}

std::string arm64_image_head()
{
    std::string h(0x40, '\0');
    h.replace(0x38, 4, "ARM\x64");
    return h;
}

std::string bzimage_head()
{
    std::string h(0x210, '\0');
    h.replace(0x202, 4, "HdrS");
    return h;
}

std::string error_code(const std::function<void()>& f)
{
    try {
        f();
    } catch (const base::Error& e) {
        return e.code();
    }
    return "";
}

} // namespace

TEST_CASE("kernel_arch: the boot header's magic names the architecture")
{
    CHECK(image::kernel_arch(arm64_image_head()) == Arch::Aarch64);
    CHECK(image::kernel_arch(bzimage_head()) == Arch::X86_64);
    CHECK(!image::kernel_arch(std::string(0x300, 'x')));
    CHECK(!image::kernel_arch("ARM")); // short files are neither
    CHECK(!image::kernel_arch(bzimage_head().substr(0, 0x204)));
}

TEST_CASE("elf_arch: 64-bit little-endian x86_64 and aarch64 only")
{
    CHECK(image::elf_arch(elf_head(62)) == Arch::X86_64);
    CHECK(image::elf_arch(elf_head(183)) == Arch::Aarch64);
    CHECK(!image::elf_arch(elf_head(40)));          // 32-bit ARM's machine
    CHECK(!image::elf_arch(elf_head(62, 1)));       // ELFCLASS32
    CHECK(!image::elf_arch(elf_head(183, 2, 2)));   // big-endian
    CHECK(!image::elf_arch("#!/bin/sh\n"));
    CHECK(image::describe_elf(elf_head(183)) == "an aarch64 ELF");
    CHECK(image::describe_elf(elf_head(40)) == "an ELF for machine 40");
    CHECK(image::describe_elf(elf_head(62, 1)) == "a 32-bit ELF");
    CHECK(image::describe_elf("#!/bin/sh\n") == "not an ELF executable");
}

TEST_CASE("check_kernel_arch / check_elf_arch: a mismatch is an error naming the file and the fix")
{
    image_test::ScratchDir dir;
    image_test::write_text(dir.path / "Image", arm64_image_head());
    image_test::write_text(dir.path / "bzImage", bzimage_head());
    image_test::write_text(dir.path / "junk", "not a kernel");
    CHECK_NOTHROW(image::check_kernel_arch(dir.path / "Image", Arch::Aarch64));
    CHECK_NOTHROW(image::check_kernel_arch(dir.path / "bzImage", Arch::X86_64));
    CHECK(error_code([&] { image::check_kernel_arch(dir.path / "bzImage", Arch::Aarch64); }) == "IMG_KERNEL_ARCH");
    CHECK(error_code([&] { image::check_kernel_arch(dir.path / "Image", Arch::X86_64); }) == "IMG_KERNEL_ARCH");
    CHECK(error_code([&] { image::check_kernel_arch(dir.path / "junk", Arch::X86_64); }) == "IMG_KERNEL_ARCH");
    CHECK(error_code([&] { image::check_kernel_arch(dir.path / "missing", Arch::X86_64); }) == "IMG_MISSING_INPUT");
    try {
        image::check_kernel_arch(dir.path / "bzImage", Arch::Aarch64);
    } catch (const base::Error& e) {
        std::string m = e.what();
        CHECK(m.find("bzImage' is an x86_64 bzImage but the image is for aarch64") != std::string::npos);
        CHECK(m.find("--arch arm64") != std::string::npos);
    }
    CHECK_NOTHROW(image::check_elf_arch(elf_head(183), Arch::Aarch64, "IMG_INIT_ARCH", "init", "fix"));
    CHECK(error_code([&] { image::check_elf_arch(elf_head(62), Arch::Aarch64, "IMG_INIT_ARCH", "init", "fix"); }) == "IMG_INIT_ARCH");
    CHECK(error_code([&] { image::check_elf_arch("#!/bin/sh", Arch::X86_64, "IMG_APP_ARCH", "app", "fix"); }) == "IMG_APP_ARCH");
}

namespace {

image::LayerEntry file_entry(const std::string& path, std::uint64_t size) { return { .path = path, .type = image::NodeType::Regular, .mode = 0755, .size = size }; }
image::LayerEntry link_entry(const std::string& path, const std::string& target) { return { .path = path, .type = image::NodeType::Symlink, .link_target = target, .mode = 0777 }; }

// The data_offset of the inode found, or -1.
long long found_at(const image::FileTree& tree, const image::LaunchConfig& launch)
{
    const image::Inode* inode = image::find_app_entry(tree, launch);
    return inode ? static_cast<long long>(inode->data_offset) : -1;
}

} // namespace

TEST_CASE("find_app_entry: argv[0] the way guest-init finds it (PATH, WorkingDir, symlinks inside the root)")
{
    image::FileTree tree;
    tree.apply(0, file_entry("opt/app/bin/server", 10), 100);
    tree.apply(0, file_entry("usr/bin/tool", 10), 200);
    tree.apply(0, file_entry("srv/run.sh", 10), 300);
    tree.apply(0, link_entry("usr-bin", "opt/app/bin"));          // relative, a directory
    tree.apply(0, link_entry("usr/local/bin/server", "/opt/app/bin/server")); // absolute
    tree.apply(0, link_entry("usr/bin/up", "../../opt/app/bin/server"));      // climbing
    tree.apply(0, link_entry("loop", "loop"));

    image::LaunchConfig launch;
    launch.argv = { "tool" }; // guest-init's default PATH
    CHECK(found_at(tree, launch) == 200);
    launch.argv = { "server" };
    launch.env = { "PATH=/nowhere:/usr-bin" };
    CHECK(found_at(tree, launch) == 100);
    launch.env = { "PATH=/usr/local/bin" };
    CHECK(found_at(tree, launch) == 100);
    launch.argv = { "up" };
    launch.env = { "PATH=/usr/bin" };
    CHECK(found_at(tree, launch) == 100);
    launch.argv = { "/opt/app/bin/server" };
    CHECK(found_at(tree, launch) == 100);
    launch.argv = { "./run.sh" };
    launch.workdir = "/srv";
    CHECK(found_at(tree, launch) == 300);
    launch.argv = { "missing" };
    CHECK(found_at(tree, launch) == -1);
    launch.argv = { "/loop" };
    CHECK(found_at(tree, launch) == -1);
    launch.argv = { "/opt/app/bin" }; // a directory
    CHECK(found_at(tree, launch) == -1);
}
