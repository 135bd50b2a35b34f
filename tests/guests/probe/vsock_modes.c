/* tests/guests/probe/vsock_modes.c — the modes that drive the virtio-vsock device (vsock.c):
 *   probe.mode=vsock-heartbeat  init, heartbeat to CID 3 port 9000 (0xB7 -> 0xB7), idle forever;
 *   probe.mode=vsock-echo       the same heartbeat, then echo every byte on port probe.port;
 *   probe.mode=vsock-selftest   the device exercised for real, one `PROBE vsock_test NAME=pass|fail`
 *                               line per check, then the app status to port 9001, power off.
 * See README.md for every line and for what the parent side of vsock-selftest must do. */
#include "vsock.h"

uint64_t g_start_tsc;

#define HEARTBEAT_PORT 9000
#define STATUS_PORT 9001
#define SECOND 1000000ull

static uint64_t elapsed_us(void) { return (rdtsc() - g_start_tsc) / vs_tsc_mhz(); }

static int mem_eq(const void *a, const void *b, size_t n)
{
    if (!n)
        return 1;
    unsigned char equal;
    __asm__ volatile("repe cmpsb; sete %0" : "=q"(equal), "+S"(a), "+D"(b), "+c"(n) : : "memory", "cc");
    return equal;
}

static const char *init_error(int r)
{
    switch (r) {
    case -1: return "no-device";
    case -2: return "features-refused";
    case -3: return "queue-already-ready";
    case -4: return "queue-too-small";
    case -5: return "queue-not-ready";
    case -6: return "driver-ok-refused";
    case 0: return "ok";
    default: return "?";
    }
}

/* 0xB7 to cid:9000, 0xB7 back, then SHUTDOWN: with wait_close, wait for the device's RST (a clean
 * close); without, return at once and let that RST free the connection. 1 on success; *why
 * says what failed. */
static int heartbeat(uint64_t cid, int wait_close, const char **why)
{
    int r;
    struct vs_conn *c = vs_connect(cid, HEARTBEAT_PORT, 4096, 2 * SECOND, &r);
    if (!c) {
        *why = r == 1 ? "rst" : "no-response";
        return 0;
    }
    uint8_t b = 0xb7, got = 0;
    if (vs_send(c, &b, 1, 2 * SECOND) != 1) {
        *why = "send";
        vs_conn_free(c);
        return 0;
    }
    if (vs_recv(c, &got, 1, 2 * SECOND) != 1 || got != 0xb7) {
        *why = got ? "wrong-byte" : "no-reply";
        vs_conn_free(c);
        return 0;
    }
    if (wait_close) {
        if (!vs_close(c, 2 * SECOND)) {
            *why = "no-rst-after-shutdown";
            return 0;
        }
    } else {
        vs_conn_packet(c, VS_OP_SHUTDOWN, VS_SHUT_RCV | VS_SHUT_SEND, 0, 0, 0);
        vs_flush();
        c->auto_free = 1;
    }
    *why = "";
    return 1;
}

/* Init + heartbeat, as fast as possible (the launch benchmark times it). */
void vs_boot_heartbeat(void)
{
    uint64_t t0 = rdtsc();
    int setup = vs_setup();
    if (setup != 0) {
        print("PROBE vsock_init=fail reason=%s\n", setup == -1 ? "cannot-map-device" : "no-free-ram");
        power_off();
    }
    int r = vs_init(VS_F_VERSION_1 | VS_F_EVENT_IDX, 16);
    if (r) {
        print("PROBE vsock_init=fail reason=%s\n", init_error(r));
        power_off();
    }
    uint64_t ready_tsc = rdtsc();
    const char *why;
    int ok = heartbeat(3, 0, &why);
    uint64_t done_tsc = rdtsc();
    vs_calibrate(); /* after the heartbeat: it must not wait for this */
    uint64_t mhz = vs_tsc_mhz();
    print("PROBE vsock_init=ok cid=%lu base=0x%lx irq=%u features=0x%lx init_us=%lu tsc_mhz=%lu\n", g_vs.cid, g_vs.base,
          g_vs.irq, g_vs.negotiated, (ready_tsc - t0) / mhz, mhz);
    if (!ok) {
        print("PROBE vsock_heartbeat=fail reason=%s\n", why);
        power_off();
    }
    print("PROBE vsock_heartbeat=ok us=%lu round_trip_us=%lu\n", (done_tsc - g_start_tsc) / mhz, (done_tsc - ready_tsc) / mhz);
    vs_fill_rx();
}

void mode_vsock_heartbeat(void)
{
    vs_boot_heartbeat();
    print("PROBE vsock_idle\n");
    for (;;) {
        vs_poll();
        vs_idle();
    }
}

/* --- echo ----------------------------------------------------------------------------------- */

/* Connections with something to do (data to echo, a SHUTDOWN to answer), in order. An index is
 * in the queue exactly when conns[i].in_pump is set (vs_conn_new keeps that flag). */
#define PUMP_QUEUE (VS_MAX_CONNS + 1)
static struct vs_conn *pump_queue[PUMP_QUEUE];
static unsigned pump_head, pump_len;

