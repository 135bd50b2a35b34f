#include "guest-init/forward_spec.h"

#include <doctest/doctest.h>

using namespace guest_init;

TEST_CASE("forwarders: TCP_PORT:VSOCK_PORT entries, separated by lines, commas or spaces")
{
    ForwardParse f = parse_forwards("443:8000\n5432:8001, 80:4294967294\r\n\n");
    REQUIRE(f.error.empty());
    REQUIRE(f.forwards.size() == 3);
    CHECK(f.forwards[0].tcp_port == 443);
    CHECK(f.forwards[0].vsock_port == 8000);
    CHECK(f.forwards[2].vsock_port == 4294967294u);
    CHECK(forwards_to_lines(f.forwards) == "443:8000\n5432:8001\n80:4294967294\n");
    CHECK(parse_forwards("").forwards.empty());
    CHECK(parse_forwards(" \n,").error.empty());
}

TEST_CASE("forwarders: every mistake is named")
{
    CHECK(parse_forwards("443").error == "forwarder '443' is not TCP_PORT:VSOCK_PORT (TCP port 1-65535, vsock port 1-4294967294), e.g. 443:8000");
    CHECK(parse_forwards("0:1").error.find("'0:1' is not") != std::string::npos);
    CHECK(parse_forwards("65536:1").error.find("'65536:1'") != std::string::npos);
    CHECK(parse_forwards("1:4294967295").error.find("'1:4294967295'") != std::string::npos);
    CHECK(parse_forwards("1:-2").error.find("'1:-2'") != std::string::npos);
    CHECK(parse_forwards("1:2:3").error.find("'1:2:3'") != std::string::npos);
    CHECK(parse_forwards(std::string("1:\x01", 3)).error.find("'1:?'") != std::string::npos);
    CHECK(parse_forwards("443:1 443:2").error == "forwarder '443:2' uses TCP port 443 again; each needs its own TCP port");
    std::string many;
    for (int i = 1; i <= 17; i++)
        many += std::to_string(i) + ":1 ";
    CHECK(parse_forwards(many).error == "more than 16 forwarders; declare at most 16");
    ForwardParse bad = parse_forwards("1:1 x");
    CHECK(bad.forwards.empty());
}
