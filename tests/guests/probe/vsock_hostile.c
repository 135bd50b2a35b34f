/* tests/guests/probe/vsock_hostile.c — hostile-guest modes: the guest attacks the VMM on purpose
 * (tests/integration/hostile_guest_*.sh). Each first does the boot heartbeat (so `enclave
 * start` returns), prints `PROBE hostile=<mode> started`, then:
 *   vsock-storm       re-adds one tx chain as fast as it can, forever (a descriptor storm);
 *   vsock-txflood     REQUESTs to 3:9000 from ever new ports and 4 KiB RWs to nowhere, forever,
 *                     never reposting an rx buffer;
 *   vsock-credit-lie  accepts connections on probe.port (default 5000) and answers every packet
 *                     with CREDIT_UPDATEs advertising buf_alloc 0xffffffff and a fwd_cnt that
 *                     runs backwards, discarding what arrives;
 *   vsock-connstorm   REQUESTs to 3:9000 from ever new ports (far past 1,024 connections), its
 *                     rx buffers taken back unread (the device's connections stay open);
 *   vsock-badstatus   status records to 3:9001, forever: invalid UTF-8 in the reason, a reason
 *                     without its NUL, 65 bytes, garbage, a bad magic, kind 0xffff;
 *   console-flood     probe.flood_mb MiB (default 100) to the serial port as fast as it can
 *                     (rep outsb), `PROBE console_flood done bytes=N`, then idle;
 *   randio            random port and MMIO (3-4 GiB hole) accesses for probe.seconds (default
 *                     10), `PROBE randio done accesses=N`, then power off.
 * Nothing here checks the VMM: the integration tests watch the host side. */
#include "vsock.h"

#define HEARTBEAT_PORT 9000
#define STATUS_PORT 9001

static uint64_t rng_state;
static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct vs_hdr header(uint64_t dst_cid, uint32_t src_port, uint32_t dst_port, uint16_t op, uint32_t len)
{
    struct vs_hdr h;
    memset(&h, 0, sizeof h);
    h.src_cid = g_vs.cid;
    h.dst_cid = dst_cid;
    h.src_port = src_port;
    h.dst_port = dst_port;
    h.len = len;
    h.type = 1;
    h.op = op;
    h.buf_alloc = 4096;
    return h;
}

/* Tx chain 0 (slot 0's first descriptor) in every avail ring entry, then avail.idx kept a full
 * ring ahead of the device's used.idx (a few instructions per ring: this host's emulated guest
 * instructions are slow, the storm must not be), kicking only when the device asks: the device
 * sees an endless ring. */
static NORETURN void storm(void)
{
    struct vs_hdr h = header(3, 40000, HEARTBEAT_PORT, VS_OP_RW, 0);
    h.src_cid = g_vs.cid + 1; /* not our CID: the device drops it and answers nothing */
    uint8_t *area = vs_tx_hdr_area(0);
    memcpy(area, &h, sizeof h);
    struct vring_desc *d = vs_tx_desc(0, 0);
    d->addr = (uint64_t)area;
    d->len = VS_HDR;
    d->flags = 0;
    d->next = 0;
    vs_tx_fill_ring(0);
    for (;;) {
        if (vs_tx_refill())
            vs_tx_kick_if_asked();
    }
}

static uint8_t payload[4096] __attribute__((section(".noinit")));

static NORETURN void txflood(void)
{
    uint32_t port = 20000;
    for (uint64_t n = 0;; n++) {
        struct vs_hdr h = (n & 1) ? header(3, port++, HEARTBEAT_PORT, VS_OP_REQUEST, 0)
                                  : header(3, 60000, 7777, VS_OP_RW, sizeof payload);
        if (port >= 0x7fff0000u)
            port = 20000;
        while (vs_tx_raw(&h, payload, h.len) != 0)
            __asm__ volatile("pause");
    }
}

static void credit_lie(struct vs_conn *c)
{
    c->ring_len = 0; /* discard what arrived, without telling the truth about it */
    c->ring_head = 0;
    struct vs_hdr h = header(c->pcid, c->lport, c->pport, VS_OP_CREDIT_UPDATE, 0);
    h.buf_alloc = 0xffffffffu;
    c->fwd_cnt -= 65536; /* backwards */
    h.fwd_cnt = c->fwd_cnt;
    vs_tx_raw(&h, 0, 0);
}

static void credit_accept(struct vs_conn *c) { credit_lie(c); }

static NORETURN void credit_lies(void)
{
    uint32_t port = (uint32_t)cmdline_get_u64("probe.port", 5000);
    vs_listen(port, 4096, credit_accept, credit_lie);
    print("PROBE hostile listening port=%u\n", port);
    for (;;) {
        vs_poll();
        vs_idle();
    }
}

