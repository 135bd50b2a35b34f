/* tests/apps/app_nsm.c — an enclave app that uses /dev/nsm exactly as AWS's libnsm does (one raw
 * ioctl 0xC0200A00 per request, a 0x3000-byte response buffer) for the attestation end-to-end
 * tests (tests/integration/tcg_attestation.sh):
 *
 *   app_nsm PORT USER_DATA_LEN NONCE_LEN PUBLIC_KEY_LEN
 *
 * In order: DescribeNSM; DescribePCR 0 and 16; ExtendPCR 16 with "qt-vmm app_nsm"; LockPCR 16;
 * ExtendPCR 16 again (must fail with ReadOnlyIndex); DescribePCR 16 (locked, the extended
 * value); LockPCRs 20; GetRandom; Attestation with user_data, nonce and public_key of the given
 * lengths (0 = null, at most 1024; byte i of each is (i + 1), (i + 2), (i + 3) mod 256). One
 * "NSM <call> ..." line per call on stdout (the console in debug mode). Then, because a
 * production enclave has no console, it dials CID 3 port PORT and sends three records, each a
 * little-endian u64 length and the bytes: the attestation document, PCR0 and PCR16 as
 * DescribePCR returned them (a refused connect is retried for 120 s), and waits for the parent
 * to close the connection, so the parent can query the running enclave first; PORT 0 sends
 * nothing (a guest without vsock). Exits 0 only if every expectation held, 1 otherwise, 64 on usage.
 *
 * The CBOR here is the least that speaks the protocol of ../shared/reference/nitro-enclaves.md
 * §5.2: definite lengths only, what the requests need and a bounds-checked walk of responses. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>  // before linux/vm_sockets.h: older copies of it (the arm64 cross 6.1 headers) need sockaddr
#include <linux/vm_sockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define NSM_IOCTL_RAW 0xC0200A00u
#define NSM_REQUEST_MAX 0x1000
#define NSM_RESPONSE_MAX 0x3000
#define FIELD_MAX 1024
#define PARENT_CID 3

struct nsm_raw {
    uint64_t req_addr, req_len, resp_addr, resp_len;
};

static int failures;
static void expect(int ok, const char* call, const char* what)
{
    if (!ok) {
        printf("NSM %s: FAILED: %s\n", call, what);
        ++failures;
    }
}

/* ---- CBOR out ---- */
struct out {
    uint8_t b[NSM_REQUEST_MAX];
    size_t n;
};
static void put_head(struct out* o, unsigned major, uint64_t v)
{
    uint8_t m = (uint8_t)(major << 5);
    int extra = v < 24 ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
    if (o->n + 1 + extra > sizeof o->b) {
        o->n = sizeof o->b + 1; /* overflow: the request is refused below */
        return;
    }
    o->b[o->n++] = m | (uint8_t)(extra == 0 ? v : extra == 1 ? 24 : extra == 2 ? 25 : extra == 4 ? 26 : 27);
    for (int i = extra - 1; i >= 0; --i)
        o->b[o->n++] = (uint8_t)(v >> (8 * i));
}
static void put_raw(struct out* o, const void* p, size_t len)
{
    if (o->n + len > sizeof o->b) {
        o->n = sizeof o->b + 1;
        return;
    }
    memcpy(o->b + o->n, p, len);
    o->n += len;
}
static void put_text(struct out* o, const char* s) { put_head(o, 3, strlen(s)); put_raw(o, s, strlen(s)); }
static void put_bytes(struct out* o, const void* p, size_t len) { put_head(o, 2, len); put_raw(o, p, len); }
static void put_null(struct out* o) { uint8_t n = 0xf6; put_raw(o, &n, 1); }
/* {"NAME": {"KEY": uint}} */
static void put_call_uint(struct out* o, const char* name, const char* key, uint64_t v)
{
    put_head(o, 5, 1); put_text(o, name); put_head(o, 5, 1); put_text(o, key); put_head(o, 0, v);
}

