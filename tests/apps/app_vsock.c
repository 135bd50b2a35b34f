/* tests/apps/app_vsock.c — an enclave app that serves vsock for the end-to-end tests
 * (tests/integration/tcg_*.sh); the parent side is tests/tools/vsock_peer.cc. One epoll loop
 * runs every service given as an argument, all concurrently:
 *
 *   echo:PORT               accept any number of connections; echo every byte back; after EOF
 *                           from the parent, finish echoing and close
 *   sink:PORT[:N:MS]        per connection: read to EOF, reply with the 8-byte XXH3-64 of what
 *                           was received, close; with N and MS a slow reader: the whole app
 *                           sleeps MS milliseconds before each N bytes of a connection
 *   source:PORT:BYTES       per connection: send the 8-byte length, BYTES bytes of the stream
 *                           (below), then the 8-byte XXH3-64 of those bytes; shut down sending,
 *                           wait for the parent's EOF, close
 *   dial:PORT:BYTES[:MS]    after MS milliseconds (default 0) connect to CID 3 port PORT, send
 *                           the same framing as source, shut down sending, read the parent's
 *                           8-byte XXH3-64 of what it received and print OK or MISMATCH
 *   tcpdial:PORT:BYTES[:MS] the same over TCP to 127.0.0.1:PORT (an egress forwarder of
 *                           guest-init); its lines say "dial" too
 *   exit-after:N[:CODE]     exit once N connections (accepted or dialled, also failed ones) have
 *                           ended: with CODE (default 0) if none failed, else with 1
 *   crash-after:BYTES[:SIG] kill itself with SIG (default 9) once BYTES bytes (sent + received,
 *                           all connections) have moved
 *   print:PATH              before serving, print each line of the file PATH as
 *                           "VSOCK file PATH: <line>" (e.g. /proc/cpuinfo seen by a running app)
 *
 * The stream of source and dial is deterministic: the little-endian outputs of splitmix64
 * starting from state = PORT, truncated to BYTES. Integers on the wire are little-endian u64.
 * Every event worth checking is a "VSOCK ..." line on stdout (the enclave's console).
 * Ports are served until exit-after (or forever). */
#define XXH_INLINE_ALL
#include "tests/apps/print_file.h"
#include <xxhash.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <sys/socket.h>  // before linux/vm_sockets.h: older copies of it (the arm64 cross 6.1 headers) need sockaddr
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PARENT_CID 3
#define ECHO_BUFFER (32 * 1024)
#define CHUNK (64 * 1024)
#define MAX_SERVICES 32

enum kind { ECHO, SINK, SOURCE, DIAL };
static const char* const kind_names[] = { "echo", "sink", "source", "dial" };
enum handle_type { H_LISTENER, H_TIMER, H_CONN };
enum phase { P_HEADER, P_DATA, P_TRAILER, P_REPLY, P_DRAIN };

struct service {
    int type; /* H_LISTENER or H_TIMER (dial); must stay first */
    enum kind kind;
    unsigned port;
    uint64_t bytes;
    unsigned delay_ms;
    uint64_t pause_every;
    unsigned pause_ms;
    int tcp; /* tcpdial: 127.0.0.1 instead of CID 3 */
    int fd;
    unsigned long conns, active, peak, errors;
    uint64_t bytes_in, bytes_out;
};

struct conn {
    int type; /* H_CONN; must stay first */
    int fd;
    struct service* svc;
    unsigned long id;
    uint32_t events;
    int connecting;
    /* echo: pending bytes are buf[off, len) */
    unsigned char* buf;
    size_t len, off;
    int eof;
    /* sink, source, dial */
    XXH3_state_t* state;
    uint64_t count;
    enum phase phase;
    uint64_t prng;
    unsigned char frame[8];
    size_t frame_off;
    unsigned char* chunk;
    size_t chunk_len, chunk_off;
    uint64_t hash;
    unsigned long pauses;
    struct timespec t0;
};

static struct service services[MAX_SERVICES];
static int nservices;
static int epoll_fd;
static unsigned long exit_after, ended, failures;
static int exit_code;
static uint64_t crash_after, moved;
static int crash_signal = SIGKILL;