static void echo_wake(struct vs_conn *c)
{
    if (c->in_pump)
        return;
    c->in_pump = 1;
    pump_queue[(pump_head + pump_len++) % PUMP_QUEUE] = c;
}

static void echo_accept(struct vs_conn *c) { (void)c; }

/* 0 when out of tx slots (c stays first in line). */
static int echo_pump(struct vs_conn *c)
{
    if (c->state != VS_ESTABLISHED)
        return 1;
    while (c->ring_len) {
        uint32_t n = vs_peer_credit(c);
        if (!n)
            return 1; /* the parent is not reading: its CREDIT_UPDATE wakes us */
        if (n > c->ring_len)
            n = c->ring_len;
        if (n > VS_TX_DATA)
            n = VS_TX_DATA;
        if (vs_send_from_ring(c, n) != 0)
            return 0;
    }
    if ((c->peer_shut & VS_SHUT_SEND) && !(c->we_shut & VS_SHUT_SEND)) {
        /* The parent closed its side and everything is echoed: close ours; the RST frees c. */
        if (vs_conn_packet(c, VS_OP_SHUTDOWN, VS_SHUT_RCV | VS_SHUT_SEND, 0, 0, 0) != 0)
            return 0;
    }
    return 1;
}

void mode_vsock_echo(void)
{
    uint32_t port = (uint32_t)cmdline_get_u64("probe.port", 5000);
    uint64_t stop_after = cmdline_get_u64("probe.echo_conns", 0);
    vs_boot_heartbeat();
    vs_listen(port, 4096, echo_accept, echo_wake);
    print("PROBE vsock_echo listening port=%u max_conns=%u\n", port, VS_MAX_CONNS);
    uint32_t next_report = 50;
    for (;;) {
        vs_poll();
        while (pump_len && vs_tx_free_slots()) {
            struct vs_conn *c = pump_queue[pump_head];
            c->in_pump = 0;
            if (!echo_pump(c)) {
                c->in_pump = 1;
                break;
            }
            pump_head = (pump_head + 1) % PUMP_QUEUE;
            pump_len--;
        }
        vs_flush();
        if (g_vs.st.closed >= next_report) {
            next_report = (g_vs.st.closed / 50 + 1) * 50;
            print("PROBE vsock_echo closed=%u bytes=%lu\n", g_vs.st.closed, g_vs.st.echo_bytes);
        }
        if (stop_after && g_vs.st.closed >= stop_after) {
            print("PROBE vsock_echo done closed=%u accepted=%u refused=%u bytes=%lu overruns=%u rx_bad=%u irqs=%u\n",
                  g_vs.st.closed, g_vs.st.accepted, g_vs.st.refused, g_vs.st.echo_bytes, g_vs.st.overruns,
                  g_vs.st.rx_bad, g_vs.st.irqs_seen);
            power_off();
        }
        if (!pump_len || !vs_tx_free_slots())
            vs_idle();
    }
}

/* --- selftest ------------------------------------------------------------------------------- */

static unsigned passed, failed;
static uint8_t bulk_expect[512]; /* two periods of the BULK pattern: any 256-byte window */
static uint8_t sink_buf[4096] __attribute__((section(".noinit")));
static uint8_t bulk_buf[1024] __attribute__((section(".noinit")));

/* Keeps servicing the device for `us` microseconds. */
static void settle(uint64_t us)
{
    uint64_t end = vs_now_us() + us;
    WAIT_UNTIL(vs_now_us() >= end, us + SECOND);
}

static void check(const char *name, int ok, const char *fmt, ...)
{
    if (ok)
        passed++;
    else
        failed++;
    print("PROBE vsock_test %s=%s", name, ok ? "pass" : "fail");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vprint(fmt, ap);
        va_end(ap);
    }
    print("\n");
}

static struct vs_conn *connect_parent(uint32_t port, uint32_t buf_alloc, const char *line)
{
    int r;
    struct vs_conn *c = vs_connect(3, port, buf_alloc, 2 * SECOND, &r);
    if (c && line && vs_send(c, line, (uint32_t)strlen(line), 2 * SECOND) != (int)strlen(line)) {
        vs_conn_free(c);
        return 0;
    }
    return c;
}

static int hello_exchange(uint32_t port, const char *name)
{
    static const char want[] = "HELLO parent\n";
    char got[sizeof want];
    struct vs_conn *c = connect_parent(port, 4096, "HELLO probe\n");
    if (!c) {
        check(name, 0, " reason=connect");
        return 0;
    }
    memset(got, 0, sizeof got);
    uint32_t n = vs_recv(c, got, sizeof want - 1, 5 * SECOND);
    int ok = n == sizeof want - 1 && mem_eq(got, want, n);
    int rst = vs_close(c, 2 * SECOND);
    check(name, ok && rst, " bytes=%u closed_by_rst=%u", n, rst);
    return ok;
}

