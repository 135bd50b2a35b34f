#include "base/byte_sink.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

TEST_CASE("ByteSink: a file range goes to file_range when the receiver has one, else through the bytes callback in pieces")
{
    std::string input(3 << 20, '\0');
    for (std::size_t i = 0; i < input.size(); ++i)
        input[i] = static_cast<char>(i * 131 + (i >> 12));
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    REQUIRE(std::fwrite(input.data(), 1, input.size(), file) == input.size());
    REQUIRE(std::fflush(file) == 0);
    int fd = ::fileno(file);

    std::string via_bytes;
    std::size_t calls = 0;
    base::ByteSink plain = [&](const void* p, std::size_t n) {
        via_bytes.append(static_cast<const char*>(p), n);
        ++calls;
    };
    plain("head", 4);
    plain.from_file(fd, 5, input.size() - 5, "input");
    CHECK(via_bytes == "head" + input.substr(5));
    CHECK(calls == 1 + 3); // 3 MiB - 5 bytes in 1 MiB pieces
    CHECK_THROWS_WITH(plain.from_file(fd, input.size() - 1, 2, "input"), doctest::Contains("input"));

    std::string ranges;
    base::ByteSink direct(
        [&](const void* p, std::size_t n) { ranges.append(static_cast<const char*>(p), n); },
        [&](int range_fd, std::uint64_t at, std::uint64_t n, const std::string& name) {
            CHECK(range_fd == fd);
            ranges += name + "@" + std::to_string(at) + "+" + std::to_string(n);
        });
    direct("x", 1);
    direct.from_file(fd, 7, 100, "input");
    direct.from_file(fd, 7, 0, "input"); // nothing to pass on
    CHECK(ranges == "xinput@7+100");
    std::fclose(file);
}
