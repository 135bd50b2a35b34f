#include "tools/image/cpio_writer.h"
#include "tools/image/file_tree.h"
#include "tools/image/ramdisk.h"

#include "tools/image/temp_file.h"
#include "base/file.h"

#include <doctest/doctest.h>
#include <set>
#include <sys/stat.h>

namespace {

// An independent newc reader for the tests.
struct Parsed {
    std::string name;
    std::uint32_t fields[13];
    std::string data;
};

std::vector<Parsed> parse_newc(const std::string& archive)
{
    std::vector<Parsed> out;
    std::size_t pos = 0;
    for (;;) {
        REQUIRE(pos + 110 <= archive.size());
        REQUIRE(archive.compare(pos, 6, "070701") == 0);
        Parsed p {};
        for (int i = 0; i < 13; ++i)
            p.fields[i] = static_cast<std::uint32_t>(std::stoul(archive.substr(pos + 6 + i * 8, 8), nullptr, 16));
        std::uint32_t namesize = p.fields[11], filesize = p.fields[6];
        p.name = archive.substr(pos + 110, namesize - 1);
        CHECK(archive[pos + 110 + namesize - 1] == '\0');
        pos = (pos + 110 + namesize + 3) & ~std::size_t(3);
        p.data = archive.substr(pos, filesize);
        pos = (pos + filesize + 3) & ~std::size_t(3);
        if (p.name == "TRAILER!!!")
            break;
        out.push_back(p);
    }
    CHECK(pos == archive.size());
    return out;
}

enum { Ino, Mode, Uid, Gid, Nlink, Mtime, Filesize, DevMajor, DevMinor, RdevMajor, RdevMinor, Namesize, Check };

} // namespace

TEST_CASE("newc header layout is exact")
{
    image::CpioEntry e { .name = "init", .mode = S_IFREG | 0755, .uid = 1, .gid = 2, .nlink = 1, .ino = 7, .size = 0x1234 };
    std::string h = image::cpio_newc_header(e, 0x5f000000);
    CHECK(h.size() == 116); // 110 + "init\0" = 115, padded to 4
    CHECK(h.substr(0, 110) == "070701" "00000007" "000081ed" "00000001" "00000002" "00000001" "5f000000" "00001234"
                               "00000000" "00000000" "00000000" "00000000" "00000005" "00000000");
}

TEST_CASE("writer pads names and data to 4 bytes, assigns inodes and ends with a trailer")
{
    std::string out;
    image::CpioWriter cpio([&](const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); }, 42);
    cpio.add_directory("dev", 0755);
    cpio.add_file("cmd", 0644, "/bin/sh\n-c\n");
    cpio.add({ .name = "link", .mode = S_IFLNK | 0777, .size = 3 }, "cmd");
    cpio.finish();
    CHECK(out.size() % 4 == 0);
    CHECK(cpio.bytes_written() == out.size());
    auto entries = parse_newc(out);
    REQUIRE(entries.size() == 3);
    CHECK(entries[0].name == "dev");
    CHECK(entries[0].fields[Mode] == (S_IFDIR | 0755));
    CHECK(entries[1].data == "/bin/sh\n-c\n");
    CHECK(entries[2].data == "cmd");
    CHECK(entries[0].fields[Ino] == 1);
    CHECK(entries[1].fields[Ino] == 2);
    CHECK(entries[2].fields[Ino] == 3);
    for (const auto& e : entries)
        CHECK(e.fields[Mtime] == 42);
}

TEST_CASE("app ramdisk: sorted, rootfs prefix, launch files, hardlink data on the last link")
{
    image::SpillFile spill("/tmp/app.eif");
    spill.append("HELLOworld", 10);
    spill.flush();
    image::ContentSources contents(spill);
    image::FileTree tree;
    tree.apply(0, { .path = "bin/", .type = image::NodeType::Directory, .mode = 0755 });
    tree.apply(0, { .path = "bin/z", .type = image::NodeType::Regular, .mode = 04755, .uid = 5, .gid = 6, .size = 5 }, 0);
    tree.apply(0, { .path = "bin/a", .hardlink = true, .link_target = "bin/z" });
    tree.apply(0, { .path = "etc/w", .type = image::NodeType::Regular, .mode = 0600, .size = 5 }, 5);
    tree.apply(0, { .path = "dev/null", .type = image::NodeType::CharDevice, .mode = 0666, .rdev_major = 1, .rdev_minor = 3 });
    tree.apply(0, { .path = "sh", .type = image::NodeType::Symlink, .link_target = "/bin/z", .mode = 0777 });
    image::add_mount_points(tree);
    image::LaunchConfig launch { .argv = { "/bin/z", "x" }, .env = { "A=1" }, .workdir = std::string("/srv"), .user = std::nullopt, .forward = std::nullopt };

    std::string out;
    image::write_app_ramdisk(tree, contents, launch, 0, [&](const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); });
    auto entries = parse_newc(out);
    std::vector<std::string> names;
    for (const auto& e : entries)
        names.push_back(e.name);
    CHECK(names == std::vector<std::string> { "cmd", "env", "rootfs", "rootfs/bin", "rootfs/bin/a", "rootfs/bin/z", "rootfs/dev",
                       "rootfs/dev/null", "rootfs/etc", "rootfs/etc/w", "rootfs/proc", "rootfs/run", "rootfs/sh", "rootfs/sys",
                       "rootfs/tmp", "rootfs/var", "workdir" });
    auto by_name = [&](const std::string& n) { for (const auto& e : entries) if (e.name == n) return e; FAIL("missing " << n); return entries[0]; };
    CHECK(by_name("cmd").data == "/bin/z\nx\n");
    CHECK(by_name("env").data == "A=1\n");
    CHECK(by_name("workdir").data == "/srv\n");
    auto a = by_name("rootfs/bin/a"), z = by_name("rootfs/bin/z");
    CHECK(a.fields[Ino] == z.fields[Ino]);
    CHECK(a.fields[Nlink] == 2);
    CHECK(z.fields[Nlink] == 2);
    CHECK(a.data.empty());
    CHECK(z.data == "HELLO");
    CHECK(z.fields[Mode] == (S_IFREG | 04755));
    CHECK(a.fields[Uid] == 5);
    CHECK(by_name("rootfs/etc/w").data == "world");
    CHECK(by_name("rootfs/etc/w").fields[Nlink] == 1);
    CHECK(by_name("rootfs/dev/null").fields[RdevMajor] == 1);
    CHECK(by_name("rootfs/dev/null").fields[RdevMinor] == 3);
    CHECK(by_name("rootfs/sh").data == "/bin/z");
    CHECK(by_name("rootfs/sh").fields[Mode] == (S_IFLNK | 0777));
    // distinct inodes for everything that is not a hardlink
    std::set<std::uint32_t> inos;
    for (const auto& e : entries)
        inos.insert(e.fields[Ino]);
    CHECK(inos.size() == entries.size() - 1);
}