/* ---- CBOR in: a cursor over [p, end) ---- */
struct item {
    unsigned major;
    uint64_t value;     /* the argument: uint, length, count, or simple value */
    const uint8_t* data; /* bytes and text: the content */
    const uint8_t* next; /* just past the whole item (nested items included) */
};
static int parse(const uint8_t* p, const uint8_t* end, struct item* it, int depth);
static int parse_head(const uint8_t* p, const uint8_t* end, struct item* it)
{
    if (p >= end)
        return 0;
    it->major = *p >> 5;
    unsigned info = *p & 31;
    ++p;
    if (info < 24) {
        it->value = info;
    } else if (info <= 27) {
        int len = 1 << (info - 24);
        if (end - p < len)
            return 0;
        it->value = 0;
        for (int i = 0; i < len; ++i)
            it->value = it->value << 8 | *p++;
    } else {
        return 0; /* indefinite lengths and reserved values: not in this protocol */
    }
    it->data = p;
    it->next = p;
    return 1;
}
static int parse(const uint8_t* p, const uint8_t* end, struct item* it, int depth)
{
    if (depth > 16 || !parse_head(p, end, it))
        return 0;
    const uint8_t* q = it->data;
    switch (it->major) {
    case 2: case 3:
        if (it->value > (uint64_t)(end - q))
            return 0;
        it->next = q + it->value;
        return 1;
    case 4: case 5: {
        uint64_t n = it->major == 5 ? it->value * 2 : it->value;
        if (it->value > (uint64_t)(end - q))
            return 0;
        for (uint64_t i = 0; i < n; ++i) {
            struct item sub;
            if (!parse(q, end, &sub, depth + 1))
                return 0;
            q = sub.next;
        }
        it->next = q;
        return 1;
    }
    case 6: {
        struct item sub;
        if (!parse(q, end, &sub, depth + 1))
            return 0;
        it->next = sub.next;
        return 1;
    }
    default:
        return 1;
    }
}
static int text_is(const struct item* it, const char* s)
{
    return it->major == 3 && it->value == strlen(s) && memcmp(it->data, s, it->value) == 0;
}
/* The value of text key `key` in map `map`. */
static int map_get(const struct item* map, const uint8_t* end, const char* key, struct item* value)
{
    if (map->major != 5)
        return 0;
    const uint8_t* q = map->data;
    for (uint64_t i = 0; i < map->value; ++i) {
        struct item k;
        if (!parse(q, end, &k, 1) || !parse(k.next, end, value, 1))
            return 0;
        if (text_is(&k, key))
            return 1;
        q = value->next;
    }
    return 0;
}

/* ---- the device ---- */
static int nsm_fd = -1;
static uint8_t response[NSM_RESPONSE_MAX];
static size_t response_len;

/* Sends the request; on success `top` is the response item. */
static int call(const char* name, const struct out* o, struct item* top)
{
    if (o->n > sizeof o->b) {
        expect(0, name, "request too large for this app");
        return 0;
    }
    struct nsm_raw raw = { (uintptr_t)o->b, o->n, (uintptr_t)response, sizeof response };
    if (ioctl(nsm_fd, NSM_IOCTL_RAW, &raw) != 0) {
        printf("NSM %s: ioctl failed: %s\n", name, strerror(errno));
        ++failures;
        return 0;
    }
    response_len = raw.resp_len;
    if (!parse(response, response + response_len, top, 0) || top->next != response + response_len) {
        printf("NSM %s: response is not one CBOR item (%zu bytes)\n", name, response_len);
        ++failures;
        return 0;
    }
    return 1;
}
static const uint8_t* rend(void) { return response + response_len; }
/* {"NAME": body}: the body, or 0 (and the error name printed) if the response is something else. */
static int body_of(const char* name, const struct item* top, struct item* body)
{
    struct item err;
    if (map_get(top, rend(), "Error", &err)) {
        printf("NSM %s: Error %.*s\n", name, err.major == 3 ? (int)err.value : 0, (const char*)err.data);
        return 0;
    }
    return map_get(top, rend(), name, body);
}
static void print_hex(const uint8_t* p, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        printf("%02x", p[i]);
}

static uint8_t pcr0[48], pcr16[48], extended16[48];

static void describe_nsm(void)
{
    struct out o = { .n = 0 };
    struct item top, body, v;
    put_text(&o, "DescribeNSM");
    if (!call("DescribeNSM", &o, &top))
        return;
    if (!body_of("DescribeNSM", &top, &body)) {
        expect(0, "DescribeNSM", "no DescribeNSM in the response");
        return;
    }
    struct item id, locked;
    int ok = map_get(&body, rend(), "module_id", &id) && id.major == 3;
    expect(ok, "DescribeNSM", "module_id missing");
    expect(map_get(&body, rend(), "max_pcrs", &v) && v.major == 0 && v.value == 32, "DescribeNSM", "max_pcrs is not 32");
    expect(map_get(&body, rend(), "digest", &v) && text_is(&v, "SHA384"), "DescribeNSM", "digest is not SHA384");
    expect(map_get(&body, rend(), "locked_pcrs", &locked) && locked.major == 4 && locked.value >= 16, "DescribeNSM",
        "locked_pcrs does not list PCR0..15");
    struct item major, minor, patch;
    int version = map_get(&body, rend(), "version_major", &major) && map_get(&body, rend(), "version_minor", &minor)
        && map_get(&body, rend(), "version_patch", &patch);
    expect(version, "DescribeNSM", "version fields missing");
    printf("NSM DescribeNSM module_id=%.*s version=%llu.%llu.%llu locked=%llu\n", ok ? (int)id.value : 0,
        ok ? (const char*)id.data : "", version ? (unsigned long long)major.value : 0ull,
        version ? (unsigned long long)minor.value : 0ull, version ? (unsigned long long)patch.value : 0ull,
        (unsigned long long)locked.value);
}

