// proxy/egress_policy.h — where `qt-vmm vsock proxy` may connect: the one remote HOST:PORT it
// was started for, and only if the allowlist lets it, decided as Nitro's vsock-proxy decides:
// an entry with the same port and the same host (case-insensitive), or an entry with the same
// port whose address resolves to one of the remote's addresses (then only those addresses are
// used). Names are resolved through the DnsCache at every connection, so a name that moves to an
// address no entry covers is refused from then on.
//
// Usage:
//     proxy::EgressPolicy policy(allowlist, "kms.eu-west-1.amazonaws.com", 443, dns, "vsock-proxy.yaml");
//     proxy::Resolved where = policy.allowed_addresses(); // where.error says why none
#pragma once

#include "proxy/allowlist.h"
#include "proxy/dns_cache.h"

#include <cstdint>
#include <string>

namespace proxy {

class EgressPolicy {
public:
    EgressPolicy(Allowlist allowlist, std::string host, std::uint16_t port, DnsCache& dns, std::string source);

    // The remote's addresses that may be used now (port set), or none and the reason.
    Resolved allowed_addresses();
    // Startup check: throws base::Error PROXY_NOT_ALLOWED (InvalidInput) with the reason when the
    // remote is not on the allowlist (a name that cannot be resolved now is let through only
    // when it is listed by name).
    void check();
    std::string remote() const;

private:
    Allowlist m_allowlist;
    std::string m_host;
    std::uint16_t m_port;
    DnsCache& m_dns;
    std::string m_source;
};

} // namespace proxy
