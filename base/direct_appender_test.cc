#include "base/direct_appender.h"
#include "base/file.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <linux/magic.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir()
    {
        std::string templ = (fs::temp_directory_path() / "qt-vmm-appender-test-XXXXXX").string();
        REQUIRE(::mkdtemp(templ.data()) != nullptr);
        path = templ;
    }
    ~TempDir() { fs::remove_all(path); }
};

std::string pattern(std::size_t size, unsigned seed)
{
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        s[i] = static_cast<char>(((i + seed) * 2654435761u) >> 11);
    return s;
}

// Pages of the file in the page cache.
std::size_t resident_pages(int fd, std::size_t size)
{
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(map != MAP_FAILED);
    std::size_t pages = (size + 4095) / 4096;
    std::vector<unsigned char> vec(pages);
    REQUIRE(::mincore(map, size, vec.data()) == 0);
    ::munmap(map, size);
    std::size_t resident = 0;
    for (unsigned char v : vec)
        resident += v & 1;
    return resident;
}

// Appends a stream in odd-sized pieces and patches it (in the file and in the buffer, and across
// both); the file must hold exactly the expected bytes.
void write_and_check(const fs::path& dir, base::DirectAppender::Mode mode, std::size_t total, bool* was_direct)
{
    base::AtomicFile file((dir / "out").string());
    std::string expected = pattern(total, 7);
    base::DirectAppender out(file.fd(), file.temp_path(), mode);
    std::size_t at = 0;
    for (std::size_t step = 1; at < total; step = step * 3 + 11) {
        std::size_t n = std::min<std::size_t>(step % 300'000 + 1, total - at);
        out.append(expected.data() + at, n);
        at += n;
        CHECK(out.position() == at);
    }
    // A header at 0, a patch straddling the last full buffer and the pending bytes, one at the end.
    std::vector<std::pair<std::uint64_t, std::string>> patches { { 0, "HEADER" }, { total - 10, "END" } };
    if (total > base::DirectAppender::kBufferSize + 100)
        patches.push_back({ total / base::DirectAppender::kBufferSize * base::DirectAppender::kBufferSize - 3, "STRADDLE" });
    for (const auto& [offset, text] : patches) {
        out.patch(text.data(), text.size(), offset);
        expected.replace(offset, text.size(), text);
    }
    out.finish();
    std::string late = "after finish";
    out.patch(late.data(), late.size(), 100);
    expected.replace(100, late.size(), late);
    *was_direct = out.direct();
    file.commit();
    CHECK(fs::file_size(dir / "out") == total);
    CHECK(base::read_file((dir / "out").string(), total) == expected);
}

} // namespace

TEST_CASE("DirectAppender: appends, patches in the file and in the buffer, a padded tail cut back; direct and ordinary")
{
    TempDir dir;
    struct statfs fs_info {};
    REQUIRE(::statfs(dir.path.c_str(), &fs_info) == 0);
    // Filesystems known to take O_DIRECT: there the appender must use it.
    bool direct_expected = fs_info.f_type == EXT4_SUPER_MAGIC || fs_info.f_type == XFS_SUPER_MAGIC || fs_info.f_type == BTRFS_SUPER_MAGIC;
    for (std::size_t total : { std::size_t { 700 }, std::size_t { 4096 }, std::size_t { 1 << 20 }, std::size_t { (3 << 20) + 1234 } }) {
        CAPTURE(total);
        bool direct = false;
        write_and_check(dir.path, base::DirectAppender::Mode::DirectWherePossible, total, &direct);
        if (direct_expected)
            CHECK(direct);
        write_and_check(dir.path, base::DirectAppender::Mode::Ordinary, total, &direct);
        CHECK_FALSE(direct);
    }
}

TEST_CASE("DirectAppender: with O_DIRECT the bytes written do not stay in the page cache")
{
    TempDir dir;
    base::AtomicFile file((dir.path / "big").string());
    base::DirectAppender out(file.fd(), file.temp_path());
    if (!out.direct()) {
        MESSAGE("skipped: the temp directory's filesystem refuses O_DIRECT");
        return;
    }
    std::string block = pattern(1 << 20, 3);
    for (int i = 0; i < 16; ++i)
        out.append(block.data(), block.size());
    out.finish();
    // 16 MiB written; at most the pages a later patch or the cut tail touches may be cached.
    CHECK(resident_pages(file.fd(), 16 << 20) <= 2);
}
