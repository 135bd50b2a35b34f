#include "base/error.h"
#include "tools/image/file_tree.h"

#include <doctest/doctest.h>

using image::FileTree;
using image::LayerEntry;
using image::NodeType;

namespace {

LayerEntry dir(const std::string& path, std::uint32_t mode = 0755) { return { .path = path, .type = NodeType::Directory, .mode = mode }; }
LayerEntry file(const std::string& path, std::uint64_t size = 1, std::uint32_t mode = 0644) { return { .path = path, .type = NodeType::Regular, .mode = mode, .size = size }; }
LayerEntry symlink_entry(const std::string& path, const std::string& target) { return { .path = path, .type = NodeType::Symlink, .link_target = target, .mode = 0777 }; }
LayerEntry hardlink(const std::string& path, const std::string& target) { return { .path = path, .hardlink = true, .link_target = target }; }
LayerEntry whiteout(const std::string& path) { return file(path, 0); }

std::vector<std::string> paths(const FileTree& tree)
{
    std::vector<std::string> out;
    for (const auto& [p, n] : tree.nodes())
        out.push_back(p);
    return out;
}

} // namespace

TEST_CASE("paths are normalized and escapes rejected")
{
    CHECK(image::split_entry_path("./a//b/./c/", "x") == std::vector<std::string> { "a", "b", "c" });
    CHECK(image::split_entry_path("./", "x").empty());
    CHECK(image::split_entry_path("a/../b", "x") == std::vector<std::string> { "b" });
    CHECK_THROWS_AS(image::split_entry_path("../etc/passwd", "x"), base::Error);
    CHECK_THROWS_AS(image::split_entry_path("a/../../b", "x"), base::Error);
    CHECK_THROWS_AS(image::split_entry_path("/etc/passwd", "x"), base::Error);
    FileTree tree;
    CHECK_THROWS_AS(tree.apply(0, file("../x")), base::Error);
}

TEST_CASE("later layers replace files; parents are created; modes and owners kept")
{
    FileTree tree;
    tree.apply(0, file("usr/bin/tool", 5, 04755), 0);
    tree.apply(0, { .path = "etc/conf", .type = NodeType::Regular, .mode = 0600, .uid = 1000, .gid = 1001, .size = 3 }, 5);
    tree.apply(1, file("etc/conf", 7), 8);
    CHECK(paths(tree) == std::vector<std::string> { "", "etc", "etc/conf", "usr", "usr/bin", "usr/bin/tool" });
    const auto* conf = tree.find("etc/conf");
    REQUIRE(conf);
    CHECK(tree.inodes()[conf->inode].data_offset == 8);
    CHECK(tree.inodes()[conf->inode].size == 7);
    CHECK(tree.inodes()[tree.find("usr/bin/tool")->inode].mode == 04755);
    CHECK(tree.find("usr")->mode == 0755);
}

TEST_CASE("whiteouts remove lower entries and their subtrees, not same-layer ones")
{
    FileTree tree;
    tree.apply(0, dir("a"));
    tree.apply(0, file("a/x"));
    tree.apply(0, dir("a/sub"));
    tree.apply(0, file("a/sub/y"));
    tree.apply(0, file("keep"));
    tree.apply(1, whiteout("a/.wh.sub"));
    tree.apply(1, whiteout(".wh.missing"));      // nothing to hide: no effect
    tree.apply(1, whiteout("nodir/.wh.x"));      // directory does not exist: no effect
    CHECK(paths(tree) == std::vector<std::string> { "", "a", "a/x", "keep" });
    // A file added in the same layer as its whiteout survives it.
    tree.apply(2, file("a/new"));
    tree.apply(2, whiteout("a/.wh.new"));
    CHECK(tree.find("a/new") != nullptr);
    // Whiteout file itself never appears; a whiteout then a new dir in a later layer is fresh.
    tree.apply(3, whiteout(".wh.a"));
    CHECK(tree.find("a") == nullptr);
    CHECK(tree.find("a/x") == nullptr);
    tree.apply(4, dir("a", 0700));
    CHECK(tree.find("a")->mode == 0700);
    CHECK(tree.find("a/new") == nullptr);
}