/* DescribePCR index: the value into out[48]; expects `locked`. */
static void describe_pcr(unsigned index, int locked, uint8_t out[48])
{
    char name[32];
    snprintf(name, sizeof name, "DescribePCR %u", index);
    struct out o = { .n = 0 };
    struct item top, body, lock, data;
    put_call_uint(&o, "DescribePCR", "index", index);
    if (!call(name, &o, &top))
        return;
    if (!body_of("DescribePCR", &top, &body) || !map_get(&body, rend(), "lock", &lock) || !map_get(&body, rend(), "data", &data)
        || lock.major != 7 || data.major != 2 || data.value != 48) {
        expect(0, name, "not {lock: bool, data: 48 bytes}");
        return;
    }
    expect((lock.value == 21) == (locked != 0), name, locked ? "PCR not locked" : "PCR locked");
    memcpy(out, data.data, 48);
    printf("NSM %s lock=%s data=", name, lock.value == 21 ? "true" : "false");
    print_hex(data.data, 48);
    printf("\n");
}

/* ExtendPCR 16; expect_error: the error name it must fail with (NULL: must succeed). */
static void extend_pcr16(const char* expect_error)
{
    static const char data[] = "qt-vmm app_nsm";
    const char* name = expect_error ? "ExtendPCR 16 (locked)" : "ExtendPCR 16";
    struct out o = { .n = 0 };
    struct item top, body, value, err;
    put_head(&o, 5, 1);
    put_text(&o, "ExtendPCR");
    put_head(&o, 5, 2);
    put_text(&o, "index");
    put_head(&o, 0, 16);
    put_text(&o, "data");
    put_bytes(&o, data, strlen(data));
    if (!call(name, &o, &top))
        return;
    if (expect_error) {
        int ok = map_get(&top, rend(), "Error", &err) && text_is(&err, expect_error);
        expect(ok, name, "did not fail with the expected error");
        printf("NSM %s: Error %.*s\n", name, err.major == 3 ? (int)err.value : 0, (const char*)err.data);
        return;
    }
    if (!body_of("ExtendPCR", &top, &body) || !map_get(&body, rend(), "data", &value) || value.major != 2 || value.value != 48) {
        expect(0, name, "not {data: 48 bytes}");
        return;
    }
    memcpy(extended16, value.data, 48);
    printf("NSM %s data=", name);
    print_hex(value.data, 48);
    printf("\n");
}

/* A request whose success is the text `name` (LockPCR, LockPCRs). */
static void lock_call(const char* name, const char* key, unsigned v)
{
    char label[32];
    snprintf(label, sizeof label, "%s %u", name, v);
    struct out o = { .n = 0 };
    struct item top;
    put_call_uint(&o, name, key, v);
    if (!call(label, &o, &top))
        return;
    int ok = text_is(&top, name);
    expect(ok, label, "the answer is not its name");
    printf("NSM %s %s\n", label, ok ? "ok" : "unexpected answer");
}

static void get_random(void)
{
    struct out o = { .n = 0 };
    struct item top, body, random;
    put_text(&o, "GetRandom");
    if (!call("GetRandom", &o, &top))
        return;
    int ok = body_of("GetRandom", &top, &body) && map_get(&body, rend(), "random", &random) && random.major == 2 && random.value > 0;
    expect(ok, "GetRandom", "no random bytes");
    printf("NSM GetRandom bytes=%llu\n", ok ? (unsigned long long)random.value : 0ull);
}

static uint8_t document[NSM_RESPONSE_MAX];
static size_t document_len;

static void put_field(struct out* o, const char* key, size_t len, unsigned seed)
{
    uint8_t b[FIELD_MAX];
    put_text(o, key);
    if (len == 0) {
        put_null(o);
        return;
    }
    for (size_t i = 0; i < len; ++i)
        b[i] = (uint8_t)(i + seed);
    put_bytes(o, b, len);
}