/* Device identity, and FEATURES_OK refused without VERSION_1; queue setup ignored before it. */
static void test_negotiation(void)
{
    uint32_t magic = vs_r32(VM_MAGIC), version = vs_r32(VM_VERSION), id = vs_r32(VM_DEVICE_ID);
    check("identity", magic == 0x74726976 && version == 2 && id == 19, " magic=0x%x version=%u device=%u vendor=0x%x",
          magic, version, id, vs_r32(VM_VENDOR_ID));
    vs_w32(VM_STATUS, 0);
    vs_w32(VM_STATUS, VS_STATUS_ACK);
    vs_w32(VM_STATUS, VS_STATUS_ACK | VS_STATUS_DRIVER);
    vs_w32(VM_DEVICE_FEATURES_SEL, 0);
    uint64_t offered = vs_r32(VM_DEVICE_FEATURES);
    vs_w32(VM_DEVICE_FEATURES_SEL, 1);
    offered |= (uint64_t)vs_r32(VM_DEVICE_FEATURES) << 32;
    check("features_offered", (offered & VS_F_VERSION_1) && (offered & VS_F_EVENT_IDX), " offered=0x%lx", offered);
    vs_w32(VM_DRIVER_FEATURES_SEL, 0);
    vs_w32(VM_DRIVER_FEATURES, (uint32_t)(offered & VS_F_EVENT_IDX));
    vs_w32(VM_DRIVER_FEATURES_SEL, 1);
    vs_w32(VM_DRIVER_FEATURES, 0); /* no VERSION_1 */
    vs_w32(VM_STATUS, VS_STATUS_ACK | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK);
    uint32_t status = vs_r32(VM_STATUS);
    check("features_ok_refused_without_version_1", status == (VS_STATUS_ACK | VS_STATUS_DRIVER), " status=0x%x", status);
    /* Queue registers must be ignored before FEATURES_OK. */
    vs_w32(VM_QUEUE_SEL, 0);
    vs_w32(VM_QUEUE_NUM, VS_QSIZE);
    vs_w32(VM_QUEUE_DESC, 0x200000);
    vs_w32(VM_QUEUE_DRIVER, 0x201000);
    vs_w32(VM_QUEUE_DEVICE, 0x202000);
    vs_w32(VM_QUEUE_READY, 1);
    uint32_t ready = vs_r32(VM_QUEUE_READY);
    check("queue_ready_refused_before_features_ok", ready == 0, " ready=%u", ready);
    vs_w32(VM_STATUS, status | VS_STATUS_FAILED);
    vs_w32(VM_STATUS, 0);
    status = vs_r32(VM_STATUS);
    check("reset_after_failed", status == 0, " status=0x%x", status);
    /* DRIVER_OK without FEATURES_OK must not stick either. */
    vs_w32(VM_STATUS, VS_STATUS_ACK);
    vs_w32(VM_STATUS, VS_STATUS_ACK | VS_STATUS_DRIVER);
    vs_w32(VM_STATUS, VS_STATUS_ACK | VS_STATUS_DRIVER | VS_STATUS_DRIVER_OK);
    status = vs_r32(VM_STATUS);
    check("driver_ok_refused_without_features_ok", !(status & VS_STATUS_DRIVER_OK), " status=0x%x", status);
    vs_w32(VM_STATUS, 0);
    /* The guest CID: two 32-bit reads (what Linux does), one 64-bit, eight 8-bit, four 16-bit. */
    uint64_t cid32 = vs_r32(VM_CONFIG) | ((uint64_t)vs_r32(VM_CONFIG + 4) << 32);
    uint64_t cid64 = mmio_read64(g_vs.base + VM_CONFIG), cid8 = 0, cid16 = 0;
    for (unsigned i = 0; i < 8; i++)
        cid8 |= (uint64_t)mmio_read8(g_vs.base + VM_CONFIG + i) << (8 * i);
    for (unsigned i = 0; i < 4; i++)
        cid16 |= (uint64_t)mmio_read16(g_vs.base + VM_CONFIG + 2 * i) << (16 * i);
    check("config_cid_any_width", cid32 >= 3 && cid64 == cid32 && cid8 == cid32 && cid16 == cid32,
          " cid32=%lu cid64=%lu cid8=%lu cid16=%lu", cid32, cid64, cid8, cid16);
}

/* A REQUEST, then `sti; hlt` at once, without looking at the rings: the device's interrupt must
 * wake us (a 2 s local APIC timer is the watchdog), InterruptStatus must say "used buffer", and
 * the RESPONSE must be there. */
static void test_interrupts(void)
{
    vs_poll(); /* used_event = what we have seen: interrupt on the next entry */
    uint32_t irqs = g_irq_count, timers = g_timer_count, used_bits = g_vs.st.isr_used_bits;
    struct vs_conn *c = vs_conn_new(3, vs_alloc_port(), HEARTBEAT_PORT, 4096);
    c->state = VS_CONNECTING;
    vs_conn_packet(c, VS_OP_REQUEST, 0, 0, 0, 0);
    uint64_t t0 = vs_now_us();
    lapic_timer_oneshot(2 * SECOND);
    vs_flush();
    while (g_irq_count == irqs && g_timer_count == timers)
        wait_for_interrupt();
    uint64_t us = vs_now_us() - t0;
    lapic_timer_stop();
    vs_poll();
    WAIT_UNTIL(c->state != VS_CONNECTING, 2 * SECOND);
    int ok = c->state == VS_ESTABLISHED && g_irq_count != irqs && g_vs.st.isr_used_bits != used_bits;
    check("interrupts", ok && g_timer_count == timers, " device_irqs=%u used_buffer_bits=%u watchdog=%u wake_us=%lu",
          g_irq_count - irqs, g_vs.st.isr_used_bits - used_bits, g_timer_count - timers, us);
    vs_close(c, 2 * SECOND);
}

