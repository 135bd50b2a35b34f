// Unit tests for guest-init/launch_files.h.
#include <doctest/doctest.h>

#include "guest-init/launch_files.h"

using namespace guest_init;

TEST_CASE("split_lines: final newline ends the last line, middle empty lines are kept")
{
    CHECK(split_lines("") == std::vector<std::string> {});
    CHECK(split_lines("a") == std::vector<std::string> { "a" });
    CHECK(split_lines("a\n") == std::vector<std::string> { "a" });
    CHECK(split_lines("a\n\nb\n") == std::vector<std::string> { "a", "", "b" });
    CHECK(split_lines("a\nb") == std::vector<std::string> { "a", "b" });
    CHECK(split_lines("\n") == std::vector<std::string> { "" });
}

TEST_CASE("parse_cmd: one argv element per line, spaces and empty arguments kept")
{
    CmdParse p = parse_cmd("python3\n-m\nhttp.server\nhello world\n\nlast\n");
    CHECK(p.error.empty());
    CHECK(p.argv == std::vector<std::string> { "python3", "-m", "http.server", "hello world", "", "last" });
}

TEST_CASE("parse_cmd: empty files and empty argv[0] are errors")
{
    for (std::string_view text : { std::string_view(""), std::string_view("\n"), std::string_view("\nfoo\n") }) {
        CmdParse p = parse_cmd(text);
        CHECK(!p.error.empty());
        CHECK(p.code == InitError::CmdEmpty);
        CHECK(p.argv.empty());
    }
}

TEST_CASE("parse_cmd: a NUL byte is rejected")
{
    CmdParse p = parse_cmd(std::string_view("a\0b\n", 4));
    CHECK(p.code == InitError::CmdInvalid);
    CHECK(p.error.find("NUL") != std::string::npos);
}

TEST_CASE("parse_env: KEY=VALUE lines, later duplicates win, bad lines reported")
{
    EnvParse p = parse_env("PATH=/bin\nA=1=2\n\nnoequals\n=novalue\nPATH=/usr/bin\nEMPTY=\n");
    CHECK(p.vars == std::vector<std::string> { "PATH=/usr/bin", "A=1=2", "EMPTY=" });
    CHECK(p.ignored_lines == std::vector<size_t> { 4, 5 });
    CHECK(parse_env("").vars.empty());
}

TEST_CASE("env_lookup and env_set_default")
{
    std::vector<std::string> vars { "PATH=/x", "PATHEXT=no", "EMPTY=" };
    CHECK(env_lookup(vars, "PATH") == std::optional<std::string_view>("/x"));
    CHECK(env_lookup(vars, "EMPTY") == std::optional<std::string_view>(""));
    CHECK(!env_lookup(vars, "PAT"));
    CHECK(!env_lookup(vars, "HOME"));
    env_set_default(vars, "PATH", "/other");
    CHECK(env_lookup(vars, "PATH") == std::optional<std::string_view>("/x"));
    env_set_default(vars, "HOME", "/root");
    CHECK(vars.back() == "HOME=/root");

    std::vector<std::string> none;
    env_set_default(none, "PATH", kDefaultPath);
    CHECK(env_lookup(none, "PATH") == std::optional<std::string_view>("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
}

TEST_CASE("parse_single_line: first line, trimmed")
{
    CHECK(parse_single_line("") == "");
    CHECK(parse_single_line("\n") == "");
    CHECK(parse_single_line("/srv/app\n") == "/srv/app");
    CHECK(parse_single_line("  app:staff \r\nignored\n") == "app:staff");
    CHECK(parse_single_line("1000:1000") == "1000:1000");
}
