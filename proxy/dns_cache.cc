// proxy/dns_cache.cc — getaddrinfo behind a bounded, time-limited cache (see the header).
#include "proxy/dns_cache.h"

#include "proxy/stream_relay.h"

#include <arpa/inet.h>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>

namespace proxy {

namespace {

void set_port(Address& a, std::uint16_t port)
{
    if (a.family() == AF_INET)
        reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
    else if (a.family() == AF_INET6)
        reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
}

std::uint16_t port_of(const Address& a)
{
    if (a.family() == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_port);
    if (a.family() == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_port);
    return 0;
}

} // namespace

std::string Address::ip() const
{
    char text[INET6_ADDRSTRLEN] = "?";
    if (family() == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text, sizeof text);
    else if (family() == AF_INET6)
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text, sizeof text);
    return text;
}

std::string Address::text() const
{
    std::string port = std::to_string(port_of(*this));
    return family() == AF_INET6 ? "[" + ip() + "]:" + port : ip() + ":" + port;
}

bool Address::same_ip(const Address& other) const
{
    if (family() != other.family())
        return false;
    if (family() == AF_INET)
        return std::memcmp(&reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr,
                   &reinterpret_cast<const sockaddr_in*>(&other.storage)->sin_addr, sizeof(in_addr)) == 0;
    if (family() == AF_INET6)
        return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr,
                   &reinterpret_cast<const sockaddr_in6*>(&other.storage)->sin6_addr, sizeof(in6_addr)) == 0;
    return false;
}

DnsCache::DnsCache(DnsOptions options)
    : m_options(options)
{
    if (m_options.max_entries == 0)
        m_options.max_entries = 1;
}

Resolved DnsCache::resolve(const std::string& host, std::uint16_t port)
{
    std::int64_t now = relay::monotonic_ms();
    Resolved out;
    auto it = m_entries.begin();
    while (it != m_entries.end() && it->host != host)
        ++it;
    if (it != m_entries.end() && it->expires_ms > now) {
        out.addresses = it->addresses;
    } else {
        if (it != m_entries.end())
            m_entries.erase(it);
        addrinfo hints {};
        hints.ai_family = m_options.family;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_ADDRCONFIG;
        addrinfo* found = nullptr;
        m_lookups++;
        int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
        if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY || rc == EAI_NODATA || rc == EAI_FAMILY) {
            // AI_ADDRCONFIG hides ::1 on hosts whose only IPv6 address is loopback: ask again without it.
            hints.ai_flags = 0;
            if (found)
                ::freeaddrinfo(found);
            found = nullptr;
            rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
        }
        if (rc != 0) {
            out.error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
            return out;
        }
        for (addrinfo* a = found; a; a = a->ai_next) {
            if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) || a->ai_addrlen > sizeof(sockaddr_storage))
                continue;
            Address address;
            std::memcpy(&address.storage, a->ai_addr, a->ai_addrlen);
            address.length = a->ai_addrlen;
            bool seen = false;
            for (const Address& earlier : out.addresses)
                seen = seen || earlier.same_ip(address);
            if (!seen)
                out.addresses.push_back(address);
        }
        ::freeaddrinfo(found);
        if (out.addresses.empty()) {
            out.error = "cannot resolve " + host + ": no " + (m_options.family == AF_INET ? "IPv4 " : m_options.family == AF_INET6 ? "IPv6 " : "")
                + "address";
            return out;
        }
        if (m_entries.size() >= m_options.max_entries)
            m_entries.pop_back();
        m_entries.push_front(Entry { host, now + m_options.ttl_ms, out.addresses });
    }
    for (Address& a : out.addresses)
        set_port(a, port);
    return out;
}

} // namespace proxy