static void test_rst_cases(uint32_t out_port)
{
    int r;
    struct vs_conn *c = vs_connect(3, out_port + 1, 4096, 2 * SECOND, &r);
    check("rst_no_listener", !c && r == 1, " port=%u result=%u", out_port + 1, r);
    if (c)
        vs_conn_free(c);
    uint64_t other = g_vs.cid == 5 ? 6 : 5;
    c = vs_connect(other, 1234, 4096, 2 * SECOND, &r);
    check("rst_other_cid", !c && r == 1, " cid=%lu result=%u", other, r);
    if (c)
        vs_conn_free(c);
    c = vs_connect(1, 1234, 4096, 2 * SECOND, &r);
    check("rst_cid_1", !c && r == 1, " result=%u", r);
    if (c)
        vs_conn_free(c);

    /* A REQUEST of type SEQPACKET (not negotiated) is refused with RST. */
    c = vs_conn_new(3, vs_alloc_port(), HEARTBEAT_PORT, 4096);
    if (c) {
        c->state = VS_CONNECTING;
        struct vs_hdr h = {g_vs.cid, 3, c->lport, c->pport, 0, 2, VS_OP_REQUEST, 0, 4096, 0};
        vs_tx_raw(&h, 0, 0);
        WAIT_UNTIL(c->state != VS_CONNECTING, 2 * SECOND);
        check("rst_seqpacket_type", c->got_rst, 0);
        vs_conn_free(c);
    }
    /* An unknown op on an open connection resets it. */
    c = vs_connect(3, HEARTBEAT_PORT, 4096, 2 * SECOND, &r);
    if (c) {
        struct vs_hdr h = {g_vs.cid, 3, c->lport, c->pport, 0, 1, 99, 0, 4096, 0};
        vs_tx_raw(&h, 0, 0);
        check("rst_unknown_op", WAIT_UNTIL(c->got_rst, 2 * SECOND), 0);
        vs_conn_free(c);
    }
    /* The heartbeat service takes 0xB7 only. */
    c = vs_connect(3, HEARTBEAT_PORT, 4096, 2 * SECOND, &r);
    if (c) {
        uint8_t wrong = 0xb8;
        vs_send(c, &wrong, 1, SECOND);
        check("heartbeat_wrong_byte_reset", WAIT_UNTIL(c->got_rst, 2 * SECOND) && c->ring_len == 0, 0);
        vs_conn_free(c);
    }
}

enum { BAD_BEYOND_RAM, BAD_MMIO, BAD_PAST_RAM_END, BAD_LEN_4G, BAD_WRITE_ONLY, BAD_LOOP, BAD_SHORT_HEADER,
       BAD_READ_AFTER_WRITE, BAD_NEXT_RANGE, BAD_SRC_CID, BAD_KINDS };
static const char *const bad_names[BAD_KINDS] = {
    "malformed_addr_beyond_ram", "malformed_addr_mmio", "malformed_len_past_ram_end", "malformed_len_4g",
    "malformed_write_only_tx", "malformed_next_loop", "malformed_short_header", "malformed_readable_after_writable",
    "malformed_next_out_of_range", "malformed_src_cid_dropped"};
#define BAD_PORT_BASE 40001

static int take_slot(void)
{
    int s = -1;
    WAIT_UNTIL((s = vs_tx_take_slot()) >= 0, SECOND);
    return s;
}

static void request_header(uint8_t *area, uint32_t sport, uint32_t dport)
{
    struct vs_hdr h = {g_vs.cid, 3, sport, dport, 0, 1, VS_OP_REQUEST, 0, 4096, 0};
    memcpy(area, &h, VS_HDR);
}