static NORETURN void connstorm(void)
{
    uint32_t port = 20000;
    for (;;) {
        struct vs_hdr h = header(3, port++, HEARTBEAT_PORT, VS_OP_REQUEST, 0);
        if (port >= 0x7fff0000u)
            port = 20000;
        while (vs_tx_raw(&h, 0, 0) != 0)
            vs_rx_discard();
        vs_rx_discard();
    }
}

static NORETURN void badstatus(void)
{
    static uint8_t record[65];
    for (uint64_t n = 0;; n++) {
        uint32_t len = 64;
        memset(record, 0, sizeof record);
        memcpy(record, "QTEX", 4);
        record[4] = 1; /* version */
        record[6] = 3; /* kind: init error */
        record[8] = 1;
        switch (n % 6) {
        case 0: /* invalid UTF-8 in the reason */
            memcpy(record + 16, "bad \xff\xfe\xc3\x28 utf8 \xed\xa0\x80", 17);
            break;
        case 1: /* a reason that fills the field, no NUL */
            memset(record + 16, 'A', 48);
            break;
        case 2: /* 65 bytes */
            len = 65;
            break;
        case 3: /* garbage */
            for (int i = 0; i < 64; i++)
                record[i] = (uint8_t)next_random();
            break;
        case 4:
            record[0] = 'X';
            break;
        default:
            record[6] = record[7] = 0xff;
            break;
        }
        int r;
        struct vs_conn *c = vs_connect(3, STATUS_PORT, 4096, 2000000, &r);
        if (!c)
            continue;
        vs_send(c, record, len, 2000000);
        uint8_t ack;
        vs_recv(c, &ack, 1, 200000);
        if (c->state == VS_CLOSED || c->got_rst)
            vs_conn_free(c);
        else
            vs_close(c, 2000000);
    }
}

static NORETURN void console_flood(void)
{
    uint64_t mib = cmdline_get_u64("probe.flood_mb", 100);
    static const char line[64] = "PROBE flood 0123456789abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLM\n";
    g_uart_strings = 1;
    uint64_t total = mib << 20;
    for (uint64_t sent = 0; sent < total; sent += sizeof line)
        console_write(line, sizeof line);
    g_uart_strings = 0;
    print("PROBE console_flood done bytes=%lu\n", total);
    for (;;) {
        vs_poll();
        vs_idle();
    }
}

static int port_allowed(uint16_t port)
{
    /* 0x64 (keyboard controller: 0xFE powers off), 0x92 (fast reset), 0xcf9 (reset control). */
    return port != 0x64 && port != 0x92 && port != 0xcf9;
}

static NORETURN void randio(void)
{
    uint64_t seconds = cmdline_get_u64("probe.seconds", 10);
    /* Our own page tables map the hole on demand only: map it all (2 MiB pages), or keep to the
     * device's registers if the page-table pool is too small. */
    uint64_t span = map_identity(0xc0000000ull, 0x3e800000ull) ? 0x3e7fffffull : 0xfffull;
    uint64_t base = span == 0xfffull ? g_vs.base : 0xc0000000ull;
    uint64_t end = vs_now_us() + seconds * 1000000ull, accesses = 0;
    while (vs_now_us() < end) {
        for (int i = 0; i < 64; i++, accesses++) {
            uint64_t r = next_random();
            if (r & 1) {
                uint16_t port = (uint16_t)(r >> 8);
                if (!port_allowed(port))
                    continue;
                switch ((r >> 2) & 3) {
                case 0: (void)inb(port); break;
                case 1: (void)inl(port); break;
                case 2: outb(port, (uint8_t)(r >> 32)); break;
                default: outl(port, (uint32_t)(r >> 32)); break;
                }
            } else {
                /* The 3-4 GiB hole (virtio registers included), below the IOAPIC and local APIC. */
                uint64_t addr = base + ((r >> 8) & span & ~3ull);
                if (r & 2)
                    (void)mmio_read32(addr);
                else
                    mmio_write32(addr, (uint32_t)(r >> 32));
            }
        }
    }
    print("\nPROBE randio done accesses=%lu\n", accesses);
    power_off();
}

void mode_hostile(const char *mode)
{
    static const struct {
        const char *name;
        void (*run)(void);
    } modes[] = {
        { "vsock-storm", storm },         { "vsock-txflood", txflood }, { "vsock-credit-lie", credit_lies },
        { "vsock-connstorm", connstorm }, { "vsock-badstatus", badstatus }, { "console-flood", console_flood },
        { "randio", randio },
    };
    for (unsigned i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (!str_eq(mode, modes[i].name))
            continue;
        vs_boot_heartbeat();
        rng_state = rdtsc() | 1;
        print("PROBE hostile=%s started\n", mode);
        modes[i].run();
    }
}