static void attestation(size_t user_data, size_t nonce, size_t public_key)
{
    struct out o = { .n = 0 };
    struct item top, body, doc;
    put_head(&o, 5, 1);
    put_text(&o, "Attestation");
    put_head(&o, 5, 3);
    put_field(&o, "user_data", user_data, 1);
    put_field(&o, "nonce", nonce, 2);
    put_field(&o, "public_key", public_key, 3);
    if (!call("Attestation", &o, &top))
        return;
    if (!body_of("Attestation", &top, &body) || !map_get(&body, rend(), "document", &doc) || doc.major != 2 || doc.value == 0) {
        expect(0, "Attestation", "no document");
        return;
    }
    memcpy(document, doc.data, doc.value);
    document_len = doc.value;
    printf("NSM Attestation document=%zu bytes\n", document_len);
}

static int write_all(int fd, const void* p, size_t n)
{
    const uint8_t* b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        b += w;
        n -= (size_t)w;
    }
    return 1;
}
static int send_record(int fd, const void* p, size_t n)
{
    uint8_t len[8];
    for (int i = 0; i < 8; ++i)
        len[i] = (uint8_t)((uint64_t)n >> (8 * i));
    return write_all(fd, len, 8) && write_all(fd, p, n);
}

/* A connected vsock stream to the parent's port; the parent may start listening after the app
 * starts (it learns the enclave's socket from `start`), so refused connects are retried for up
 * to 120 s. -1 on failure. */
static int dial_parent(unsigned port)
{
    for (int attempt = 0; attempt < 600; ++attempt) {
        int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = PARENT_CID, .svm_port = port };
        if (connect(fd, (struct sockaddr*)&addr, sizeof addr) == 0)
            return fd;
        int e = errno;
        close(fd);
        if (e != ECONNRESET && e != ECONNREFUSED && e != ETIMEDOUT)
            break;
        usleep(200 * 1000);
    }
    printf("NSM send: connect to CID 3 port %u failed: %s\n", port, strerror(errno));
    ++failures;
    return -1;
}

static void send_to_parent(unsigned port)
{
    int fd = dial_parent(port);
    if (fd < 0)
        return;
    int ok = send_record(fd, document, document_len) && send_record(fd, pcr0, 48) && send_record(fd, pcr16, 48);
    shutdown(fd, SHUT_WR);
    char c;
    while (read(fd, &c, 1) > 0) { /* the parent closes once it is done with the enclave */
    }
    close(fd);
    expect(ok, "send", "the parent did not take all three records");
    printf("NSM send port=%u document=%zu %s\n", port, document_len, ok ? "ok" : "FAILED");
}

int main(int argc, char** argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 5) {
        fprintf(stderr, "usage: app_nsm PORT USER_DATA_LEN NONCE_LEN PUBLIC_KEY_LEN (each length 0..1024)\n");
        return 64;
    }
    unsigned port = (unsigned)strtoul(argv[1], NULL, 10);
    size_t len[3];
    for (int i = 0; i < 3; ++i) {
        len[i] = strtoul(argv[2 + i], NULL, 10);
        if (len[i] > FIELD_MAX) {
            fprintf(stderr, "app_nsm: %s is longer than %d bytes\n", argv[2 + i], FIELD_MAX);
            return 64;
        }
    }
    nsm_fd = open("/dev/nsm", O_RDWR | O_CLOEXEC);
    if (nsm_fd < 0) {
        printf("NSM open /dev/nsm failed: %s\n", strerror(errno));
        return 1;
    }
    static const uint8_t zeros[48];
    uint8_t value[48];
    describe_nsm();
    describe_pcr(0, 1, pcr0);
    describe_pcr(16, 0, value);
    expect(memcmp(value, zeros, 48) == 0, "DescribePCR 16", "PCR16 does not start at zero");
    extend_pcr16(NULL);
    lock_call("LockPCR", "index", 16);
    extend_pcr16("ReadOnlyIndex");
    describe_pcr(16, 1, pcr16);
    expect(memcmp(pcr16, extended16, 48) == 0, "DescribePCR 16", "the locked value is not what ExtendPCR returned");
    lock_call("LockPCRs", "range", 20);
    get_random();
    attestation(len[0], len[1], len[2]);
    if (port != 0)
        send_to_parent(port);
    printf("NSM done failures=%d\n", failures);
    return failures == 0 ? 0 : 1;
}
