// proxy/allowlist.h — the allowlist of `qt-vmm vsock proxy`, in the YAML format of Nitro's
// vsock-proxy (/etc/nitro_enclaves/vsock-proxy.yaml), so the same file works for both:
//
//     allowlist:
//     - {address: kms.eu-west-1.amazonaws.com, port: 443}
//     - {address: 127.0.0.1, port: 8443}
//     - {address: "::1", port: 8443}
//
// `address` is a host name or an IPv4/IPv6 literal, `port` 1..65535. Anything else (bad YAML, a
// missing or unknown key, a wrong type, a port out of range) is a base::Error (InvalidInput,
// code PROXY_ALLOWLIST) whose one-line message names the file, the line and the fix. A file
// that cannot be read keeps the code of base::read_file (FILE_OPEN, ...), as in every command.
//
// Usage:
//     proxy::Allowlist list = proxy::Allowlist::parse(text, "/etc/nitro_enclaves/vsock-proxy.yaml");
//     bool exact = list.allows_name("kms.eu-west-1.amazonaws.com", 443);
//     std::vector<std::string> hosts = list.addresses_for_port(443);   // to match by IP
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace proxy {

struct AllowEntry {
    std::string address;
    std::uint16_t port { 0 };
};

class Allowlist {
public:
    static Allowlist parse(const std::string& yaml_text, const std::string& source);
    static Allowlist load(const std::string& path); // reads the file, then parse()

    // The pair is listed as such (host names compared without regard to case).
    bool allows_name(const std::string& host, std::uint16_t port) const;
    // Addresses of every entry with this port (their resolved IPs may match a remote's).
    std::vector<std::string> addresses_for_port(std::uint16_t port) const;
    const std::vector<AllowEntry>& entries() const { return m_entries; }

private:
    std::vector<AllowEntry> m_entries;
};

} // namespace proxy
