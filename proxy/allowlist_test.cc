#include "base/error.h"
#include "proxy/allowlist.h"
#include "proxy/dns_cache.h"
#include "proxy/egress_policy.h"

#include <doctest/doctest.h>

using proxy::Allowlist;

namespace {

// The one-line message of the error parse() throws, "" when it does not throw.
std::string parse_error(const std::string& text)
{
    try {
        Allowlist::parse(text, "list.yaml");
    } catch (const base::Error& e) {
        CHECK(e.code() == "PROXY_ALLOWLIST");
        CHECK(e.exit_status() == 3);
        std::string message = e.what();
        CHECK(message.find('\n') == std::string::npos);
        return message;
    }
    return "";
}

} // namespace

TEST_CASE("allowlist: vsock-proxy's format, flow and block style, IPv4, IPv6 and names")
{
    Allowlist list = Allowlist::parse("allowlist:\n"
                                      "- {address: kms.us-east-1.amazonaws.com, port: 443}\n"
                                      "- {address: 127.0.0.1, port: 8443}\n"
                                      "- address: \"::1\"\n"
                                      "  port: 8443\n",
        "list.yaml");
    REQUIRE(list.entries().size() == 3);
    CHECK(list.entries()[2].address == "::1");
    CHECK(list.allows_name("KMS.us-east-1.amazonaws.com", 443));
    CHECK_FALSE(list.allows_name("kms.us-east-1.amazonaws.com", 8443));
    CHECK(list.allows_name("127.0.0.1", 8443));
    CHECK_FALSE(list.allows_name("127.0.0.2", 8443));
    CHECK(list.addresses_for_port(8443) == std::vector<std::string> { "127.0.0.1", "::1" });
    CHECK(Allowlist::parse("allowlist:\n", "x").entries().empty());
    CHECK(Allowlist::parse("allowlist: []\nother: ignored\n", "x").entries().empty());
}

TEST_CASE("allowlist: every mistake is one line naming the file, the line and the fix")
{
    std::string m = parse_error("allowlist:\n  - {address: [a, port: 443\n");
    CHECK(m.find("list.yaml:") == 0);
    CHECK(m.find("not valid YAML") != std::string::npos);
    CHECK(m.find("fix the syntax") != std::string::npos);
    CHECK(parse_error("").find("no top-level 'allowlist:' key") != std::string::npos);
    CHECK(parse_error("allow: []\n").find("no top-level 'allowlist:' key") != std::string::npos);
    CHECK(parse_error("allowlist: 5\n").find("'allowlist' is a scalar, not a list") != std::string::npos);
    m = parse_error("allowlist:\n- {address: a, port: 1}\n- {adress: b, port: 2}\n");
    CHECK(m.find("list.yaml:3: allowlist entry 2 has an unknown key 'adress'") == 0);
    CHECK(m.find("e.g. - {address: 127.0.0.1, port: 8443}") != std::string::npos);
    CHECK(parse_error("allowlist:\n- {address: a}\n").find("entry 1 has no port") != std::string::npos);
    CHECK(parse_error("allowlist:\n- {port: 1}\n").find("entry 1 has no address") != std::string::npos);
    CHECK(parse_error("allowlist:\n- {address: a, port: 0}\n").find("port must be a number from 1 to 65535, not '0'") != std::string::npos);
    CHECK(parse_error("allowlist:\n- {address: a, port: 65536}\n").find("not '65536'") != std::string::npos);
    CHECK(parse_error("allowlist:\n- {address: a, port: -1}\n").find("not '-1'") != std::string::npos);
    CHECK(parse_error("allowlist:\n- {address: a, port: [1]}\n").find("port must be a number") != std::string::npos);
    CHECK(parse_error("allowlist:\n- {address: \"a\\nb\", port: 1}\n").find("address 'a?b' is not a host name") != std::string::npos);
    CHECK(parse_error("allowlist:\n- 443\n").find("entry 1 is a scalar, not a map") != std::string::npos);
}

TEST_CASE("allowlist: a missing file is a clear error")
{
    try {
        Allowlist::load("/nonexistent/vsock-proxy.yaml");
        FAIL("no error");
    } catch (const base::Error& e) {
        CHECK(e.code() == "FILE_OPEN"); // the code a missing file has in every command
        CHECK(e.exit_status() == 8);
        CHECK(std::string(e.what()).find("--config FILE") != std::string::npos);
    }
}

TEST_CASE("dns cache: literals, names, bounded size, lifetime, family")
{
    proxy::DnsCache dns({ .max_entries = 2, .ttl_ms = 60000, .family = AF_UNSPEC });
    proxy::Resolved r = dns.resolve("127.0.0.1", 8443);
    REQUIRE(r.error.empty());
    REQUIRE(r.addresses.size() == 1);
    CHECK(r.addresses[0].text() == "127.0.0.1:8443");
    r = dns.resolve("::1", 443);
    REQUIRE(r.error.empty());
    CHECK(r.addresses[0].text() == "[::1]:443");
    CHECK(dns.lookups() == 2);
    r = dns.resolve("127.0.0.1", 1); // cached: no lookup, the new port
    CHECK(dns.lookups() == 2);
    CHECK(r.addresses[0].text() == "127.0.0.1:1");
    dns.resolve("127.0.0.2", 1); // a third name: the oldest goes
    CHECK(dns.size() == 2);
    r = dns.resolve("localhost", 80);
    REQUIRE(r.error.empty());
    for (const proxy::Address& a : r.addresses)
        CHECK((a.ip() == "127.0.0.1" || a.ip() == "::1"));

    proxy::DnsCache fresh({ .max_entries = 8, .ttl_ms = 0, .family = AF_INET6 });
    fresh.resolve("::1", 1);
    fresh.resolve("::1", 1);
    CHECK(fresh.lookups() == 2);
    CHECK(fresh.resolve("127.0.0.1", 1).error.find("cannot resolve 127.0.0.1") == 0);
}

TEST_CASE("egress policy: by name, by resolved address, refused with the reason")
{
    proxy::DnsCache dns({});
    Allowlist list = Allowlist::parse("allowlist:\n- {address: 127.0.0.1, port: 8443}\n- {address: localhost, port: 9000}\n", "list.yaml");
    proxy::EgressPolicy by_ip(list, "127.0.0.1", 8443, dns, "list.yaml");
    by_ip.check();
    CHECK(by_ip.allowed_addresses().addresses.size() == 1);

    // "localhost" is not listed for 8443, but it resolves to 127.0.0.1, which is: only that address.
    proxy::EgressPolicy via_name(list, "localhost", 8443, dns, "list.yaml");
    via_name.check();
    proxy::Resolved r = via_name.allowed_addresses();
    REQUIRE(r.addresses.size() == 1);
    CHECK(r.addresses[0].text() == "127.0.0.1:8443");

    proxy::EgressPolicy other_port(list, "127.0.0.1", 8444, dns, "list.yaml");
    r = other_port.allowed_addresses();
    CHECK(r.addresses.empty());
    CHECK(r.error == "127.0.0.1:8444 is not on the allowlist list.yaml: no entry has that address and port 8444");
    try {
        other_port.check();
        FAIL("no error");
    } catch (const base::Error& e) {
        CHECK(e.code() == "PROXY_NOT_ALLOWED");
        CHECK(std::string(e.what()).find("add '- {address: 127.0.0.1, port: 8444}' to list.yaml") != std::string::npos);
    }
    proxy::EgressPolicy v6(list, "::1", 8443, dns, "list.yaml");
    CHECK(v6.allowed_addresses().error.find("[::1]:8443 is not on the allowlist") == 0);
}