static double seconds_since(const struct timespec* t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static uint64_t splitmix64(uint64_t* s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void put_u64(unsigned char* p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char* p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static const char* errname(int e)
{
    const char* n = strerrorname_np(e);
    return n ? n : "E?";
}

static void account(struct conn* c, int in, size_t n)
{
    if (in)
        c->svc->bytes_in += n;
    else
        c->svc->bytes_out += n;
    moved += n;
    if (crash_after && moved >= crash_after) {
        printf("VSOCK crash-after: %" PRIu64 " bytes moved, killing myself with signal %d\n", moved, crash_signal);
        fflush(stdout);
        signal(crash_signal, SIG_DFL);
        kill(getpid(), crash_signal);
        pause();
    }
}

static void summary_and_exit(void)
{
    for (int i = 0; i < nservices; i++) {
        struct service* s = &services[i];
        printf("VSOCK summary %s:%u conns=%lu peak=%lu errors=%lu in=%" PRIu64 " out=%" PRIu64 "\n",
            kind_names[s->kind], s->port, s->conns, s->peak, s->errors, s->bytes_in, s->bytes_out);
    }
    int status = failures ? 1 : exit_code;
    printf("VSOCK exit ended=%lu failed=%lu status=%d\n", ended, failures, status);
    fflush(stdout);
    exit(status);
}

static void set_events(struct conn* c, uint32_t events)
{
    if (events == c->events)
        return;
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        printf("VSOCK fatal: epoll_ctl: %s\n", strerror(errno));
        exit(70);
    }
    c->events = events;
}

/* Ends a connection; failed: print why (what went wrong, with errno when err != 0). */
static void finish(struct conn* c, const char* failure, int err)
{
    struct service* s = c->svc;
    if (failure) {
        s->errors++;
        failures++;
        if (err)
            printf("VSOCK %s %u conn=%lu error: %s: %s (%s) after %" PRIu64 " bytes\n", kind_names[s->kind], s->port, c->id,
                failure, errname(err), strerror(err), c->count);
        else
            printf("VSOCK %s %u conn=%lu error: %s after %" PRIu64 " bytes\n", kind_names[s->kind], s->port, c->id, failure, c->count);
    }
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    s->active--;
    free(c->buf);
    free(c->chunk);
    if (c->state)
        XXH3_freeState(c->state);
    free(c);
    ended++;
    if (exit_after && ended >= exit_after)
        summary_and_exit();
}

static struct conn* new_conn(struct service* s, int fd)
{
    struct conn* c = calloc(1, sizeof *c);
    if (!c) {
        printf("VSOCK fatal: out of memory\n");
        exit(70);
    }
    c->type = H_CONN;
    c->fd = fd;
    c->svc = s;
    c->id = ++s->conns;
    if (++s->active > s->peak)
        s->peak = s->active;
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    if (s->kind == ECHO) {
        c->buf = malloc(ECHO_BUFFER);
    } else {
        c->state = XXH3_createState();
        XXH3_64bits_reset(c->state);
        if (s->kind != SINK) {
            c->chunk = malloc(CHUNK);
            c->prng = s->port;
            c->phase = P_HEADER;
            put_u64(c->frame, s->bytes);
        }
        if (!c->state || (s->kind != SINK && !c->chunk)) {
            printf("VSOCK fatal: out of memory\n");
            exit(70);
        }
    }
    return c;
}

static void add_conn(struct conn* c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        printf("VSOCK fatal: epoll_ctl add: %s\n", strerror(errno));
        exit(70);
    }
    c->events = events;
}

static void echo_io(struct conn* c)
{
    for (;;) {
        int progress = 0;
        if (!c->eof && c->len < ECHO_BUFFER) {
            ssize_t n = read(c->fd, c->buf + c->len, ECHO_BUFFER - c->len);
            if (n > 0) {
                c->len += (size_t)n;
                c->count += (uint64_t)n;
                account(c, 1, (size_t)n);
                progress = 1;
            } else if (n == 0) {
                c->eof = 1;
                progress = 1;
            } else if (errno != EAGAIN && errno != EINTR) {
                finish(c, "read", errno);
                return;
            }
        }
        if (c->len > c->off) {
            ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
            if (n > 0) {
                c->off += (size_t)n;
                account(c, 0, (size_t)n);
                if (c->off == c->len)
                    c->off = c->len = 0;
                progress = 1;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                finish(c, "write", errno);
                return;
            }
        }
        if (c->eof && c->len == c->off) {
            finish(c, NULL, 0);
            return;
        }
        if (!progress)
            break;
    }
    set_events(c, (!c->eof && c->len < ECHO_BUFFER ? EPOLLIN : 0) | (c->len > c->off ? EPOLLOUT : 0));
}

static void report_transfer(struct conn* c, const char* verdict)
{
    double secs = seconds_since(&c->t0);
    printf("VSOCK %s %u conn=%lu bytes=%" PRIu64 " xxh3=%016" PRIx64 " secs=%.3f MiBps=%.1f pauses=%lu%s%s\n", kind_names[c->svc->kind],
        c->svc->port, c->id, c->count, c->hash, secs, secs > 0 ? (double)c->count / 1048576.0 / secs : 0.0, c->pauses,
        verdict ? " " : "", verdict ? verdict : "");
}

static void sink_io(struct conn* c)
{
    if (c->phase == P_REPLY) { /* sending the digest */
        ssize_t n = send(c->fd, c->frame + c->frame_off, 8 - c->frame_off, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            finish(c, "sending the digest", errno);
            return;
        }
        if (n > 0)
            c->frame_off += (size_t)n;
        if (c->frame_off == 8) {
            report_transfer(c, NULL);
            finish(c, NULL, 0);
        }
        return;
    }
    static unsigned char scratch[CHUNK];
    for (int i = 0; i < 16; i++) {
        struct service* s = c->svc;
        if (s->pause_every && c->count / s->pause_every >= c->pauses) {
            c->pauses++;
            usleep(s->pause_ms * 1000);
        }
        size_t want = sizeof scratch;
        if (s->pause_every && s->pause_every - c->count % s->pause_every < want)
            want = s->pause_every - c->count % s->pause_every;
        ssize_t n = read(c->fd, scratch, want);
        if (n > 0) {
            XXH3_64bits_update(c->state, scratch, (size_t)n);
            c->count += (uint64_t)n;
            account(c, 1, (size_t)n);
        } else if (n == 0) {
            c->hash = XXH3_64bits_digest(c->state);
            put_u64(c->frame, c->hash);
            c->frame_off = 0;
            c->phase = P_REPLY;
            set_events(c, EPOLLOUT);
            sink_io(c);
            return;
        } else if (errno == EAGAIN || errno == EINTR) {
            return;
        } else {
            finish(c, "read", errno);
            return;
        }
    }
}

/* source and dial: header, data, trailer, then (dial) the parent's digest or (source) its EOF. */
static void stream_io(struct conn* c)
{
    for (int rounds = 0; rounds < 64; rounds++) {
        ssize_t n;
        switch (c->phase) {
        case P_HEADER:
        case P_TRAILER:
            n = send(c->fd, c->frame + c->frame_off, 8 - c->frame_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return;
                finish(c, c->phase == P_HEADER ? "sending the length" : "sending the digest", errno);
                return;
            }
            c->frame_off += (size_t)n;
            account(c, 0, (size_t)n);
            if (c->frame_off < 8)
                break;
            c->frame_off = 0;
            if (c->phase == P_HEADER) {
                c->phase = P_DATA;
            } else {
                shutdown(c->fd, SHUT_WR);
                c->phase = c->svc->kind == DIAL ? P_REPLY : P_DRAIN;
                set_events(c, EPOLLIN);
                if (c->svc->kind == SOURCE)
                    report_transfer(c, NULL);
            }
            break;
        case P_DATA:
            if (c->chunk_off == c->chunk_len) {
                uint64_t left = c->svc->bytes - c->count;
                if (left == 0) {
                    c->hash = XXH3_64bits_digest(c->state);
                    put_u64(c->frame, c->hash);
                    c->phase = P_TRAILER;
                    break;
                }
                size_t len = left < CHUNK ? (size_t)left : CHUNK;
                for (size_t i = 0; i < len; i += 8) {
                    uint64_t v = splitmix64(&c->prng);
                    memcpy(c->chunk + i, &v, len - i < 8 ? len - i : 8);
                }
                XXH3_64bits_update(c->state, c->chunk, len);
                c->chunk_len = len;
                c->chunk_off = 0;
            }
            n = send(c->fd, c->chunk + c->chunk_off, c->chunk_len - c->chunk_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return;
                finish(c, "send", errno);
                return;
            }
            c->chunk_off += (size_t)n;
            c->count += (uint64_t)n;
            account(c, 0, (size_t)n);
            break;
        case P_REPLY: {
            n = read(c->fd, c->frame + c->frame_off, 8 - c->frame_off);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return;
                finish(c, "reading the parent's digest", errno);
                return;
            }
            if (n == 0) {
                finish(c, "EOF before the parent's digest", 0);
                return;
            }
            c->frame_off += (size_t)n;
            account(c, 1, (size_t)n);
            if (c->frame_off < 8)
                break;
            uint64_t theirs = get_u64(c->frame);
            if (theirs == c->hash) {
                report_transfer(c, "OK");
                finish(c, NULL, 0);
            } else {
                char why[80];
                snprintf(why, sizeof why, "MISMATCH parent=%016" PRIx64, theirs);
                report_transfer(c, why);
                finish(c, "digest mismatch", 0);
            }
            return;
        }
        case P_DRAIN: {
            char sink[512];
            n = read(c->fd, sink, sizeof sink);
            if (n == 0) {
                finish(c, NULL, 0);
                return;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return;
                /* the parent had everything; a reset instead of a close is still an end */
                finish(c, NULL, 0);
                return;
            }
            break;
        }
        }
        if (c->phase == P_HEADER || c->phase == P_DATA || c->phase == P_TRAILER)
            set_events(c, EPOLLOUT);
    }
}

