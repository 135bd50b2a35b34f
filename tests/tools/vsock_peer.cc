// tests/tools/vsock_peer.cc — the parent side of the end-to-end vsock tests: speaks the hybrid
// vsock protocol on an enclave's VsockSocket (or plain TCP to `qt-vmm vsock forward`) against
// tests/apps/app_vsock.c, checks every byte and prints one "PEER <mode> ... result=..." line per
// transfer. Exit 0 = every check passed (or, with --abort-after, the planned abort happened);
// 1 = a check failed; 2 = the stream ended early (EOF or reset before the end); 3 = CONNECT
// refused (closed without "OK"); 64 = usage.
//
//   vsock_peer echo   (--socket PATH --port P | --tcp HOST:PORT | --unix PATH) --conns N --bytes B [--window W] [--early-shutdown 1]
//       opens N connections and holds them all open (handshakes W at a time, default 64), then
//       sends each a pseudo-random payload of 1..B bytes, checks the echo byte for byte, and
//       only when every echo is complete half-closes them all and expects EOF on each;
//       --early-shutdown 1 half-closes each right after its payload instead (the echo must
//       still come back in full, then EOF); --unix connects straight to PATH with no CONNECT
//       line, as the VMM does for an enclave's dial to CID 3 (e.g. to `qt-vmm vsock proxy`)
//   vsock_peer sink   --socket PATH --port P --bytes B [--abort-after K]
//       sends B bytes of the stream (seed P), half-closes, expects the enclave's 8-byte XXH3-64
//       of them and then EOF; --abort-after K closes the socket after K bytes instead
//   vsock_peer source --socket PATH --port P --bytes B [--abort-after K] [--pause-every N --pause-ms MS]
//       reads the 8-byte length (must be B), B bytes (must be the stream with seed P) and the
//       8-byte XXH3-64 trailer (must equal our own), then EOF; --pause-every makes it a slow
//       reader that sleeps MS milliseconds before each N bytes (the first time before any)
//   vsock_peer listen (--socket PATH | --tcp HOST:PORT) --port P [--count N] [--pause-every N --pause-ms MS]
//       listens on PATH_P (the enclave's dial to CID 3 port P), or on TCP HOST:PORT (port 0: any,
//       as the remote of `qt-vmm vsock proxy`; the line says tcp=HOST:PORT), for each of N connections reads
//       length + bytes (the stream with seed P) + XXH3-64 trailer, checks them, answers with its
//       own XXH3-64 of what it received and waits for EOF; prints "PEER listening" first
//   vsock_peer probe  --socket PATH --port P
//       CONNECT only: result=OK (with the host port) or result=CLOSED
//   vsock_peer hold   --socket PATH --port P
//       CONNECT to an echo port, one "ping" round trip, then wait until the connection ends:
//       result=EOF or RESET (exit 0), TIMEOUT or DATA (exit 2)
//   vsock_peer tcp-echo --tcp HOST:PORT --conns N
//       a TCP echo server (port 0: any; prints "PEER tcp-echo listening port=P"): echoes every
//       byte, passes EOF on; exits 0 once N connections have ended
// Common: --timeout S (default 120) bounds every wait.
//
// The stream: little-endian outputs of splitmix64 from state = seed, truncated to the length.
// Integers on the wire are little-endian u64. Throughput is MiB/s from the handshake's end.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "base/error.h"
#include "base/unix_address.h"
#include "vmm/vsock/hybrid_client.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
#include <new>
#include <netdb.h>
#include <poll.h>
#include <string>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace {

struct Options {
    std::string mode, socket, tcp, unix_path;
    unsigned port = 0;
    unsigned long conns = 1, count = 1, window = 64;
    uint64_t bytes = 0, abort_after = 0, pause_every = 0;
    unsigned pause_ms = 0;
    bool abort = false, early_shutdown = false;
    int timeout_s = 120;
};
Options opt;

[[noreturn]] void usage(const char* why)
{
    std::fprintf(stderr, "vsock_peer: %s\n(see the comment at the top of tests/tools/vsock_peer.cc)\n", why);
    std::exit(64);
}

