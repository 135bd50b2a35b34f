// Unit tests for guest-init/user_spec.h.
#include <doctest/doctest.h>

#include "guest-init/user_spec.h"

using namespace guest_init;

namespace {

constexpr const char* kPasswd = "root:x:0:0:root:/root:/bin/bash\n"
                                "# a comment\n"
                                "broken line\n"
                                "app:x:1000:1001:App:/home/app:/bin/sh\n"
                                "nohome:x:1002:1002:::/bin/sh\n";
constexpr const char* kGroup = "root:x:0:\n"
                               "staff:x:50:app,other\n"
                               "appgrp:x:1001:\n"
                               "audio:x:29:app\n"
                               "nobody:x:65534:\n";

using Groups = std::vector<uint32_t>;

}

TEST_CASE("resolve_user: empty spec is root with /root")
{
    UserResolution u = resolve_user("", kPasswd, kGroup);
    CHECK(u.error.empty());
    CHECK(u.uid == 0);
    CHECK(u.gid == 0);
    CHECK(u.groups == Groups { 0 });
    CHECK(u.home == "/root");
    CHECK(resolve_user("", "", "").home == "/");
}

TEST_CASE("resolve_user: a name gets passwd ids, home and its supplementary groups")
{
    UserResolution u = resolve_user("app", kPasswd, kGroup);
    CHECK(u.error.empty());
    CHECK(u.uid == 1000);
    CHECK(u.gid == 1001);
    CHECK(u.groups == Groups { 1001, 50, 29 });
    CHECK(u.home == "/home/app");
}

TEST_CASE("resolve_user: a numeric uid known to passwd behaves like its name")
{
    UserResolution u = resolve_user("1000", kPasswd, kGroup);
    CHECK(u.uid == 1000);
    CHECK(u.gid == 1001);
    CHECK(u.groups == Groups { 1001, 50, 29 });
}

TEST_CASE("resolve_user: numeric ids need not exist")
{
    UserResolution u = resolve_user("4321", kPasswd, kGroup);
    CHECK(u.error.empty());
    CHECK(u.uid == 4321);
    CHECK(u.gid == 0);
    CHECK(u.home == "/");
    u = resolve_user("4321:99", "", "");
    CHECK(u.error.empty());
    CHECK(u.uid == 4321);
    CHECK(u.gid == 99);
    CHECK(u.groups == Groups { 99 });
}

TEST_CASE("resolve_user: an explicit group replaces the supplementary groups")
{
    UserResolution u = resolve_user("app:staff", kPasswd, kGroup);
    CHECK(u.error.empty());
    CHECK(u.uid == 1000);
    CHECK(u.gid == 50);
    CHECK(u.groups == Groups { 50 });
    CHECK(u.home == "/home/app");
    u = resolve_user("app:65534", kPasswd, kGroup);
    CHECK(u.gid == 65534);
}

TEST_CASE("resolve_user: an empty home field falls back to /")
{
    CHECK(resolve_user("nohome", kPasswd, kGroup).home == "/");
}

TEST_CASE("resolve_user: unknown names and empty groups are errors")
{
    CHECK(resolve_user("ghost", kPasswd, kGroup).error.find("'ghost' not found") != std::string::npos);
    CHECK(resolve_user("app:ghosts", kPasswd, kGroup).error.find("group 'ghosts' not found") != std::string::npos);
    CHECK(!resolve_user("app:", kPasswd, kGroup).error.empty());
    CHECK(!resolve_user("app", "", kGroup).error.empty());
}

TEST_CASE("parse_id")
{
    CHECK(parse_id("0") == 0);
    CHECK(parse_id("2147483647") == 2147483647);
    CHECK(parse_id("2147483648") == -1);
    CHECK(parse_id("99999999999") == -1);
    CHECK(parse_id("") == -1);
    CHECK(parse_id("-1") == -1);
    CHECK(parse_id("12a") == -1);
}