static void test_malformed_chains(void)
{
    uint64_t ram_top = e820_ram_top();
    g_vs.st.stray_low = BAD_PORT_BASE;
    g_vs.st.stray_high = BAD_PORT_BASE + 31;
    g_vs.st.stray = 0;
    for (unsigned k = 0; k < BAD_KINDS; k++) {
        int s = take_slot();
        if (s < 0) {
            check(bad_names[k], 0, " reason=no-tx-slot");
            continue;
        }
        uint8_t *hdr = vs_tx_hdr_area((unsigned)s);
        request_header(hdr, BAD_PORT_BASE + k, HEARTBEAT_PORT);
        struct vring_desc *d0 = vs_tx_desc((unsigned)s, 0), *d1 = vs_tx_desc((unsigned)s, 1);
        uint16_t second = (uint16_t)(2 * s + 1);
        *d0 = (struct vring_desc){(uint64_t)hdr, VS_HDR, 0, 0};
        switch (k) {
        case BAD_BEYOND_RAM: d0->addr = ram_top + 0x100000; break;
        case BAD_MMIO: d0->addr = g_vs.base; break;
        case BAD_PAST_RAM_END: d0->addr = ram_top - 16; break;
        case BAD_LEN_4G: d0->len = 0xffffffffu; break;
        case BAD_WRITE_ONLY: d0->flags = VRING_DESC_F_WRITE; break;
        case BAD_LOOP:
            *d0 = (struct vring_desc){(uint64_t)hdr, VS_HDR, VRING_DESC_F_NEXT, second};
            *d1 = (struct vring_desc){(uint64_t)hdr + 48, 8, VRING_DESC_F_NEXT, (uint16_t)(2 * s)};
            break;
        case BAD_SHORT_HEADER: d0->len = 40; break;
        case BAD_READ_AFTER_WRITE:
            *d0 = (struct vring_desc){(uint64_t)hdr + 48, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, second};
            *d1 = (struct vring_desc){(uint64_t)hdr, VS_HDR, 0, 0};
            break;
        case BAD_NEXT_RANGE: *d0 = (struct vring_desc){(uint64_t)hdr, VS_HDR, VRING_DESC_F_NEXT, 200}; break;
        case BAD_SRC_CID: ((struct vs_hdr *)hdr)->src_cid = g_vs.cid + 1; break; /* not ours: no answer */
        }
        vs_tx_submit((unsigned)s);
        int returned = WAIT_UNTIL(!vs_tx_slot_busy((unsigned)s), SECOND);
        check(bad_names[k], returned, " returned=%u", returned);
    }

    /* Notifications for queues that do not exist are ignored. */
    vs_w32(VM_QUEUE_NOTIFY, 3);
    vs_w32(VM_QUEUE_NOTIFY, 0xffff);

    /* Legal, if unusual: the header split over two descriptors (20 + 24 bytes). */
    struct vs_conn *c = vs_conn_new(3, BAD_PORT_BASE + 20, HEARTBEAT_PORT, 4096);
    int s = take_slot();
    int ok = 0;
    if (c && s >= 0) {
        c->state = VS_CONNECTING;
        uint8_t *hdr = vs_tx_hdr_area((unsigned)s);
        request_header(hdr, BAD_PORT_BASE + 20, HEARTBEAT_PORT);
        *vs_tx_desc((unsigned)s, 0) = (struct vring_desc){(uint64_t)hdr, 20, VRING_DESC_F_NEXT, (uint16_t)(2 * s + 1)};
        *vs_tx_desc((unsigned)s, 1) = (struct vring_desc){(uint64_t)hdr + 20, VS_HDR - 20, 0, 0};
        vs_tx_submit((unsigned)s);
        WAIT_UNTIL(c->state != VS_CONNECTING, 2 * SECOND);
        ok = c->state == VS_ESTABLISHED;
    }
    check("split_header_accepted", ok, 0);
    if (c)
        vs_close(c, 2 * SECOND);

    /* Protocol-level: an RW whose len is more than the chain holds, or more than 64 KiB. */
    for (unsigned k = 0; k < 2; k++) {
        int r;
        const char *name = k ? "rw_over_64k_reset" : "rw_len_beyond_chain_reset";
        c = vs_connect(3, HEARTBEAT_PORT, 4096, 2 * SECOND, &r);
        s = c ? take_slot() : -1;
        if (s < 0) {
            check(name, 0, " reason=connect");
            if (c)
                vs_conn_free(c);
            continue;
        }
        uint8_t *hdr = vs_tx_hdr_area((unsigned)s);
        uint32_t len = k ? 65537 : 100;
        struct vs_hdr h = {g_vs.cid, 3, c->lport, c->pport, len, 1, VS_OP_RW, 0, 4096, 0};
        memcpy(hdr, &h, VS_HDR);
        /* k = 0: one payload byte for a len of 100; k = 1: 65537 real bytes (the image itself) */
        *vs_tx_desc((unsigned)s, 0) = (struct vring_desc){(uint64_t)hdr, VS_HDR, VRING_DESC_F_NEXT, (uint16_t)(2 * s + 1)};
        *vs_tx_desc((unsigned)s, 1) = (struct vring_desc){k ? 0x100000ull : (uint64_t)sink_buf, k ? len : 1, 0, 0};
        vs_tx_submit((unsigned)s);
        int rst = WAIT_UNTIL(c->got_rst, 2 * SECOND);
        check(name, rst, 0);
        vs_conn_free(c);
    }

    const char *why;
    ok = heartbeat(3, 1, &why);
    check("alive_after_malformed", ok, " reason=%s (after bad chains and notifications of queues 3, 0xffff)", why);
    check("no_reply_to_malformed", g_vs.st.stray == 0, " stray=%u", g_vs.st.stray);
}

