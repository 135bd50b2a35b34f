#include "base/error.h"
#include "base/file.h"
#include "base/hex.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;

static fs::path make_temp_dir()
{
    std::string templ = (fs::temp_directory_path() / "qt-vmm-base-test-XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    return templ;
}

TEST_CASE("hex round trip and rejection of bad input")
{
    const std::uint8_t bytes[] = { 0x00, 0x7f, 0xab, 0xff };
    CHECK(base::to_hex(bytes, sizeof bytes) == "007fabff");
    auto back = base::from_hex("007FabfF");
    REQUIRE(back.has_value());
    CHECK(*back == std::vector<std::uint8_t>(bytes, bytes + sizeof bytes));
    CHECK_FALSE(base::from_hex("abc").has_value());
    CHECK_FALSE(base::from_hex("zz").has_value());
}

TEST_CASE("AtomicFile appears only on commit and leaves nothing behind otherwise")
{
    fs::path dir = make_temp_dir();
    fs::path target = dir / "out.bin";
    {
        base::AtomicFile f(target.string());
        f.write("hello");
        CHECK(fs::exists(f.temp_path()));
        CHECK_FALSE(fs::exists(target));
    }
    CHECK(fs::is_empty(dir));
    {
        base::AtomicFile f(target.string());
        f.write("hello");
        f.pwrite("J", 1, 0);
        f.commit();
    }
    CHECK(base::read_file(target.string(), 100) == "Jello");
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
    fs::remove_all(dir);
}

TEST_CASE("read_file enforces its size cap and names the path")
{
    fs::path dir = make_temp_dir();
    fs::path p = dir / "big";
    {
        base::AtomicFile f(p.string());
        f.write(std::string(1000, 'x'));
        f.commit();
    }
    CHECK(base::read_file(p.string(), 1000).size() == 1000);
    try {
        base::read_file(p.string(), 999);
        FAIL("expected an error");
    } catch (const base::Error& e) {
        CHECK(e.code() == "FILE_TOO_LARGE");
        CHECK(std::string(e.what()).find(p.string()) != std::string::npos);
        CHECK(e.exit_status() == 3);
    }
    try {
        base::read_file((dir / "missing").string(), 10);
        FAIL("expected an error");
    } catch (const base::Error& e) {
        CHECK(e.kind() == base::ErrorKind::NotFound);
    }
    fs::remove_all(dir);
}
