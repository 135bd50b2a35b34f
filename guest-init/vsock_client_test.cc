// Unit tests for guest-init/vsock_client.h: the heartbeat retry policy. (The conversations
// themselves are exercised by the boot tests: without a vsock device they fail with ENODEV.)
#include <doctest/doctest.h>

#include <errno.h>
#include <initializer_list>

#include "guest-init/vsock_client.h"

using namespace guest_init;

TEST_CASE("heartbeat: device-not-up and connection errors are retried, others are not")
{
    for (int e : { ENODEV, ETIMEDOUT, ECONNRESET, ECONNREFUSED, EHOSTUNREACH })
        CHECK(heartbeat_error_is_transient(e));
    for (int e : { EAFNOSUPPORT, EPROTO, EINVAL, EACCES })
        CHECK(!heartbeat_error_is_transient(e));
}

TEST_CASE("heartbeat: bounded, growing delays that add up to a few seconds")
{
    int total = 0, previous = -1;
    CHECK(heartbeat_retry_delay_ms(1) == 0);
    for (int attempt = 1; attempt <= kHeartbeatAttempts; attempt++) {
        int d = heartbeat_retry_delay_ms(attempt);
        CHECK(d >= previous);
        previous = d;
        total += d;
    }
    CHECK(total > 1000);
    CHECK(total <= 5000);
    CHECK(heartbeat_retry_delay_ms(0) == 0);
    CHECK(heartbeat_retry_delay_ms(kHeartbeatAttempts + 1) == 0);
}

TEST_CASE("send_status without a parent fails quickly instead of hanging")
{
    // On a host without a vsock transport for CID 3 this is ENODEV, EAFNOSUPPORT, ECONNRESET
    // or ETIMEDOUT (bounded by the 2 s timeouts) — never a hang, never success.
    int e = send_status(status_exited(0));
    CHECK(e != 0);
}
