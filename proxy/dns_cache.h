// proxy/dns_cache.h — name resolution for the egress proxy: getaddrinfo at connect time, with a
// bounded cache (at most max_entries names, each kept for ttl_ms; the oldest is dropped first).
// IP literals resolve without a lookup. getaddrinfo does not report record TTLs, so the cache
// lifetime is the proxy's --dns-ttl; a lookup blocks the proxy's loop, at most once per name and
// lifetime. Failed lookups are not cached.
//
// Usage:
//     proxy::DnsCache dns({ .max_entries = 64, .ttl_ms = 30000, .family = AF_UNSPEC });
//     proxy::Resolved r = dns.resolve("kms.eu-west-1.amazonaws.com", 443);
//     if (!r.error.empty()) ...; for (const auto& a : r.addresses) connect(..., a.sockaddr(), a.length);
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace proxy {

struct Address {
    sockaddr_storage storage {};
    socklen_t length { 0 };
    const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage); }
    int family() const { return storage.ss_family; }
    std::string ip() const;     // "127.0.0.1", "::1"
    std::string text() const;   // "127.0.0.1:443", "[::1]:443"
    bool same_ip(const Address& other) const;
};

struct Resolved {
    std::vector<Address> addresses;
    std::string error; // set when there are none
};

struct DnsOptions {
    std::size_t max_entries { 64 };
    std::int64_t ttl_ms { 30000 };
    int family { AF_UNSPEC }; // AF_INET or AF_INET6 to use one family only
};

class DnsCache {
public:
    explicit DnsCache(DnsOptions options);
    Resolved resolve(const std::string& host, std::uint16_t port);
    std::size_t size() const { return m_entries.size(); }
    std::uint64_t lookups() const { return m_lookups; } // getaddrinfo calls made

private:
    struct Entry {
        std::string host;
        std::int64_t expires_ms;
        std::vector<Address> addresses; // port 0; set per call
    };
    DnsOptions m_options;
    std::list<Entry> m_entries; // newest first
    std::uint64_t m_lookups { 0 };
};

} // namespace proxy