[[noreturn]] void die(const char* what)
{
    std::printf("PEER %s error: %s: %s result=ERROR\n", opt.mode.c_str(), what, std::strerror(errno));
    std::exit(1);
}

struct Stream {
    uint64_t state;
    explicit Stream(uint64_t seed)
        : state(seed)
    {
    }
    uint64_t next()
    {
        uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    // Fills len bytes; every call but the last must ask for a multiple of 8.
    void fill(unsigned char* p, size_t len)
    {
        for (size_t i = 0; i < len; i += 8) {
            uint64_t v = next();
            std::memcpy(p + i, &v, len - i < 8 ? len - i : 8);
        }
    }
};

void put_u64(unsigned char* p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = static_cast<unsigned char>(v >> (8 * i));
}
uint64_t get_u64(const unsigned char* p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}

double now_s()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double mibps(uint64_t bytes, double secs) { return secs > 0 ? static_cast<double>(bytes) / 1048576.0 / secs : 0.0; }

void set_timeouts(int fd)
{
    timeval tv { opt.timeout_s, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

sockaddr_un unix_address(const std::string& path)
{
    sockaddr_un a;
    if (!base::unix_address(path, a))
        usage("socket path too long");
    return a;
}

// A plain Unix stream connection (--unix: a socket that is not an enclave's VsockSocket).
int unix_connect(const std::string& path)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a = unix_address(path);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        die("cannot connect to the Unix socket");
    return fd;
}

// Connects to the VsockSocket and sends "CONNECT <port>\n" (blocking socket).
int hybrid_connect_or_die(unsigned port)
{
    try {
        return vmm::vsock::hybrid_connect(opt.socket, port, vmm::vsock::SocketMode::Blocking).release();
    } catch (const base::Error& e) {
        std::printf("PEER %s error: %s result=ERROR\n", opt.mode.c_str(), e.what());
        std::exit(1);
    }
}

int tcp_connect(const std::string& hostport)
{
    auto colon = hostport.rfind(':');
    if (colon == std::string::npos)
        usage("--tcp wants HOST:PORT");
    addrinfo hints {};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(hostport.substr(0, colon).c_str(), hostport.substr(colon + 1).c_str(), &hints, &res) != 0 || !res)
        usage("cannot resolve --tcp");
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, res->ai_addr, res->ai_addrlen) != 0)
        die("cannot connect over TCP");
    freeaddrinfo(res);
    return fd;
}

