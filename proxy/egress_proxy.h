// proxy/egress_proxy.h — the parent side of egress, without the command line: listens on the
// Unix socket the VMM hands an enclave's connections to CID 3 LOCAL_PORT to
// (<VsockSocket>_<LOCAL_PORT>) and relays each to the remote its EgressPolicy allows, trying
// the allowed addresses in order. `qt-vmm vsock proxy` (tools/qt-vmm/vsock_proxy.cc) drives it.
//
// Usage:
//     proxy::EgressProxy p(policy, "/run/qt-vmm/0.vsock_8000", { .max_connections = 1024 }, log);
//     while (!stop) p.run_once(1000);           // the destructor removes the socket file
#pragma once

#include "proxy/egress_policy.h"
#include "proxy/stream_relay.h"

#include <string>

namespace proxy {

class EgressProxy {
public:
    // Throws base::Error PROXY_PORT_IN_USE when something already listens there, LISTEN when
    // the socket cannot be created. A stale socket file (nobody listening) is replaced.
    EgressProxy(EgressPolicy& policy, std::string listen_path, relay::Limits limits, relay::Log log);
    ~EgressProxy();
    EgressProxy(const EgressProxy&) = delete;
    EgressProxy& operator=(const EgressProxy&) = delete;

    int run_once(int timeout_ms) { return m_relay.run_once(timeout_ms); }
    const relay::Stats& stats() const { return m_relay.stats(); }
    // "N connections accepted, N completed, ..., N bytes out, N bytes in"
    std::string summary() const;

private:
    std::string m_path;
    relay::StreamRelay m_relay;
};

} // namespace proxy
