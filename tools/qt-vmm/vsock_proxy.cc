// qt-vmm vsock proxy: egress for an enclave, compatible with Nitro's vsock-proxy. The enclave
// connects to CID 3 on LOCAL_PORT; its VMM hands each such connection to the Unix socket
// <VsockSocket>_<LOCAL_PORT>, where this command listens, and every connection is relayed to
// REMOTE_ADDR:REMOTE_PORT over TCP (IPv4 or IPv6) if the allowlist (--config, vsock-proxy's
// YAML) lets that pair through. This file is the command line, signals and lifetime; the
// listener, decision, DNS cache, relay and limits live in proxy/.
#include "base/error.h"
#include "proxy/egress_policy.h"
#include "proxy/egress_proxy.h"
#include "tools/qt-vmm/command.h"
#include "tools/qt-vmm/enclave_socket.h"
#include "tools/qt-vmm/tools_commands.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sys/resource.h>
#include <unistd.h>

namespace {

struct ProxyOptions {
    std::uint32_t local_port { 0 };
    std::string remote_addr;
    std::uint16_t remote_port { 0 };
    int enclave_id { -1 };
    std::string uds_path;
    std::string config { "/etc/nitro_enclaves/vsock-proxy.yaml" };
    bool ipv4 { false };
    bool ipv6 { false };
    unsigned workers { 1 };
    std::size_t max_connections { 1024 };
    unsigned idle_timeout_s { 300 };
    unsigned dns_ttl_s { 30 };
    std::size_t dns_cache_entries { 64 };
};

volatile std::sig_atomic_t g_stop = 0;

void log_line(const std::string& line)
{
    std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    std::fprintf(stderr, "qt-vmm vsock proxy: %s %s\n", stamp, line.c_str());
    std::fflush(stderr);
}

// Enough descriptors for two per connection.
void raise_descriptor_limit(std::size_t connections)
{
    rlimit limit {};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    rlim_t want = static_cast<rlim_t>(2 * connections + 64);
    if (limit.rlim_cur < want) {
        limit.rlim_cur = std::min(want, limit.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    if (limit.rlim_cur < want)
        log_line("warning: only " + std::to_string(limit.rlim_cur) + " descriptors may be open (ulimit -n), fewer than "
            + std::to_string(want) + " for --max-connections " + std::to_string(connections));
}

void run_proxy(const ProxyOptions& o, qtvmm::Cli& cli)
{
    if ((o.enclave_id < 0) == o.uds_path.empty())
        throw base::Error(base::ErrorKind::Usage, "USAGE",
            "name the enclave with one of --enclave-id ID or --uds-path PATH (the socket of a `vsock vhost-user` backend)");
    if (o.ipv4 && o.ipv6)
        throw base::Error(base::ErrorKind::Usage, "USAGE", "--ipv4 and --ipv6 exclude each other; give neither to use both");
    proxy::Allowlist allowlist = proxy::Allowlist::load(o.config);
    proxy::DnsCache dns({ .max_entries = o.dns_cache_entries, .ttl_ms = static_cast<std::int64_t>(o.dns_ttl_s) * 1000,
        .family = o.ipv4 ? AF_INET : o.ipv6 ? AF_INET6 : AF_UNSPEC });
    proxy::EgressPolicy policy(std::move(allowlist), o.remote_addr, o.remote_port, dns, o.config);
    policy.check();

    std::string vsock = o.uds_path.empty() ? qtvmm::enclave_vsock_socket(o.enclave_id) : o.uds_path;
    std::string listen_path = vsock + "_" + std::to_string(o.local_port);
    raise_descriptor_limit(o.max_connections);
    proxy::EgressProxy egress(policy, listen_path,
        { .max_connections = o.max_connections, .idle_timeout_ms = static_cast<int>(o.idle_timeout_s) * 1000 }, log_line);

    std::signal(SIGPIPE, SIG_IGN);
    struct sigaction stop {};
    stop.sa_handler = [](int) { g_stop = 1; };
    ::sigaction(SIGINT, &stop, nullptr);
    ::sigaction(SIGTERM, &stop, nullptr);

    qtvmm::Json ready { { "LocalPort", o.local_port }, { "Remote", policy.remote() }, { "Listen", listen_path }, { "Config", o.config },
        { "MaxConnections", o.max_connections }, { "IdleTimeoutSeconds", o.idle_timeout_s } };
    if (o.enclave_id >= 0)
        ready["EnclaveID"] = o.enclave_id;
    cli.print(ready);
    std::fflush(stdout);
    log_line("proxying enclave connections to CID 3 port " + std::to_string(o.local_port) + " to " + policy.remote()
        + " until the enclave ends or SIGINT/SIGTERM");
    // The daemon removes the VsockSocket when the enclave ends: then nothing can come any more.
    // (With --uds-path the proxy may start before the backend creates it.)
    std::int64_t next_check = 0;
    bool seen = false;
    while (!g_stop) {
        egress.run_once(1000);
        std::int64_t now = relay::monotonic_ms();
        if (now >= next_check) {
            next_check = now + 1000;
            bool there = ::access(vsock.c_str(), F_OK) == 0;
            if (seen && !there)
                break;
            seen = seen || there;
        }
    }
    log_line(std::string(g_stop ? "stopped by a signal" : "the enclave has ended") + ": " + egress.summary());
}

qtvmm::CommandRegistration proxy_reg(qtvmm::kVsockProxyCommand.path, qtvmm::kVsockProxyCommand.description,
    [](CLI::App& cmd, qtvmm::Cli& cli) {
        auto o = std::make_shared<ProxyOptions>();
        cmd.add_option("local_port", o->local_port, "vsock port of CID 3 the enclave connects to")->required()->check(CLI::Range(1u, 0xffffffffu));
        cmd.add_option("remote_addr", o->remote_addr, "host name, IPv4 or IPv6 address to connect to")->required();
        cmd.add_option("remote_port", o->remote_port, "TCP port to connect to")->required()->check(CLI::Range(1, 65535));
        cmd.add_option("--enclave-id", o->enclave_id, "The enclave whose connections are proxied")->check(CLI::NonNegativeNumber);
        cmd.add_option("--uds-path", o->uds_path, "Instead of --enclave-id: the hybrid-vsock socket (e.g. of qt-vmm vsock vhost-user)");
        cmd.add_option("--config", o->config, "Allowlist file, vsock-proxy's YAML format")->capture_default_str();
        cmd.add_flag("-4,--ipv4", o->ipv4, "Connect over IPv4 only");
        cmd.add_flag("-6,--ipv6", o->ipv6, "Connect over IPv6 only");
        cmd.add_option("-w,--num_workers", o->workers, "Accepted for vsock-proxy compatibility; one epoll loop serves every connection")
            ->check(CLI::Range(1u, 1024u));
        cmd.add_option("--max-connections", o->max_connections, "Connections open at once; more are refused and logged")
            ->capture_default_str()->check(CLI::Range(std::size_t { 1 }, std::size_t { 65536 }));
        cmd.add_option("--idle-timeout", o->idle_timeout_s, "Seconds without a byte moving before a connection is closed (0 = never)")
            ->capture_default_str()->check(CLI::Range(0u, 86400u));
        cmd.add_option("--dns-ttl", o->dns_ttl_s, "Seconds a resolved name is reused")->capture_default_str()->check(CLI::Range(0u, 86400u));
        cmd.add_option("--dns-cache-size", o->dns_cache_entries, "Names kept in the DNS cache")
            ->capture_default_str()->check(CLI::Range(std::size_t { 1 }, std::size_t { 4096 }));
        qtvmm::set_examples(cmd, {
            "qt-vmm vsock proxy 8000 api.example.com 443 --enclave-id 0 --config allowlist.yaml",
            "qt-vmm vsock proxy 8001 10.0.0.5 5432 --enclave-id 0 --config allowlist.yaml --max-connections 64 --idle-timeout 300",
        });
        cmd.callback([o, &cli] { run_proxy(*o, cli); });
    });

} // namespace