bool send_all(int fd, const unsigned char* p, size_t len)
{
    while (len) {
        ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

// Reads exactly len bytes: 1 = done, 0 = EOF first (got says how many), -1 = error (errno).
int recv_all(int fd, unsigned char* p, size_t len, size_t* got = nullptr)
{
    size_t have = 0;
    while (have < len) {
        ssize_t n = ::read(fd, p + have, len - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (got)
                *got = have;
            return n == 0 ? 0 : -1;
        }
        have += static_cast<size_t>(n);
    }
    if (got)
        *got = have;
    return 1;
}

// After the exchange: the peer must close without sending anything more.
const char* expect_eof(int fd)
{
    unsigned char c;
    for (;;) {
        ssize_t n = ::read(fd, &c, 1);
        if (n == 0)
            return nullptr;
        if (n > 0)
            return "extra bytes after the end";
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET)
            return nullptr; // a reset after the last byte is still the end
        return errno == EAGAIN ? "no EOF (timed out)" : "read error instead of EOF";
    }
}

// After CONNECT: the "OK <n>" line (read a byte at a time: what follows is the stream), or
// an empty string when the socket was closed without it.
std::string read_ok_line(int fd)
{
    std::string reply;
    for (;;) {
        char c;
        ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return "";
        if (c == '\n')
            break;
        reply += c;
        if (reply.size() > 64)
            return "";
    }
    return reply;
}

int connect_stream()
{
    int fd = hybrid_connect_or_die(opt.port);
    set_timeouts(fd);
    std::string ok = read_ok_line(fd);
    if (ok.rfind("OK ", 0) != 0) {
        std::printf("PEER %s port=%u result=CLOSED (no OK line: nothing listens in the enclave?)\n", opt.mode.c_str(), opt.port);
        std::exit(3);
    }
    return fd;
}

// hold: one echo round trip, then wait for the enclave side to end the connection.
int hold()
{
    int fd = connect_stream();
    const unsigned char ping[5] = { 'p', 'i', 'n', 'g', '\n' };
    unsigned char back[5];
    if (!send_all(fd, ping, 5) || recv_all(fd, back, 5) != 1 || std::memcmp(ping, back, 5) != 0) {
        std::printf("PEER hold port=%u error: no echo of the ping result=FAILED\n", opt.port);
        return 1;
    }
    std::printf("PEER hold port=%u established, echo ok; waiting for the end\n", opt.port);
    std::fflush(stdout);
    double t0 = now_s();
    unsigned char c;
    ssize_t n;
    while ((n = ::read(fd, &c, 1)) < 0 && errno == EINTR) {
    }
    int e = errno;
    const char* result = n == 0 ? "EOF" : n > 0 ? "DATA" : e == ECONNRESET ? "RESET" : e == EAGAIN ? "TIMEOUT" : "ERROR";
    std::printf("PEER hold port=%u ended after %.3f s result=%s\n", opt.port, now_s() - t0, result);
    return n == 0 || (n < 0 && e == ECONNRESET) ? 0 : 2;
}

int probe()
{
    int fd = hybrid_connect_or_die(opt.port);
    set_timeouts(fd);
    std::string ok = read_ok_line(fd);
    if (ok.rfind("OK ", 0) != 0) {
        std::printf("PEER probe port=%u result=CLOSED\n", opt.port);
        return 3;
    }
    std::printf("PEER probe port=%u hostport=%s result=OK\n", opt.port, ok.c_str() + 3);
    return 0;
}

constexpr size_t kChunk = 256 * 1024;

// An XXH3-64 state that frees itself on every return path (LeakSanitizer checks the peer too).
class Xxh3 {
public:
    Xxh3() : st_(XXH3_createState(), XXH3_freeState)
    {
        if (!st_)
            throw std::bad_alloc();
        XXH3_64bits_reset(st_.get());
    }
    void update(const void* data, size_t len) { XXH3_64bits_update(st_.get(), data, len); }
    uint64_t digest() const { return XXH3_64bits_digest(st_.get()); }

private:
    std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> st_;
};

int sink()
{
    int fd = connect_stream();
    std::vector<unsigned char> buf(kChunk);
    Stream stream(opt.port);
    Xxh3 st;
    uint64_t limit = opt.abort ? std::min(opt.abort_after, opt.bytes) : opt.bytes;
    double t0 = now_s();
    uint64_t sent = 0;
    while (sent < limit) {
        size_t len = static_cast<size_t>(std::min<uint64_t>(kChunk, limit - sent));
        stream.fill(buf.data(), len);
        st.update(buf.data(), len);
        if (!send_all(fd, buf.data(), len)) {
            std::printf("PEER sink port=%u sent=%" PRIu64 " error: %s result=RESET\n", opt.port, sent, std::strerror(errno));
            return 2;
        }
        sent += len;
    }
    if (opt.abort) {
        ::close(fd);
        std::printf("PEER sink port=%u aborted after %" PRIu64 " bytes (closed) result=ABORTED\n", opt.port, sent);
        return 0;
    }
    uint64_t mine = st.digest();
    ::shutdown(fd, SHUT_WR);
    unsigned char reply[8];
    size_t got = 0;
    int r = recv_all(fd, reply, 8, &got);
    double secs = now_s() - t0;
    if (r != 1) {
        std::printf("PEER sink port=%u bytes=%" PRIu64 " error: %s before the enclave's digest (%zu of 8 bytes) result=%s\n",
            opt.port, sent, r == 0 ? "EOF" : std::strerror(errno), got, r == 0 ? "EOF_EARLY" : "RESET");
        return 2;
    }
    uint64_t theirs = get_u64(reply);
    const char* eof = expect_eof(fd);
    bool ok = theirs == mine && !eof;
    std::printf("PEER sink port=%u bytes=%" PRIu64 " xxh3=%016" PRIx64 " enclave=%016" PRIx64 " secs=%.3f MiBps=%.1f%s%s result=%s\n",
        opt.port, sent, mine, theirs, secs, mibps(sent, secs), eof ? " " : "", eof ? eof : "", ok ? "OK" : "MISMATCH");
    return ok ? 0 : 1;
}

int source()
{
    int fd = connect_stream();
    double t0 = now_s();
    unsigned char frame[8];
    size_t got = 0;
    int r = recv_all(fd, frame, 8, &got);
    if (r != 1) {
        std::printf("PEER source port=%u received=0 error: %s before the length result=%s\n", opt.port,
            r == 0 ? "EOF" : std::strerror(errno), r == 0 ? "EOF_EARLY" : "RESET");
        return 2;
    }
    uint64_t length = get_u64(frame);
    if (length != opt.bytes) {
        std::printf("PEER source port=%u length=%" PRIu64 " expected=%" PRIu64 " result=MISMATCH\n", opt.port, length, opt.bytes);
        return 1;
    }
    std::vector<unsigned char> buf(kChunk), want(kChunk);
    Stream stream(opt.port);
    Xxh3 st;
    uint64_t received = 0;
    uint64_t limit = opt.abort ? std::min(opt.abort_after, length) : length;
    unsigned pauses = 0;
    while (received < limit) {
        if (opt.pause_every && received / opt.pause_every >= pauses) { // a slow reader: let everything back up
            pauses++;
            ::usleep(opt.pause_ms * 1000);
        }
        size_t len = static_cast<size_t>(std::min<uint64_t>(kChunk, limit - received));
        r = recv_all(fd, buf.data(), len, &got);
        received += got;
        if (r != 1) {
            int e = errno;
            std::printf("PEER source port=%u received=%" PRIu64 " of %" PRIu64 " error: %s after %.3f s result=%s\n", opt.port, received,
                length, r == 0 ? "EOF" : e == EAGAIN ? "timed out" : std::strerror(e), now_s() - t0,
                r == 0 ? "EOF_EARLY" : e == EAGAIN ? "TIMEOUT" : "RESET");
            return 2;
        }
        stream.fill(want.data(), len);
        if (std::memcmp(buf.data(), want.data(), len) != 0) {
            size_t at = 0;
            while (buf[at] == want[at])
                at++;
            std::printf("PEER source port=%u wrong byte at offset %" PRIu64 " result=MISMATCH\n", opt.port, received - len + at);
            return 1;
        }
        st.update(buf.data(), len);
    }
    if (opt.abort) {
        ::close(fd);
        std::printf("PEER source port=%u aborted after %" PRIu64 " bytes (closed) result=ABORTED\n", opt.port, received);
        return 0;
    }
    r = recv_all(fd, frame, 8, &got);
    double secs = now_s() - t0;
    if (r != 1) {
        std::printf("PEER source port=%u received=%" PRIu64 " error: %s before the digest result=%s\n", opt.port, received,
            r == 0 ? "EOF" : std::strerror(errno), r == 0 ? "EOF_EARLY" : "RESET");
        return 2;
    }
    uint64_t mine = st.digest(), theirs = get_u64(frame);
    const char* eof = expect_eof(fd);
    bool ok = mine == theirs && !eof;
    std::printf("PEER source port=%u bytes=%" PRIu64 " xxh3=%016" PRIx64 " enclave=%016" PRIx64 " secs=%.3f MiBps=%.1f pauses=%u%s%s result=%s\n",
        opt.port, received, mine, theirs, secs, mibps(received, secs), pauses, eof ? " " : "", eof ? eof : "", ok ? "OK" : "MISMATCH");
    return ok ? 0 : 1;
}

// A TCP listener on HOST:PORT (port 0: any); its port in *bound.
int tcp_listen(const std::string& hostport, unsigned* bound)
{
    auto colon = hostport.rfind(':');
    if (colon == std::string::npos)
        usage("--tcp wants HOST:PORT");
    addrinfo hints {};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
    addrinfo* res = nullptr;
    std::string host = hostport.substr(0, colon);
    if (host.size() > 2 && host.front() == '[')
        host = host.substr(1, host.size() - 2);
    if (getaddrinfo(host.c_str(), hostport.substr(colon + 1).c_str(), &hints, &res) != 0 || !res)
        usage("--tcp wants a numeric HOST:PORT");
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 1024) != 0)
        die("cannot listen over TCP");
    freeaddrinfo(res);
    sockaddr_storage a {};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *bound = ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
    return fd;
}

