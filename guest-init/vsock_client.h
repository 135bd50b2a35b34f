// guest-init/vsock_client.h — init's two conversations with the parent over AF_VSOCK (see
// status_protocol.h for the contract): the boot heartbeat (port 9000) and the exit-status
// report (port 9001). Every step has a timeout, so a missing parent never hangs the guest.
//
//   HeartbeatResult hb = send_heartbeat();          // retries transient errors a few times
//   if (!hb.ok) say("heartbeat failed: %s", strerror(hb.error));
//   int e = send_status(status_exited(0));          // 0 = the parent acknowledged it
#pragma once

#include "guest-init/status_protocol.h"

namespace guest_init {

struct HeartbeatResult {
    bool ok = false;
    int error = 0;      // errno of the last attempt (EPROTO: the parent answered a wrong byte)
    int attempts = 0;
};

// The retry policy, as functions so it is unit-tested: which errors are worth another try, and
// how long to wait before attempt number `attempt` (1-based; 0 = give up).
constexpr int kHeartbeatAttempts = 6;
bool heartbeat_error_is_transient(int error);
int heartbeat_retry_delay_ms(int attempt);

HeartbeatResult send_heartbeat();

// Sends one record to CID 3 port 9001 and waits for the one-byte ack. Returns 0 or errno
// (EPROTO: the parent answered something other than kStatusAck).
int send_status(const StatusRecord& record);

} // namespace guest_init
