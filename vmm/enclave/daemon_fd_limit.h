// vmm/enclave/daemon_fd_limit.h — the number of file descriptors an enclave daemon is designed to
// hold, and raising RLIMIT_NOFILE to it (the usual soft limit, 1,024, is less than the vsock
// device alone may use).
//
//   kMaxConnections (1,024 guest vsock connections, one host socket each)
// + kMaxHandshakes (64 parent sockets that have not sent CONNECT yet)
// + kMaxControlClients (64 control-socket clients)
// + kDaemonFixedFds (256: KVM, vCPU, ioeventfd and irqfd descriptors, epoll, timers, signalfd,
//   listening sockets, the log, the QEMU back end's pipes and vhost-user socket, spare)
// = kDaemonFileLimit (1,408)
//
//     vmm::raise_fd_limit();   // in the daemon, before it opens anything; warns on stderr if capped
#pragma once

#include "vmm/enclave/control_server.h"
#include "vmm/vsock/vsock_muxer.h"

#include <cstdint>

namespace vmm {

inline constexpr std::uint64_t kDaemonFixedFds = 256;
inline constexpr std::uint64_t kDaemonFileLimit = vsock::kMaxConnections + vsock::kMaxHandshakes + kMaxControlClients + kDaemonFixedFds;
static_assert(kDaemonFileLimit == 1408, "update the figure in this header's comment and the README");

// Sets RLIMIT_NOFILE's soft limit (and the hard one, when lower and the process may) to at
// least kDaemonFileLimit. Returns the soft limit in force afterwards; if it is below
// kDaemonFileLimit, a one-line warning went to stderr (the daemon's log).
std::uint64_t raise_fd_limit();

} // namespace vmm