int listen_mode()
{
    std::string path = opt.socket + "_" + std::to_string(opt.port);
    int lfd = -1;
    if (!opt.tcp.empty()) {
        unsigned bound = 0;
        lfd = tcp_listen(opt.tcp, &bound);
        path = opt.tcp.substr(0, opt.tcp.rfind(':')) + ":" + std::to_string(bound);
        std::printf("PEER listening tcp=%s\n", path.c_str());
    } else {
        ::unlink(path.c_str());
        lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a = unix_address(path);
        if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 64) != 0)
            die("cannot listen");
        std::printf("PEER listening path=%s\n", path.c_str());
    }
    std::fflush(stdout);
    int failed = 0;
    for (unsigned long i = 1; i <= opt.count; i++) {
        pollfd p { lfd, POLLIN, 0 };
        if (::poll(&p, 1, opt.timeout_s * 1000) != 1) {
            std::printf("PEER listen port=%u conn=%lu error: no connection within %d s result=TIMEOUT\n", opt.port, i, opt.timeout_s);
            if (opt.tcp.empty())
                ::unlink(path.c_str());
            return 2;
        }
        int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            die("accept");
        set_timeouts(fd);
        double t0 = now_s();
        unsigned char frame[8];
        size_t got = 0;
        if (recv_all(fd, frame, 8, &got) != 1) {
            std::printf("PEER listen port=%u conn=%lu error: no length result=EOF_EARLY\n", opt.port, i);
            failed = 2;
            ::close(fd);
            continue;
        }
        uint64_t length = get_u64(frame), received = 0;
        std::vector<unsigned char> buf(kChunk), want(kChunk);
        Stream stream(opt.port);
        Xxh3 st;
        bool content_ok = true, complete = true;
        const char* why = "EOF";
        unsigned pauses = 0;
        while (received < length) {
            if (opt.pause_every && received / opt.pause_every >= pauses) {
                pauses++;
                ::usleep(opt.pause_ms * 1000);
            }
            size_t len = static_cast<size_t>(std::min<uint64_t>(kChunk, length - received));
            int r = recv_all(fd, buf.data(), len, &got);
            if (r != 1) {
                received += got;
                complete = false;
                why = r == 0 ? "EOF" : errno == EAGAIN ? "timed out" : std::strerror(errno);
                break;
            }
            received += len;
            stream.fill(want.data(), len);
            if (std::memcmp(buf.data(), want.data(), len) != 0)
                content_ok = false;
            st.update(buf.data(), len);
        }
        uint64_t mine = st.digest();
        if (complete && recv_all(fd, frame, 8, &got) != 1) {
            complete = false;
            why = "no digest";
        }
        if (!complete) {
            std::printf("PEER listen port=%u conn=%lu received=%" PRIu64 " of %" PRIu64 " error: stream ended early (%s) after %.3f s result=%s\n",
                opt.port, i, received, length, why, now_s() - t0, std::strcmp(why, "timed out") == 0 ? "TIMEOUT" : "EOF_EARLY");
            failed = 2;
            ::close(fd);
            continue;
        }
        uint64_t theirs = get_u64(frame);
        unsigned char reply[8];
        put_u64(reply, mine);
        bool sent = send_all(fd, reply, 8);
        const char* eof = expect_eof(fd);
        double secs = now_s() - t0;
        bool ok = content_ok && theirs == mine && sent && !eof;
        std::printf("PEER listen port=%u conn=%lu bytes=%" PRIu64 " xxh3=%016" PRIx64 " enclave=%016" PRIx64
                    " content=%s secs=%.3f MiBps=%.1f%s%s result=%s\n",
            opt.port, i, received, mine, theirs, content_ok ? "ok" : "WRONG", secs, mibps(received, secs), eof ? " " : "",
            eof ? eof : "", ok ? "OK" : "MISMATCH");
        std::fflush(stdout);
        if (!ok && !failed)
            failed = 1;
        ::close(fd);
    }
    if (opt.tcp.empty())
        ::unlink(path.c_str());
    return failed;
}