static void conn_io(struct conn* c, uint32_t events)
{
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && (events & (EPOLLERR | EPOLLHUP)))
            err = ECONNRESET;
        if (err) {
            printf("VSOCK dial %u connect to CID %d failed: %s (%s)\n", c->svc->port, PARENT_CID, errname(err), strerror(err));
            finish(c, "connect", err);
            return;
        }
        c->connecting = 0;
        printf("VSOCK dial %u connected\n", c->svc->port);
    }
    switch (c->svc->kind) {
    case ECHO:
        echo_io(c);
        break;
    case SINK:
        sink_io(c);
        break;
    case SOURCE:
    case DIAL:
        stream_io(c);
        break;
    }
}

static void accept_all(struct service* s)
{
    for (;;) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                printf("VSOCK %s %u accept: %s (%s)\n", kind_names[s->kind], s->port, errname(errno), strerror(errno));
            return;
        }
        struct conn* c = new_conn(s, fd);
        add_conn(c, s->kind == SOURCE ? EPOLLOUT : EPOLLIN);
    }
}

static void dial(struct service* s)
{
    int fd = socket(s->tcp ? AF_INET : AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        printf("VSOCK fatal: socket(%s): %s\n", s->tcp ? "AF_INET" : "AF_VSOCK", strerror(errno));
        exit(70);
    }
    struct conn* c = new_conn(s, fd);
    struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = PARENT_CID, .svm_port = s->port };
    struct sockaddr_in tcp_addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port), .sin_addr = { htonl(INADDR_LOOPBACK) } };
    printf("VSOCK dial %u: connecting to %s, %" PRIu64 " bytes\n", s->port, s->tcp ? "127.0.0.1" : "CID 3", s->bytes);
    int rc = s->tcp ? connect(fd, (struct sockaddr*)&tcp_addr, sizeof tcp_addr) : connect(fd, (struct sockaddr*)&addr, sizeof addr);
    if (rc == 0) {
        add_conn(c, EPOLLOUT);
        return;
    }
    if (errno == EINPROGRESS) {
        c->connecting = 1;
        add_conn(c, EPOLLOUT);
        return;
    }
    int err = errno;
    add_conn(c, 0);
    printf("VSOCK dial %u connect to CID %d failed: %s (%s)\n", s->port, PARENT_CID, errname(err), strerror(err));
    finish(c, "connect", err);
}

