// guest-init/forwarder.h — the enclave side of egress: for each declared forward
// (forward_spec.h), a TCP listener on 127.0.0.1:TCP_PORT whose clients are each connected to the
// parent, CID 3, on VSOCK_PORT (where `qt-vmm vsock proxy` listens). The listeners are opened by
// init before the app starts, so the app can connect at once; one forked process then relays
// every connection in one epoll loop (proxy/stream_relay.h) and logs refusals and failures on
// the console as "init: forwarder: ..." lines.
//
//   ForwarderStart s = start_forwarders(forwards);   // s.error: errno, s.failed_port: which
#pragma once

#include <sys/types.h>
#include <vector>

#include "guest-init/forward_spec.h"

namespace guest_init {

// Connections the forwarder relays at once (per enclave); more are refused and logged.
constexpr std::size_t kForwarderMaxConnections = 1000;

struct ForwarderStart {
    pid_t pid = -1;
    int error = 0;              // errno of the step that failed
    std::uint16_t failed_port = 0; // the TCP port that could not be listened on (0: fork failed)
};

// Does nothing (pid -1, error 0) for an empty list.
ForwarderStart start_forwarders(const std::vector<Forward>& forwards);

} // namespace guest_init