/* Connects with buf_alloc 0 (the device may not read the parent's socket for us yet) and sends
 * `line`; the parent answers and closes. Only once the device saw that (it asks for credit:
 * CREDIT_REQUEST, or 2 s passed) does the guest grant 4 KiB: the answer must arrive, and then
 * the end of the stream (SHUTDOWN or RST). With half_close, the guest shuts down its own sending
 * side first (SHUTDOWN(SEND) only) and must still receive. */
static void parent_closes(uint32_t out_port, const char *name, const char *line, const char *want, int half_close)
{
    int r;
    struct vs_conn *c = vs_connect(3, out_port, 0, 2 * SECOND, &r);
    if (!c || vs_send(c, line, (uint32_t)strlen(line), 2 * SECOND) != (int)strlen(line)) {
        check(name, 0, " reason=connect");
        if (c)
            vs_conn_free(c);
        return;
    }
    if (half_close) {
        vs_conn_packet(c, VS_OP_SHUTDOWN, VS_SHUT_SEND, 0, 0, 0);
        vs_flush();
    }
    int asked = WAIT_UNTIL(c->credit_requests_rx > 0 || c->state != VS_ESTABLISHED, 2 * SECOND);
    c->buf_alloc = 4096;
    vs_send_credit_update(c);
    vs_flush();
    char got[16];
    uint32_t len = (uint32_t)strlen(want);
    memset(got, 0, sizeof got);
    uint32_t n = vs_recv(c, got, len, 5 * SECOND);
    int ended = WAIT_UNTIL(c->got_rst || (c->peer_shut & VS_SHUT_SEND), 5 * SECOND);
    check(name, n == len && mem_eq(got, want, n) && ended, " bytes=%u credit_requested=%u end_of_stream_within_5s=%u",
          n, asked, ended);
    if (!c->got_rst)
        vs_close(c, 2 * SECOND);
    else
        vs_conn_free(c);
}

/* The parent sends `total` bytes; we advertise buf_alloc 1024 and read only when it stops. */
static void test_credit_to_guest(uint32_t out_port)
{
    const uint32_t total = 8192, buf = 1024;
    for (unsigned i = 0; i < sizeof bulk_expect; i++)
        bulk_expect[i] = (uint8_t)(i * 7 + 3);
    struct vs_conn *c = connect_parent(out_port, buf, "BULK 8192\n");
    if (!c) {
        check("credit_small_buf_alloc", 0, " reason=connect");
        return;
    }
    uint32_t got = 0, rounds = 0, stalls = 0;
    int ok = 1;
    while (got < total && ok) {
        /* Wait until the device has filled our whole buffer (or the rest), then 200 ms more: it
         * must not send a byte beyond the credit. */
        uint32_t want = total - got < buf ? total - got : buf;
        if (!WAIT_UNTIL(c->ring_len >= want || c->state != VS_ESTABLISHED, 5 * SECOND)) {
            ok = 0;
            break;
        }
        settle(200000);
        if (c->ring_len == buf)
            stalls++;
        uint32_t n = c->ring_len;
        vs_consume(c, bulk_buf, n); /* also sends CREDIT_UPDATE (our free space fell below half) */
        vs_flush();
        for (uint32_t at = 0; at < n; at += 256)
            ok &= mem_eq(bulk_buf + at, bulk_expect + ((got + at) & 255), n - at < 256 ? n - at : 256);
        got += n;
        rounds++;
        if (c->overruns)
            ok = 0;
    }
    check("credit_small_buf_alloc", ok && got == total && c->overruns == 0 && c->max_unconsumed <= buf,
          " bytes=%u rounds=%u full_stalls=%u max_outstanding=%u overruns=%u credit_requests=%u", got, rounds, stalls,
          c->max_unconsumed, c->overruns, c->credit_requests_rx);
    vs_close(c, 2 * SECOND);
}

/* The parent stops reading: we send within the device's credit until it runs out (no RST
 * allowed), ask for credit (CREDIT_REQUEST must be answered), then send beyond it (RST). */