static unsigned long long number(const char* text, const char* spec)
{
    char* end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno || end == text || (*end && *end != ':')) {
        printf("VSOCK usage: bad number in '%s'\n", spec);
        exit(64);
    }
    return v;
}

#define MAX_PRINTS 8
static const char* prints[MAX_PRINTS];
static int nprints;

static void parse(const char* spec)
{
    if (strncmp(spec, "print:", 6) == 0 && spec[6] && nprints < MAX_PRINTS) {
        prints[nprints++] = spec + 6;
        return;
    }
    char copy[128];
    snprintf(copy, sizeof copy, "%s", spec);
    char* fields[4] = { 0 };
    int n = 0;
    for (char* save = NULL, *f = strtok_r(copy, ":", &save); f && n < 4; f = strtok_r(NULL, ":", &save))
        fields[n++] = f;
    if (n == 0)
        goto bad;
    if (strcmp(fields[0], "exit-after") == 0 && n >= 2) {
        exit_after = (unsigned long)number(fields[1], spec);
        exit_code = n >= 3 ? (int)number(fields[2], spec) : 0;
        return;
    }
    if (strcmp(fields[0], "crash-after") == 0 && n >= 2) {
        crash_after = number(fields[1], spec);
        crash_signal = n >= 3 ? (int)number(fields[2], spec) : SIGKILL;
        return;
    }
    if (nservices == MAX_SERVICES || n < 2)
        goto bad;
    struct service* s = &services[nservices];
    s->port = (unsigned)number(fields[1], spec);
    if (strcmp(fields[0], "echo") == 0 && n == 2)
        s->kind = ECHO;
    else if (strcmp(fields[0], "sink") == 0 && (n == 2 || n == 4))
        s->kind = SINK;
    else if (strcmp(fields[0], "source") == 0 && n == 3)
        s->kind = SOURCE;
    else if ((strcmp(fields[0], "dial") == 0 || strcmp(fields[0], "tcpdial") == 0) && (n == 3 || n == 4)) {
        s->kind = DIAL;
        s->tcp = fields[0][0] == 't';
    }
    else
        goto bad;
    if (s->kind == SINK && n == 4) {
        s->pause_every = number(fields[2], spec);
        s->pause_ms = (unsigned)number(fields[3], spec);
    } else {
        if (n >= 3)
            s->bytes = number(fields[2], spec);
        if (n == 4)
            s->delay_ms = (unsigned)number(fields[3], spec);
    }
    nservices++;
    return;
bad:
    printf("VSOCK usage: bad service '%s' (echo:PORT, sink:PORT[:N:MS], source:PORT:BYTES, dial:PORT:BYTES[:MS], "
           "tcpdial:PORT:BYTES[:MS], exit-after:N[:CODE], crash-after:BYTES[:SIG], print:PATH)\n",
        spec);
    exit(64);
}

