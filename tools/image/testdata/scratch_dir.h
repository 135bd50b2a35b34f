// tools/image/testdata/scratch_dir.h — a temporary directory for the image unit tests, removed
// with everything in it when the test ends.
//
//     image_test::ScratchDir dir;                 // /tmp/qt-vmm-image-test-XXXXXX
//     image_test::write_text(dir.path / "f", "bytes");
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace image_test {

struct ScratchDir {
    std::filesystem::path path;
    ScratchDir()
    {
        std::string templ = (std::filesystem::temp_directory_path() / "qt-vmm-image-test-XXXXXX").string();
        REQUIRE(::mkdtemp(templ.data()) != nullptr);
        path = templ;
    }
    ~ScratchDir() { std::filesystem::remove_all(path); }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
};

inline void write_text(const std::filesystem::path& file, const std::string& bytes)
{
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << bytes;
    REQUIRE(out.good());
}

} // namespace image_test