// --- tcp-echo: the remote end of the egress proxy tests ------------------------------------------

int tcp_echo()
{
    unsigned bound = 0;
    int lfd = tcp_listen(opt.tcp, &bound);
    ::fcntl(lfd, F_SETFL, O_NONBLOCK);
    std::printf("PEER tcp-echo listening port=%u\n", bound);
    std::fflush(stdout);
    struct Pending {
        std::vector<char> bytes;
        bool eof = false;
    };
    std::map<int, Pending> conns;
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event lev { EPOLLIN, { .fd = lfd } };
    ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    unsigned long ended = 0, accepted = 0, peak = 0;
    uint64_t echoed = 0;
    double deadline = now_s() + opt.timeout_s;
    std::vector<char> buf(65536);
    while (ended < opt.conns) {
        int left = static_cast<int>((deadline - now_s()) * 1000);
        epoll_event evs[256];
        int n = left > 0 ? ::epoll_wait(ep, evs, 256, left) : 0;
        if (n <= 0) {
            std::printf("PEER tcp-echo accepted=%lu ended=%lu of %lu error: timed out result=TIMEOUT\n", accepted, ended, opt.conns);
            return 2;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (int c; (c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0;) {
                    accepted++;
                    conns[c];
                    peak = std::max<unsigned long>(peak, conns.size());
                    epoll_event ev { EPOLLIN | EPOLLOUT | EPOLLET, { .fd = c } };
                    ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                }
                continue;
            }
            auto found = conns.find(fd);
            if (found == conns.end())
                continue; // closed earlier in this batch
            Pending& p = found->second;
            bool dead = false;
            for (;;) {
                while (!p.bytes.empty()) {
                    ssize_t w = ::send(fd, p.bytes.data(), p.bytes.size(), MSG_NOSIGNAL);
                    if (w <= 0) {
                        dead = w < 0 && errno != EAGAIN;
                        break;
                    }
                    echoed += static_cast<uint64_t>(w);
                    p.bytes.erase(p.bytes.begin(), p.bytes.begin() + w);
                }
                if (dead || !p.bytes.empty() || p.eof)
                    break;
                ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
                if (r == 0)
                    p.eof = true;
                else if (r < 0) {
                    dead = errno != EAGAIN;
                    break;
                } else
                    p.bytes.insert(p.bytes.end(), buf.data(), buf.data() + r);
            }
            if (dead || (p.eof && p.bytes.empty())) {
                ::close(fd);
                conns.erase(fd);
                ended++;
            }
        }
    }
    std::printf("PEER tcp-echo conns=%lu peak=%lu echoed=%" PRIu64 " result=OK\n", ended, peak, echoed);
    return 0;
}

