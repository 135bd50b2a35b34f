#include "base/error.h"
#include "base/eventfd.h"
#include "base/file.h"
#include "base/hex.h"
#include "base/sized_thread.h"
#include "base/unix_address.h"
#include "base/utf8.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sys/socket.h>
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

TEST_CASE("hex_u64 writes numbers as 0x%llx does")
{
    CHECK(base::hex_u64(0) == "0x0");
    CHECK(base::hex_u64(0xd0000000) == "0xd0000000");
    CHECK(base::hex_u64(~0ull) == "0xffffffffffffffff");
}

TEST_CASE("signal_eventfd adds one to the counter of make_eventfd's descriptor")
{
    base::UniqueFd fd = base::make_eventfd("TEST_EVENTFD", "a test");
    std::uint64_t value = 0;
    CHECK(::read(fd.get(), &value, sizeof value) < 0); // non-blocking and empty
    base::signal_eventfd(fd.get());
    base::signal_eventfd(fd.get());
    REQUIRE(::read(fd.get(), &value, sizeof value) == sizeof value);
    CHECK(value == 2);
}

TEST_CASE("unix_address takes paths up to 107 bytes and refuses empty or longer ones")
{
    sockaddr_un address;
    REQUIRE(base::unix_address("/run/qt-vmm/0.sock", address));
    CHECK(address.sun_family == AF_UNIX);
    CHECK(std::strcmp(address.sun_path, "/run/qt-vmm/0.sock") == 0);
    CHECK(base::unix_address(std::string(107, 'a'), address));
    CHECK_FALSE(base::unix_address(std::string(108, 'a'), address));
    CHECK_FALSE(base::unix_address("", address));
}

TEST_CASE("sanitize_utf8 keeps valid text, replaces invalid sequences and control bytes, cuts at a character")
{
    CHECK(base::sanitize_utf8("plain text\tok", 100) == "plain text\tok");
    CHECK(base::sanitize_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 100) == "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
    const std::string r = "\xEF\xBF\xBD";
    CHECK(base::sanitize_utf8("a\xFF" "b", 100) == "a" + r + "b");                 // not a lead byte
    CHECK(base::sanitize_utf8("\xC3", 100) == r);                                  // truncated sequence
    CHECK(base::sanitize_utf8("\xC0\xAF", 100) == r + r);                          // overlong '/'
    CHECK(base::sanitize_utf8("\xED\xA0\x80", 100) == r + r + r);                  // a surrogate
    CHECK(base::sanitize_utf8("\xF4\x90\x80\x80", 100) == r + r + r + r);          // above U+10FFFF
    CHECK(base::sanitize_utf8("a\x1B[2Jb\nc\x7F", 100) == "a" + r + "[2Jb" + r + "c" + r); // escapes, newline, DEL
    CHECK(base::sanitize_utf8("abc\xE2\x82\xAC", 5) == "abc");                      // never half a character
    CHECK(base::sanitize_utf8(std::string(100, 'x'), 10) == std::string(10, 'x'));
}

TEST_CASE("SizedThread runs its body on a stack of the size asked for, with a guard page")
{
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::size_t stack = 0, guard = 0;
    bool ran = false;
    base::SizedThread t(64 << 10, [&] {
        pthread_attr_t attr;
        REQUIRE(::pthread_getattr_np(::pthread_self(), &attr) == 0);
        void* low = nullptr;
        ::pthread_attr_getstack(&attr, &low, &stack);
        ::pthread_attr_getguardsize(&attr, &guard);
        ::pthread_attr_destroy(&attr);
        ran = true;
    });
    CHECK(t.joinable());
    CHECK(t.stack_bytes() == (64u << 10) * base::kSanitizerStackFactor);
    base::SizedThread moved = std::move(t); // a vector of them moves on growth
    CHECK_FALSE(t.joinable());
    moved.join();
    CHECK_FALSE(moved.joinable());
    CHECK(ran);
    CHECK(stack == moved.stack_bytes());
    CHECK(guard == page);
}

TEST_CASE("SizedThread rounds a tiny or odd stack up to whole pages of at least PTHREAD_STACK_MIN")
{
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    base::SizedThread t(1000, [] {});
    t.join();
    CHECK(t.stack_bytes() >= PTHREAD_STACK_MIN);
    CHECK(t.stack_bytes() % page == 0);
    CHECK_THROWS_AS(t.join(), base::Error);
}