int main(int argc, char** argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++)
        parse(argv[i]);
    /* 1,000 concurrent connections need more than the default 1,024 descriptors' soft limit
     * leaves once stdio and listeners are counted: take the hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < nservices; i++) {
        struct service* s = &services[i];
        if (s->kind == DIAL) {
            s->type = H_TIMER;
            s->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
            struct itimerspec when = { .it_value = { .tv_sec = s->delay_ms / 1000, .tv_nsec = (long)(s->delay_ms % 1000) * 1000000 + 1 } };
            timerfd_settime(s->fd, 0, &when, NULL);
        } else {
            s->type = H_LISTENER;
            s->fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = s->port };
            if (s->fd < 0 || bind(s->fd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(s->fd, 4096) != 0) {
                printf("VSOCK fatal: cannot listen on vsock port %u: %s\n", s->port, strerror(errno));
                return 70;
            }
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, s->fd, &ev);
    }
    for (int i = 0; i < nprints; i++)
        print_file("VSOCK file", prints[i]);
    unsigned cid = 0;
    int dev = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    if (dev >= 0) {
        ioctl(dev, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);
        close(dev);
    }
    printf("VSOCK ready cid=%u nofile=%llu services=%d", cid, (unsigned long long)rl.rlim_cur, nservices);
    for (int i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");

    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epoll_fd, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            printf("VSOCK fatal: epoll_wait: %s\n", strerror(errno));
            return 70;
        }
        for (int i = 0; i < n; i++) {
            int type = *(int*)events[i].data.ptr;
            if (type == H_LISTENER) {
                accept_all(events[i].data.ptr);
            } else if (type == H_TIMER) {
                struct service* s = events[i].data.ptr;
                uint64_t ticks;
                if (read(s->fd, &ticks, sizeof ticks) == sizeof ticks)
                    dial(s);
            } else {
                conn_io(events[i].data.ptr, events[i].events);
            }
        }
    }
}