// --- echo: N connections held open at once -----------------------------------------------------

struct EchoConn {
    int fd = -1;
    unsigned long index = 0;
    std::string line;
    bool established = false, complete = false, eof = false;
    std::vector<unsigned char> payload;
    size_t sent = 0, echoed = 0;
};

int echo()
{
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<EchoConn> conns(opt.conns);
    double deadline = now_s() + opt.timeout_s;
    auto fail = [&](const EchoConn& c, const char* what) {
        std::printf("PEER echo conn=%lu sent=%zu echoed=%zu of %zu error: %s result=FAILED\n", c.index, c.sent, c.echoed,
            c.payload.size(), what);
        std::exit(1);
    };
    auto wait = [&](epoll_event* evs, int max) {
        int left = static_cast<int>((deadline - now_s()) * 1000);
        if (left <= 0)
            return -1;
        int n = ::epoll_wait(ep, evs, max, left);
        return n;
    };
    // Phase 1: open every connection; W handshakes in flight at a time.
    double t_open = now_s();
    unsigned long opened = 0, established = 0, pending = 0;
    epoll_event evs[512];
    while (established < opt.conns) {
        while (opened < opt.conns && pending < opt.window) {
            EchoConn& c = conns[opened];
            c.index = opened++;
            if (!opt.tcp.empty() || !opt.unix_path.empty()) {
                c.fd = opt.tcp.empty() ? unix_connect(opt.unix_path) : tcp_connect(opt.tcp);
                c.established = true;
                established++;
                continue;
            }
            c.fd = hybrid_connect_or_die(opt.port);
            ::fcntl(c.fd, F_SETFL, O_NONBLOCK);
            epoll_event ev { EPOLLIN, { .ptr = &c } };
            ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
            pending++;
        }
        if (established == opt.conns)
            break;
        int n = wait(evs, 512);
        if (n <= 0) {
            std::printf("PEER echo error: only %lu of %lu connections established within %d s result=FAILED\n", established,
                opt.conns, opt.timeout_s);
            return 1;
        }
        for (int i = 0; i < n; i++) {
            EchoConn& c = *static_cast<EchoConn*>(evs[i].data.ptr);
            for (;;) {
                char ch;
                ssize_t r = ::read(c.fd, &ch, 1);
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r <= 0) {
                    std::printf("PEER echo conn=%lu error: closed without OK after %lu established (%s) result=CLOSED\n", c.index,
                        established, r == 0 ? "EOF" : std::strerror(errno));
                    return 3;
                }
                if (ch != '\n') {
                    c.line += ch;
                    continue;
                }
                if (c.line.rfind("OK ", 0) != 0)
                    fail(c, ("bad handshake line: " + c.line).c_str());
                c.established = true;
                established++;
                pending--;
                ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
                break;
            }
        }
    }
    double t_data = now_s();
    std::printf("PEER echo established=%lu concurrently in %.3f s\n", established, t_data - t_open);
    std::fflush(stdout);
    // Phase 2: payloads out, echoes back and checked; nobody half-closes yet, so all N stay open.
    uint64_t total = 0;
    for (auto& c : conns) {
        Stream s(0xEC40000000ULL + c.index);
        size_t len = static_cast<size_t>(1 + s.next() % (opt.bytes ? opt.bytes : 1));
        c.payload.resize((len + 7) & ~size_t(7));
        s.fill(c.payload.data(), c.payload.size());
        c.payload.resize(len);
        total += len;
        ::fcntl(c.fd, F_SETFL, O_NONBLOCK);
        epoll_event ev { EPOLLIN | EPOLLOUT, { .ptr = &c } };
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
    unsigned long complete = 0;
    std::vector<unsigned char> buf(65536);
    while (complete < opt.conns) {
        int n = wait(evs, 512);
        if (n <= 0) {
            for (auto& c : conns)
                if (!c.complete)
                    fail(c, "timed out waiting for the echo");
        }
        for (int i = 0; i < n; i++) {
            EchoConn& c = *static_cast<EchoConn*>(evs[i].data.ptr);
            if (c.sent < c.payload.size()) {
                ssize_t w = ::send(c.fd, c.payload.data() + c.sent, c.payload.size() - c.sent, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN)
                    fail(c, std::strerror(errno));
                if (w > 0)
                    c.sent += static_cast<size_t>(w);
                if (opt.early_shutdown && c.sent == c.payload.size())
                    ::shutdown(c.fd, SHUT_WR); // the echo must still come back in full
            }
            for (;;) {
                ssize_t r = ::read(c.fd, buf.data(), buf.size());
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r == 0 && opt.early_shutdown && c.echoed == c.payload.size()) {
                    c.eof = true; // we half-closed first: the whole echo, then EOF
                    break;
                }
                if (r == 0)
                    fail(c, "EOF before the whole echo");
                if (r < 0)
                    fail(c, std::strerror(errno));
                if (c.echoed + static_cast<size_t>(r) > c.payload.size())
                    fail(c, "more bytes echoed than sent");
                if (std::memcmp(buf.data(), c.payload.data() + c.echoed, static_cast<size_t>(r)) != 0)
                    fail(c, "echoed bytes differ from the payload");
                c.echoed += static_cast<size_t>(r);
            }
            uint32_t want = (c.sent < c.payload.size() ? uint32_t(EPOLLOUT) : 0u) | uint32_t(EPOLLIN);
            if (c.echoed == c.payload.size() && !c.complete) {
                c.complete = true;
                complete++;
            }
            if (c.complete && (!opt.early_shutdown || c.eof))
                want = 0;
            epoll_event ev { want, { .ptr = &c } };
            ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        }
    }
    double t_echoed = now_s();
    // Phase 3: half-close every connection; each must then end with EOF and nothing more.
    unsigned long eofs = 0;
    for (auto& c : conns) {
        if (c.eof) {
            eofs++;
            ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
            ::close(c.fd);
            continue;
        }
        if (!opt.early_shutdown)
            ::shutdown(c.fd, SHUT_WR);
        epoll_event ev { EPOLLIN, { .ptr = &c } };
        ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
    }
    while (eofs < opt.conns) {
        int n = wait(evs, 512);
        if (n <= 0) {
            for (auto& c : conns)
                if (!c.eof)
                    fail(c, "no EOF after the half-close");
        }
        for (int i = 0; i < n; i++) {
            EchoConn& c = *static_cast<EchoConn*>(evs[i].data.ptr);
            char ch;
            ssize_t r = ::read(c.fd, &ch, 1);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r > 0)
                fail(c, "bytes after the echo");
            if (r < 0 && errno != ECONNRESET)
                fail(c, std::strerror(errno));
            c.eof = true;
            eofs++;
            ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
            ::close(c.fd);
        }
    }
    double t_end = now_s();
    std::printf("PEER echo conns=%lu bytes=%" PRIu64 " verified=%lu eof=%lu open_secs=%.3f echo_secs=%.3f close_secs=%.3f "
                "MiBps=%.1f result=OK\n",
        opt.conns, total, complete, eofs, t_data - t_open, t_echoed - t_data, t_end - t_echoed, mibps(2 * total, t_echoed - t_data));
    return 0;
}