static void test_credit_to_parent(uint32_t out_port)
{
    memset(sink_buf, 'S', sizeof sink_buf);
    struct vs_conn *c = connect_parent(out_port, 4096, "SINK\n");
    if (!c) {
        check("credit_respected_no_rst", 0, " reason=connect");
        return;
    }
    uint32_t total = 0, packets = 0;
    while (total < (16u << 20)) {
        if (!WAIT_UNTIL(c->state != VS_ESTABLISHED || (vs_peer_credit(c) && vs_tx_free_slots()), SECOND))
            break; /* no credit for 1 s: the device's buffer is full */
        if (c->state != VS_ESTABLISHED)
            break;
        uint32_t n = vs_peer_credit(c);
        if (n > sizeof sink_buf)
            n = sizeof sink_buf;
        if (vs_conn_packet(c, VS_OP_RW, 0, sink_buf, n, 0) != 0)
            continue;
        vs_flush();
        total += n;
        packets++;
    }
    int alive = c->state == VS_ESTABLISHED && !c->got_rst;
    check("credit_respected_no_rst", alive && vs_peer_credit(c) == 0 && total >= 65536,
          " bytes=%u packets=%u peer_buf_alloc=%u credit=%u", total, packets, c->peer_buf_alloc, vs_peer_credit(c));
    if (!alive) {
        vs_conn_free(c);
        return;
    }
    uint32_t before = c->credit_updates_rx;
    vs_conn_packet(c, VS_OP_CREDIT_REQUEST, 0, 0, 0, 0);
    vs_flush();
    int answered = WAIT_UNTIL(c->credit_updates_rx > before || c->state != VS_ESTABLISHED, SECOND);
    check("credit_request_answered", answered && c->state == VS_ESTABLISHED, " credit=%u", vs_peer_credit(c));
    /* Beyond the credit: the device must reset the connection. 4 KiB at a time, in case it
     * could still take some (then its credit was larger than it said), up to 68 KiB. */
    uint32_t credit = vs_peer_credit(c), beyond = 0;
    int rst = 0;
    while (!rst && beyond < 68 * 1024) {
        WAIT_UNTIL(vs_tx_free_slots() > 0, SECOND);
        vs_conn_packet(c, VS_OP_RW, 0, sink_buf, sizeof sink_buf, 0);
        vs_flush();
        beyond += sizeof sink_buf;
        rst = WAIT_UNTIL(c->got_rst, beyond > credit ? 200000 : 0);
    }
    check("credit_violation_reset", rst, " credit=%u sent=%u", credit, beyond);
    vs_conn_free(c);
}

static void test_reset_and_reinit(uint32_t out_port)
{
    /* A connection the parent holds open: the reset must close it (the parent logs EOF). */
    struct vs_conn *hold = connect_parent(out_port, 4096, "HOLD\n");
    /* The line is in the parent's socket once the device handed the tx chain back. */
    int delivered = WAIT_UNTIL(vs_tx_free_slots() == VS_TX_SLOTS, SECOND);
    check("hold_connection", hold != 0 && delivered, 0);

    /* avail.idx more than a ring ahead: the device must ignore tx (until the reset below). */
    struct vs_conn *c = vs_conn_new(3, vs_alloc_port(), HEARTBEAT_PORT, 4096);
    if (c) {
        c->state = VS_CONNECTING;
        int s = take_slot();
        if (s >= 0) {
            uint8_t *hdr = vs_tx_hdr_area((unsigned)s);
            request_header(hdr, c->lport, HEARTBEAT_PORT);
            *vs_tx_desc((unsigned)s, 0) = (struct vring_desc){(uint64_t)hdr, VS_HDR, 0, 0};
            vs_tx_jump_avail(300, (unsigned)s);
        }
        settle(300000);
        check("avail_idx_beyond_ring_ignored", c->state == VS_CONNECTING, " state=%u", c->state);
        vs_conn_free(c);
    }
    vs_w32(VM_STATUS, 0);
    uint32_t status = vs_r32(VM_STATUS), ready = 0;
    for (unsigned q = 0; q < 3; q++) {
        vs_w32(VM_QUEUE_SEL, q);
        ready |= vs_r32(VM_QUEUE_READY) << q;
    }
    uint32_t isr = vs_r32(VM_INTERRUPT_STATUS);
    check("reset", status == 0 && ready == 0 && isr == 0, " status=0x%x queues_ready=0x%x interrupt_status=0x%x", status,
          ready, isr);

    /* Again, the other way round: VERSION_1 only (no EVENT_IDX), rx buffer 0 outside RAM. */
    int r = vs_init(VS_F_VERSION_1, 0);
    check("reinit_without_event_idx", r == 0 && g_vs.negotiated == VS_F_VERSION_1, " features=0x%lx result=%d",
          g_vs.negotiated, r);
    if (r)
        return;
    /* No rx buffers yet: tx must still be processed (the replies wait in the device). */
    struct vs_conn *waiting[3];
    int sent = 1;
    for (unsigned i = 0; i < 3; i++) {
        waiting[i] = vs_conn_new(3, vs_alloc_port(), HEARTBEAT_PORT, 4096);
        waiting[i]->state = VS_CONNECTING;
        sent &= vs_conn_packet(waiting[i], VS_OP_REQUEST, 0, 0, 0, 0) == 0;
    }
    vs_flush();
    int drained = WAIT_UNTIL(vs_tx_free_slots() == VS_TX_SLOTS, SECOND);
    settle(100000);
    int none_yet = 1;
    for (unsigned i = 0; i < 3; i++)
        none_yet &= waiting[i]->state == VS_CONNECTING;
    uint32_t empty_before = g_vs.st.rx_returned_empty;
    vs_fill_rx_bad_first(e820_ram_top() + 0x200000);
    int all = WAIT_UNTIL(waiting[0]->state != VS_CONNECTING && waiting[1]->state != VS_CONNECTING &&
                             waiting[2]->state != VS_CONNECTING, 2 * SECOND);
    int established = 1;
    for (unsigned i = 0; i < 3; i++) {
        established &= waiting[i]->state == VS_ESTABLISHED;
        vs_close(waiting[i], SECOND);
    }
    check("tx_processed_without_rx_buffers", sent && drained && none_yet && all && established,
          " tx_returned=%u replies_waited=%u answered_after_rx=%u", drained, none_yet, all && established);
    const char *why;
    int ok = heartbeat(3, 1, &why);
    check("heartbeat_after_reset", ok, " reason=%s", why);
    int returned = WAIT_UNTIL(g_vs.st.rx_returned_empty > empty_before, SECOND);
    check("malformed_rx_buffer_returned", returned && g_vs_rx_last_empty_id == 0, " id=%u", g_vs_rx_last_empty_id);
    vs_rx_repost(0);
}

