// guest-init/vsock_client.cc — heartbeat and status report over AF_VSOCK (see the header).
#include "guest-init/vsock_client.h"

#include <errno.h>
#include <sys/socket.h>  // before linux/vm_sockets.h: older copies of it (the arm64 cross 6.1 headers) need sockaddr
#include <linux/vm_sockets.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

namespace guest_init {

namespace {

constexpr int kStatusTimeoutMs = 2000;    // connect, send and ack wait, each
constexpr int kHeartbeatTimeoutMs = 1000; // per attempt
constexpr int kHeartbeatBudgetMs = 5000;  // no new attempt after this much time

timeval to_timeval(int ms)
{
    timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

void sleep_ms(int ms)
{
    timespec ts { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
}

long now_ms()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

// Connects to the parent; returns the fd, or -errno.
int connect_parent(uint32_t port, int timeout_ms)
{
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    timeval timeout = to_timeval(timeout_ms);
    setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_vm addr {};
    addr.svm_family = AF_VSOCK;
    addr.svm_cid = kParentCid;
    addr.svm_port = port;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

// Writes the whole buffer, reads exactly one byte back. Returns 0 and the byte, or errno.
int exchange(int fd, const uint8_t* data, size_t size, uint8_t* answer)
{
    while (size > 0) {
        ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? ETIMEDOUT : errno;
        }
        data += n;
        size -= size_t(n);
    }
    while (true) {
        ssize_t n = recv(fd, answer, 1, 0);
        if (n == 1)
            return 0;
        if (n == 0)
            return ECONNRESET;
        if (errno != EINTR)
            return errno == EAGAIN ? ETIMEDOUT : errno;
    }
}

// One connect + send + one-byte answer. Returns 0 or errno.
int talk_to_parent(uint32_t port, const uint8_t* data, size_t size, uint8_t expected, int timeout_ms)
{
    int fd = connect_parent(port, timeout_ms);
    if (fd < 0)
        return -fd;
    uint8_t answer = 0;
    int error = exchange(fd, data, size, &answer);
    close(fd);
    if (error)
        return error;
    return answer == expected ? 0 : EPROTO;
}

} // namespace

bool heartbeat_error_is_transient(int error)
{
    switch (error) {
    case ENODEV:
    case ETIMEDOUT:
    case ECONNRESET:
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EAGAIN:
    case EINTR:
        return true;
    default:
        return false;
    }
}

int heartbeat_retry_delay_ms(int attempt)
{
    static constexpr int kDelays[kHeartbeatAttempts] = { 0, 100, 200, 400, 800, 1000 };
    if (attempt < 1 || attempt > kHeartbeatAttempts)
        return 0;
    return kDelays[attempt - 1];
}

HeartbeatResult send_heartbeat()
{
    HeartbeatResult result;
    long start = now_ms();
    for (int attempt = 1; attempt <= kHeartbeatAttempts; attempt++) {
        if (attempt > 1) {
            if (now_ms() - start >= kHeartbeatBudgetMs)
                break;
            sleep_ms(heartbeat_retry_delay_ms(attempt));
        }
        result.attempts = attempt;
        result.error = talk_to_parent(kHeartbeatPort, &kHeartbeatByte, 1, kHeartbeatByte, kHeartbeatTimeoutMs);
        if (result.error == 0) {
            result.ok = true;
            return result;
        }
        if (!heartbeat_error_is_transient(result.error))
            break;
    }
    return result;
}

int send_status(const StatusRecord& record)
{
    uint8_t buffer[kStatusRecordSize];
    encode_status_record(&record, buffer);
    int error = talk_to_parent(kStatusPort, buffer, sizeof buffer, kStatusAck, kStatusTimeoutMs);
    if (error == ECONNREFUSED || error == ECONNRESET) {
        // The parent's listener may be a moment late; one more try, still bounded.
        sleep_ms(200);
        error = talk_to_parent(kStatusPort, buffer, sizeof buffer, kStatusAck, kStatusTimeoutMs);
    }
    return error;
}

} // namespace guest_init
