#include "tools/image/layer_reader.h"

#include "base/error.h"
#include "base/file.h"
#include "tools/image/testdata/scratch_dir.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

using image_test::ScratchDir;

void pwrite_text(const fs::path& file, const std::string& text, off_t at)
{
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, text.data(), text.size(), at) == static_cast<ssize_t>(text.size()));
    ::close(fd);
}

std::string contents(const image::FileTree& tree, const image::SpillFile& spill, const std::string& path)
{
    const image::Node& node = tree.nodes().at(path);
    const image::Inode& inode = tree.inodes()[node.inode];
    std::string out(inode.size, '\0');
    base::pread_exact(spill.fd(), out.data(), out.size(), inode.data_offset, "spill");
    return out;
}

} // namespace

TEST_CASE("read_layer: sparse files (holes of any size, leading, inner and trailing) keep every file's bytes in place")
{
    ScratchDir dir;
    fs::create_directory(dir.path / "root");
    // a: data, a 1 MiB hole, data, a trailing 512 KiB hole; b: a small file after it; c: a 100 KiB hole first.
    pwrite_text(dir.path / "root/a", "head", 0);
    pwrite_text(dir.path / "root/a", "middle", 1 << 20);
    REQUIRE(::truncate((dir.path / "root/a").c_str(), (1 << 20) + 6 + (512 << 10)) == 0);
    pwrite_text(dir.path / "root/b", "bbbb", 0);
    pwrite_text(dir.path / "root/c", "tail", 100 << 10);
    std::string tar = (dir.path / "layer.tar").string();
    std::string cmd = "tar --sparse --format=gnu -C '" + (dir.path / "root").string() + "' -cf '" + tar + "' a b c";
    REQUIRE(std::system(cmd.c_str()) == 0);

    base::UniqueFd fd = base::open_read(tar);
    image::LayerBlob blob { .range = { .fd = fd.get(), .offset = 0, .size = fs::file_size(tar), .name = "layer.tar" } };
    image::FileTree tree;
    image::SpillFile spill(tar);
    image::UnpackTotals totals;
    image::read_layer(blob, 0, tree, spill, image::UnpackLimits {}, totals);
    spill.flush();

    std::string a((1 << 20) + 6 + (512 << 10), '\0');
    a.replace(0, 4, "head");
    a.replace(1 << 20, 6, "middle");
    std::string c((100 << 10) + 4, '\0');
    c.replace(100 << 10, 4, "tail");
    CHECK(contents(tree, spill, "a") == a);
    CHECK(contents(tree, spill, "b") == "bbbb");
    CHECK(contents(tree, spill, "c") == c);
}