static void test_app_status(void)
{
    uint8_t record[64];
    memset(record, 0, sizeof record);
    memcpy(record, "QTEX", 4);
    record[4] = 1;                 /* version 1 */
    record[6] = 1;                 /* kind: exited */
    uint32_t value = failed;       /* exit code = failed checks so far (0 = all passed) */
    memcpy(record + 8, &value, 4);
    int r;
    struct vs_conn *c = vs_connect(3, STATUS_PORT, 4096, 2 * SECOND, &r);
    uint8_t ack = 0;
    uint32_t n = 0;
    if (c && vs_send(c, record, sizeof record, 2 * SECOND) == (int)sizeof record)
        n = vs_recv(c, &ack, 1, 2 * SECOND);
    check("app_status", n == 1 && ack == 0x06, " exit_code=%u ack=0x%x", value, ack);
    if (c)
        vs_close(c, 2 * SECOND);
    /* 65 bytes are not a record: reset, and not recorded (query must still show the one above). */
    uint8_t big[65];
    memcpy(big, record, 64);
    big[8] = 99;
    big[64] = 0;
    c = vs_connect(3, STATUS_PORT, 4096, 2 * SECOND, &r);
    if (c) {
        vs_send(c, big, sizeof big, 2 * SECOND);
        int rst = WAIT_UNTIL(c->got_rst, 2 * SECOND);
        check("app_status_oversized_reset", rst && !c->ring_len, " answered=%u", c->ring_len);
        vs_conn_free(c);
    } else {
        check("app_status_oversized_reset", 0, " reason=connect");
    }
}

void mode_vsock_selftest(void)
{
    uint32_t out_port = (uint32_t)cmdline_get_u64("probe.out_port", 7000);
    if (vs_setup() != 0) {
        print("PROBE vsock_test setup=fail\n");
        power_off();
    }
    vs_calibrate();
    test_negotiation();
    int r = vs_init(VS_F_VERSION_1 | VS_F_EVENT_IDX, VS_RX_BUFS);
    check("init", r == 0 && g_vs.negotiated == (VS_F_VERSION_1 | VS_F_EVENT_IDX), " cid=%lu base=0x%lx irq=%u features=0x%lx result=%s",
          g_vs.cid, g_vs.base, g_vs.irq, g_vs.negotiated, init_error(r));
    if (r) {
        print("PROBE vsock_selftest done passed=%u failed=%u\n", passed, failed);
        power_off();
    }
    const char *why;
    int ok = heartbeat(3, 1, &why);
    check("heartbeat_cid3", ok, " us=%lu reason=%s", elapsed_us(), why);
    ok = heartbeat(2, 1, &why);
    check("heartbeat_cid2", ok, " reason=%s", why);
    test_interrupts();
    test_rst_cases(out_port);
    test_malformed_chains();

    /* The parent's listener (<VsockSocket>_<out_port>) may appear only after `start` returned. */
    struct vs_conn *c = 0;
    unsigned attempts = 0;
    uint64_t give_up = vs_now_us() + 60 * SECOND;
    while (!c && vs_now_us() < give_up) {
        attempts++;
        c = vs_connect(3, out_port, 4096, 2 * SECOND, &r);
        if (!c)
            settle(200000);
    }
    check("parent_listener", c != 0, " port=%u attempts=%u", out_port, attempts);
    if (c)
        vs_close(c, 2 * SECOND);
    if (c) {
        hello_exchange(out_port, "guest_to_parent_exchange");
        parent_closes(out_port, "half_close", "HALF\n0123456789abcdef", "GOT 16\n", 1);
        parent_closes(out_port, "parent_close_seen", "SENDCLOSE\n", "bye\n", 0);
        test_credit_to_guest(out_port);
        test_credit_to_parent(out_port);
        test_reset_and_reinit(out_port);
        hello_exchange(out_port, "exchange_after_reset");
    }
    check("device_headers_valid", g_vs.st.rx_bad == 0 && g_vs.st.rx_short == 0 && g_vs.st.overruns == 0,
          " rx_bad=%u rx_short=%u overruns=%u", g_vs.st.rx_bad, g_vs.st.rx_short, g_vs.st.overruns);
    test_app_status();
    print("PROBE vsock_stats rx=%u tx=%u kicks=%u irqs=%u rsts_sent=%u unknown=%u\n", g_vs.st.rx_packets,
          g_vs.st.tx_packets, g_vs.st.kicks, g_vs.st.irqs_seen, g_vs.st.rst_sent, g_vs.st.unknown_pkts);
    print("PROBE vsock_selftest done passed=%u failed=%u us=%lu\n", passed, failed, elapsed_us());
    power_off();
}