uint64_t parse_number(const char* s)
{
    char* end;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 0);
    if (errno || end == s)
        usage("bad number");
    switch (*end) {
    case 'K': v <<= 10; break;
    case 'M': v <<= 20; break;
    case 'G': v <<= 30; break;
    case 0: break;
    default: usage("bad number suffix (K, M, G)");
    }
    return v;
}

} // namespace

int main(int argc, char** argv)
{
    setvbuf(stdout, nullptr, _IOLBF, 0);
    // 1,025 concurrent connections need more descriptors than a default soft limit of 1,024:
    // take the hard limit, as app_vsock does on the enclave's side.
    rlimit nofile {};
    if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (argc < 2)
        usage("missing mode");
    opt.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        if (i + 1 >= argc)
            usage(("missing value for " + a).c_str());
        const char* v = argv[++i];
        if (a == "--socket")
            opt.socket = v;
        else if (a == "--tcp")
            opt.tcp = v;
        else if (a == "--unix")
            opt.unix_path = v;
        else if (a == "--port")
            opt.port = static_cast<unsigned>(parse_number(v));
        else if (a == "--conns")
            opt.conns = parse_number(v);
        else if (a == "--count")
            opt.count = parse_number(v);
        else if (a == "--window")
            opt.window = parse_number(v);
        else if (a == "--bytes")
            opt.bytes = parse_number(v);
        else if (a == "--abort-after")
            opt.abort_after = parse_number(v), opt.abort = true;
        else if (a == "--pause-every")
            opt.pause_every = parse_number(v);
        else if (a == "--pause-ms")
            opt.pause_ms = static_cast<unsigned>(parse_number(v));
        else if (a == "--early-shutdown")
            opt.early_shutdown = parse_number(v) != 0;
        else if (a == "--timeout")
            opt.timeout_s = static_cast<int>(parse_number(v));
        else
            usage(("unknown option " + a).c_str());
    }
    if (opt.tcp.empty() && opt.socket.empty() && opt.unix_path.empty())
        usage("--socket (or, for echo, --tcp or --unix; for listen and tcp-echo, --tcp) is required");
    if (opt.mode == "tcp-echo")
        return tcp_echo();
    if (opt.mode == "echo")
        return echo();
    if (opt.mode == "sink")
        return sink();
    if (opt.mode == "source")
        return source();
    if (opt.mode == "listen")
        return listen_mode();
    if (opt.mode == "probe")
        return probe();
    if (opt.mode == "hold")
        return hold();
    usage("unknown mode");
}
