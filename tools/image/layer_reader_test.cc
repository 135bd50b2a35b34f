#include "tools/image/layer_reader.h"

#include "base/error.h"
#include "base/file.h"
#include "tools/image/testdata/scratch_dir.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <map>
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

std::string contents(const image::FileTree& tree, const image::ContentSources& sources, const std::string& path)
{
    const image::Node& node = tree.nodes().at(path);
    const image::Inode& inode = tree.inodes()[node.inode];
    std::string out(inode.size, '\0');
    sources.pread(inode, out.data(), out.size(), 0);
    return out;
}

// Runs a tar through read_layer read in place (the file leased) or copied to the spill file (a
// writer holds the file open, so no lease can be had), then calls check(tree, sources).
template <typename Check>
void read_one_way(const std::string& tar, bool in_place, Check check)
{
    base::UniqueFd writer;
    if (!in_place)
        writer = base::UniqueFd(::open(tar.c_str(), O_WRONLY | O_CLOEXEC));
    base::UniqueFd fd = base::open_read(tar);
    image::LayerBlob blob { .range = { .fd = fd.get(), .offset = 0, .size = fs::file_size(tar), .name = "layer.tar" } };
    image::FileTree tree;
    image::SpillFile spill(tar);
    image::ContentSources sources(spill);
    image::UnpackTotals totals;
    image::read_layer(blob, 0, tree, sources, image::UnpackLimits {}, totals);
    spill.flush();
    // Plain files are read in place only when the blob is leased; the copies land in the spill.
    REQUIRE(sources.in_place(blob.range).has_value() == in_place);
    check(tree, sources);
    sources.verify();
}

// Both ways; check(tree, sources, in_place).
template <typename Check>
void read_both_ways(const std::string& tar, Check check)
{
    for (bool in_place : { true, false }) {
        CAPTURE(in_place);
        read_one_way(tar, in_place, [&](const image::FileTree& tree, const image::ContentSources& sources) { check(tree, sources, in_place); });
    }
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

    std::string a((1 << 20) + 6 + (512 << 10), '\0');
    a.replace(0, 4, "head");
    a.replace(1 << 20, 6, "middle");
    std::string c((100 << 10) + 4, '\0');
    c.replace(100 << 10, 4, "tail");
    read_both_ways(tar, [&](const image::FileTree& tree, const image::ContentSources& sources, bool in_place) {
        CHECK(contents(tree, sources, "a") == a);
        CHECK(contents(tree, sources, "b") == "bbbb");
        CHECK(contents(tree, sources, "c") == c);
        // Sparse entries are never read in place (their bytes are not contiguous in the tar); b has no holes.
        CHECK(tree.inodes()[tree.nodes().at("a").inode].data_source == 0);
        CHECK(tree.inodes()[tree.nodes().at("c").inode].data_source == 0);
        CHECK(tree.inodes()[tree.nodes().at("b").inode].data_source == (in_place ? 1u : 0u));
    });
}

TEST_CASE("read_layer: in place or copied, every tar flavour gives each file its own bytes (long names, pax, hardlinks, empty files)")
{
    const std::string long_dir(120, 'd');
    for (std::string format : { "gnu", "pax", "ustar", "v7" }) {
        CAPTURE(format);
        bool ustar_like = format == "ustar" || format == "v7"; // no long or non-ASCII names
        ScratchDir dir;
        fs::create_directories(dir.path / "root");
        if (!ustar_like)
            fs::create_directories(dir.path / "root" / long_dir);
        // Sizes around the 512-byte block and a file larger than the reader's 1 MiB reads.
        std::map<std::string, std::string> files;
        std::string big((3 << 20) + 17, '\0');
        for (std::size_t i = 0; i < big.size(); ++i)
            big[i] = static_cast<char>((i * 2654435761u) >> 13);
        files["big"] = big;
        files["empty"] = "";
        files["one"] = "1";
        files["block"] = std::string(512, 'b');
        files["block+1"] = std::string(513, 'c');
        files["name-with-\xc3\xa9"] = "accent";
        files[long_dir + "/f"] = "in a long directory";
        for (const auto& [name, text] : files) {
            if (ustar_like && (name.size() > 99 || name.find('\xc3') != std::string::npos))
                continue;
            pwrite_text(dir.path / "root" / name, text, 0);
        }
        REQUIRE(::link((dir.path / "root/one").c_str(), (dir.path / "root/one-link").c_str()) == 0);
        std::string tar = (dir.path / "layer.tar").string();
        std::string cmd = "tar --format=" + format + " --sort=name -C '" + (dir.path / "root").string() + "' -cf '" + tar + "' .";
        REQUIRE(std::system(cmd.c_str()) == 0);

        read_both_ways(tar, [&](const image::FileTree& tree, const image::ContentSources& sources, bool in_place) {
            for (const auto& [name, text] : files) {
                if (!fs::exists(dir.path / "root" / name))
                    continue;
                CAPTURE(name);
                CHECK(contents(tree, sources, name) == text);
                CHECK(tree.inodes()[tree.nodes().at(name).inode].data_source == (in_place ? 1u : 0u));
            }
            CHECK(tree.nodes().at("one-link").inode == tree.nodes().at("one").inode);
        });
    }
}

TEST_CASE("read_layer: a plain tar cut short inside a file's data fails in place as it does when copied")
{
    ScratchDir dir;
    fs::create_directory(dir.path / "root");
    pwrite_text(dir.path / "root/a", std::string(10000, 'a'), 0);
    std::string tar = (dir.path / "layer.tar").string();
    std::string cmd = "tar -C '" + (dir.path / "root").string() + "' -cf '" + tar + "' a";
    REQUIRE(std::system(cmd.c_str()) == 0);
    REQUIRE(::truncate(tar.c_str(), 512 + 4000) == 0); // the header and part of the data
    for (bool in_place : { true, false }) {
        CAPTURE(in_place);
        try {
            read_one_way(tar, in_place, [](const image::FileTree&, const image::ContentSources&) {});
            FAIL("a truncated layer was accepted");
        } catch (const base::Error& e) {
            CHECK(e.code() == "IMG_LAYER_BAD");
            CHECK(std::string(e.what()).find("'a'") != std::string::npos);
        }
    }
}