TEST_CASE("opaque directories drop lower content but keep the directory and same-layer content")
{
    FileTree tree;
    tree.apply(0, dir("d", 0750));
    tree.apply(0, file("d/old"));
    tree.apply(0, dir("d/deep"));
    tree.apply(0, file("d/deep/older"));
    tree.apply(1, dir("d", 0750));
    tree.apply(1, file("d/new"));
    tree.apply(1, whiteout("d/.wh..wh..opq"));
    CHECK(paths(tree) == std::vector<std::string> { "", "d", "d/new" });
    CHECK(tree.find("d")->mode == 0750);
    tree.apply(1, whiteout(".wh..wh..opq")); // opaque root: lower layers gone entirely
    CHECK(paths(tree) == std::vector<std::string> { "", "d", "d/new" });
}

TEST_CASE("type changes: a file over a directory removes the subtree, a dir over a dir merges")
{
    FileTree tree;
    tree.apply(0, dir("x"));
    tree.apply(0, file("x/inner"));
    tree.apply(1, dir("x", 0700));
    CHECK(tree.find("x/inner") != nullptr);
    CHECK(tree.find("x")->mode == 0700);
    tree.apply(2, symlink_entry("x", "elsewhere"));
    CHECK(tree.find("x/inner") == nullptr);
    CHECK(tree.find("x")->type == NodeType::Symlink);
    tree.apply(3, dir("x"));
    CHECK(tree.find("x")->type == NodeType::Directory);
}

TEST_CASE("hardlinks share an inode within and across layers")
{
    FileTree tree;
    tree.apply(0, file("bin/a", 10, 0755), 100);
    tree.apply(0, hardlink("bin/b", "bin/a"));
    tree.apply(1, hardlink("sbin/c", "./bin/a"));
    CHECK(tree.find("bin/a")->inode == tree.find("bin/b")->inode);
    CHECK(tree.find("bin/a")->inode == tree.find("sbin/c")->inode);
    // Replacing one name breaks only that link.
    tree.apply(2, file("bin/a", 3), 200);
    CHECK(tree.find("bin/a")->inode != tree.find("bin/b")->inode);
    CHECK(tree.inodes()[tree.find("bin/b")->inode].data_offset == 100);
    // Deleting the original keeps the other names' contents.
    tree.apply(3, whiteout("bin/.wh.a"));
    CHECK(tree.find("bin/b") != nullptr);
    CHECK_THROWS_AS(tree.apply(3, hardlink("z", "no/such")), base::Error);
    CHECK_THROWS_AS(tree.apply(3, hardlink("z", "bin")), base::Error);
}

TEST_CASE("symlinked parent directories are followed inside the root")
{
    FileTree tree;
    tree.apply(0, dir("usr/lib"));
    tree.apply(0, symlink_entry("lib", "usr/lib"));
    tree.apply(1, file("lib/libc.so"));
    CHECK(tree.find("usr/lib/libc.so") != nullptr);
    CHECK(tree.find("lib")->type == NodeType::Symlink);
    // Absolute and climbing targets stay inside the image.
    tree.apply(1, symlink_entry("abs", "/usr/lib"));
    tree.apply(1, file("abs/x"));
    CHECK(tree.find("usr/lib/x") != nullptr);
    tree.apply(1, symlink_entry("up", "../../../usr"));
    tree.apply(1, file("up/y"));
    CHECK(tree.find("usr/y") != nullptr);
    // Whiteouts follow them too.
    tree.apply(2, whiteout("lib/.wh.libc.so"));
    CHECK(tree.find("usr/lib/libc.so") == nullptr);
    // Loops are an error, not a hang.
    tree.apply(3, symlink_entry("loop1", "loop2"));
    tree.apply(3, symlink_entry("loop2", "loop1"));
    CHECK_THROWS_AS(tree.apply(3, file("loop1/f")), base::Error);
    // A file used as a directory is an error.
    tree.apply(3, file("plain"));
    CHECK_THROWS_AS(tree.apply(3, file("plain/f")), base::Error);
}

TEST_CASE("root entry updates the root's mode; mount points are only added when absent")
{
    FileTree tree;
    tree.apply(0, dir("./", 0700));
    CHECK(tree.find("")->mode == 0700);
    tree.apply(0, symlink_entry("tmp", "/var/tmp"));
    tree.ensure_directory("tmp");
    tree.ensure_directory("proc");
    CHECK(tree.find("tmp")->type == NodeType::Symlink);
    CHECK(tree.find("proc")->type == NodeType::Directory);
}
