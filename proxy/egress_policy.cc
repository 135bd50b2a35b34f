// proxy/egress_policy.cc — the allowlist decision of the egress proxy (see the header).
#include "proxy/egress_policy.h"

#include "base/error.h"

namespace proxy {

EgressPolicy::EgressPolicy(Allowlist allowlist, std::string host, std::uint16_t port, DnsCache& dns, std::string source)
    : m_allowlist(std::move(allowlist))
    , m_host(std::move(host))
    , m_port(port)
    , m_dns(dns)
    , m_source(std::move(source))
{
}

std::string EgressPolicy::remote() const
{
    return (m_host.find(':') != std::string::npos ? "[" + m_host + "]" : m_host) + ":" + std::to_string(m_port);
}

Resolved EgressPolicy::allowed_addresses()
{
    Resolved found = m_dns.resolve(m_host, m_port);
    if (!found.error.empty() || m_allowlist.allows_name(m_host, m_port))
        return found;
    Resolved out;
    for (const std::string& entry : m_allowlist.addresses_for_port(m_port)) {
        Resolved listed = m_dns.resolve(entry, m_port);
        for (const Address& a : found.addresses) {
            bool covered = false;
            for (const Address& b : listed.addresses)
                covered = covered || a.same_ip(b);
            bool taken = false;
            for (const Address& c : out.addresses)
                taken = taken || a.same_ip(c);
            if (covered && !taken)
                out.addresses.push_back(a);
        }
    }
    if (out.addresses.empty()) {
        std::string ips;
        for (const Address& a : found.addresses)
            ips += (ips.empty() ? "" : ", ") + a.ip();
        out.error = remote() + " is not on the allowlist " + m_source + ": no entry has that address and port "
            + std::to_string(m_port) + (ips == m_host ? "" : ", and no entry for port " + std::to_string(m_port) + " resolves to " + ips);
    }
    return out;
}

void EgressPolicy::check()
{
    if (m_allowlist.allows_name(m_host, m_port))
        return;
    Resolved r = allowed_addresses();
    if (!r.error.empty())
        throw base::Error(base::ErrorKind::InvalidInput, "PROXY_NOT_ALLOWED",
            r.error + "; add '- {address: " + m_host + ", port: " + std::to_string(m_port) + "}' to " + m_source + " to allow it");
}

} // namespace proxy
