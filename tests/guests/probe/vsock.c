/* tests/guests/probe/vsock.c — a small virtio-vsock driver for the probe guest (virtio-mmio
 * version 2, split virtqueues, stream sockets with credit accounting). See vsock.h for the API.
 *
 * Initialisation follows Linux (virtio_mmio + virtio_vsock): reset, ACKNOWLEDGE, DRIVER, read
 * the 64 feature bits, accept VERSION_1 (+ EVENT_IDX), FEATURES_OK and read it back, per queue
 * QueueSel / QueueReady == 0 / QueueNumMax / QueueNum / the three ring addresses / QueueReady = 1,
 * DRIVER_OK, then rx buffers. Queue memory, rx buffers (4 KiB, one writable descriptor each),
 * tx headers and payload copies and the connections' receive rings live in .noinit (the image
 * file stays small); everything is zeroed by vs_init()/vs_setup().
 *
 * Cost model: guest instructions are expensive on this project's nested KVM (see README.md), so
 * connections are found through a small hash, bytes move with rep movsb, the used rings are read
 * only when their index moved, and InterruptStatus is read (an MMIO exit) only after an
 * interrupt was counted. Kicks follow EVENT_IDX (avail_event) when negotiated, else
 * used.flags; our used_event always asks for an interrupt on the next used entry. */
#include "vsock.h"

struct vq_page {
    struct vring_desc desc[VS_QSIZE];       /* 0 */
    uint16_t avail_flags, avail_idx;        /* 2048 */
    uint16_t avail_ring[VS_QSIZE];
    uint16_t used_event;
    uint8_t pad[2560 - 2048 - 6 - 2 * VS_QSIZE];
    uint16_t used_flags, used_idx;          /* 2560 */
    struct { uint32_t id, len; } used_ring[VS_QSIZE];
    uint16_t avail_event;
    uint8_t pad2[4096 - 2560 - 6 - 8 * VS_QSIZE];
};
_Static_assert(sizeof(struct vq_page) == 4096, "one page per queue");
_Static_assert(__builtin_offsetof(struct vq_page, used_idx) == 2562, "used ring at 2560");

struct vq {
    struct vq_page *p;
    uint16_t index, avail, kicked, used_seen;
};

#define CONN_RING 4096
#define HASH_SIZE 256

/* Everything big lives outside the image (which must stay small and below 2 MiB): in RAM at the
 * first 2 MiB boundary after the image, or after the initrd if that is in the way (vs_setup). */
struct vs_memory {
    struct vq_page vq[3];
    uint8_t rx_bufs[VS_RX_BUFS][VS_RX_BUF_SIZE];
    uint8_t tx_data[VS_TX_SLOTS][VS_TX_DATA];
    uint8_t conn_rings[VS_MAX_CONNS][CONN_RING];
    uint8_t tx_hdrs[VS_TX_SLOTS][64];
    struct vs_conn conns[VS_MAX_CONNS];
    int16_t buckets[HASH_SIZE];
    int16_t free_conns[VS_MAX_CONNS];
};
static struct vs_memory *M;
#define vq_pages (M->vq)
#define rx_bufs (M->rx_bufs)
#define tx_data (M->tx_data)
#define tx_hdrs (M->tx_hdrs)
#define conn_rings (M->conn_rings)
#define conns (M->conns)
#define buckets (M->buckets)
#define free_conns (M->free_conns)
static int free_conn_n, conn_fresh; /* freed ones are reused first; conns[conn_fresh..] never used */

static struct vq vqs[3];
static uint8_t tx_free[VS_TX_SLOTS], tx_busy[VS_TX_SLOTS];
static int tx_free_n, tx_fresh; /* the same for tx slots */
static unsigned rx_posted;      /* rx buffers 0..rx_posted-1 have been posted */
static int event_idx;
static uint32_t irq_seen;
static uint64_t tsc_mhz;
static uint32_t next_port = 49152;
uint32_t g_vs_rx_last_empty_id = ~0u;

static void ring_take(struct vs_conn *c, void *out, uint32_t n);

static struct {
    uint32_t port, buf_alloc;
    vs_accept_fn on_accept;
    vs_event_fn on_event;
} listener;

struct vs_device g_vs;

static inline void mb(void) { __asm__ volatile("lock; orl $0, (%%rsp)" ::: "memory"); }
static inline uint16_t load16(const uint16_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void store16(uint16_t *p, uint16_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

uint32_t vs_r32(uint32_t off) { return mmio_read32(g_vs.base + off); }
void vs_w32(uint32_t off, uint32_t v) { mmio_write32(g_vs.base + off, v); }

uint64_t vs_now_us(void) { return rdtsc() / tsc_mhz; }
uint64_t vs_tsc_mhz(void) { return tsc_mhz; }
void vs_calibrate(void) { tsc_mhz = tsc_khz_measured() / 1000; }

/* --- setup ---------------------------------------------------------------------------------- */

static uint64_t parse_number(const char **s)
{
    const char *p = *s;
    uint64_t v = 0;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        for (p += 2;; p++) {
            char ch = *p;
            unsigned d = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0')
                         : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                         : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10) : 16;
            if (d == 16)
                break;
            v = v * 16 + d;
        }
    } else {
        for (; *p >= '0' && *p <= '9'; p++)
            v = v * 10 + (uint64_t)(*p - '0');
    }
    *s = p;
    return v;
}

static int is_ram(uint64_t a, uint64_t size)
{
    const struct E820Entry *e;
    unsigned n = bp_e820(&e);
    for (unsigned i = 0; i < n; i++)
        if (e[i].type == E820_RAM && e[i].addr <= a && a + size <= e[i].addr + e[i].size)
            return 1;
    return 0;
}

static uint64_t find_memory(uint64_t size)
{
    const uint64_t align = 0x200000;
    uint64_t a = ((uint64_t)_end + align - 1) & ~(align - 1);
    uint64_t initrd = bp_initrd_addr(), initrd_end = initrd + bp_initrd_size();
    if (initrd_end > initrd && a < initrd_end && initrd < a + size)
        a = (initrd_end + align - 1) & ~(align - 1);
    return is_ram(a, size) ? a : 0;
}

int vs_setup(void)
{
    char spec[64];
    g_vs.base = 0xd0000000ull;
    g_vs.irq = 5;
    /* qt-vmm announces vsock in slot 0, the first virtio_mmio.device= (the NSM device follows it);
     * <size>[KM]@<base>:<irq>[:<id>] */
    if (cmdline_get_nth("virtio_mmio.device", 0, spec, sizeof spec)) {
        const char *p = spec;
        parse_number(&p);
        if (*p == 'K' || *p == 'k' || *p == 'M' || *p == 'm')
            p++;
        if (*p == '@') {
            p++;
            g_vs.base = parse_number(&p);
            if (*p == ':') {
                p++;
                g_vs.irq = (uint32_t)parse_number(&p);
            }
        }
    }
    g_vs.polling = cmdline_get_u64("probe.vsock_poll", 0) != 0;
    g_vs.memory = find_memory(sizeof(struct vs_memory));
    if (!g_vs.memory || !map_identity(g_vs.memory, sizeof(struct vs_memory)))
        return -2;
    M = (struct vs_memory *)g_vs.memory;
    uint64_t khz = tsc_khz();
    tsc_mhz = khz >= 1000 ? khz / 1000 : 1000; /* until vs_calibrate() */
    if (!map_identity(g_vs.base, 4096))
        return -1;
    interrupts_init();
    ioapic_route(g_vs.irq, 0x30);
    return 0;
}

/* --- queues --------------------------------------------------------------------------------- */

static void vq_kick(struct vq *q)
{
    uint16_t now = q->avail, old = q->kicked;
    if (now == old)
        return;
    q->kicked = now;
    mb(); /* avail.idx is visible before we read what the device wants */
    int need;
    if (event_idx) {
        uint16_t ev = load16(&q->p->avail_event);
        need = (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
    } else {
        need = !(load16(&q->p->used_flags) & 1);
    }
    if (need) {
        vs_w32(VM_QUEUE_NOTIFY, q->index);
        g_vs.st.kicks++;
    }
}

static void vq_push(struct vq *q, uint16_t head)
{
    q->p->avail_ring[q->avail % VS_QSIZE] = head;
    q->avail++;
    store16(&q->p->avail_idx, q->avail);
}

static void rx_post(unsigned i) { vq_push(&vqs[0], (uint16_t)i); }

struct vring_desc *vs_rx_desc(unsigned i) { return &vq_pages[0].desc[i]; }

void vs_rx_repost(unsigned i)
{
    struct vring_desc *d = &vq_pages[0].desc[i];
    d->addr = (uint64_t)rx_bufs[i];
    d->len = VS_RX_BUF_SIZE;
    d->flags = VRING_DESC_F_WRITE;
    d->next = 0;
    rx_post(i);
    vq_kick(&vqs[0]);
}

/* Posts rx buffer rx_posted for the first time (descriptors are written on first use only:
 * every guest instruction counts before the heartbeat). */
static void rx_post_new(void)
{
    unsigned i = rx_posted++;
    struct vring_desc *d = &vq_pages[0].desc[i];
    d->addr = (uint64_t)rx_bufs[i];
    d->len = VS_RX_BUF_SIZE;
    d->flags = VRING_DESC_F_WRITE;
    rx_post(i);
}

void vs_fill_rx_bad_first(uint64_t bad_addr)
{
    if (rx_posted == 0) {
        rx_post_new();
        vq_pages[0].desc[0].addr = bad_addr;
    }
    vs_fill_rx();
}

void vs_fill_rx(void)
{
    while (rx_posted < VS_RX_BUFS)
        rx_post_new();
    vq_kick(&vqs[0]);
}

int vs_init(uint64_t want, unsigned rx)
{
    vs_w32(VM_STATUS, 0); /* reset: the device forgets every connection, and so do we */
    memset(buckets, 0xff, sizeof buckets);
    free_conn_n = conn_fresh = 0;
    if (vs_r32(VM_MAGIC) != 0x74726976 || vs_r32(VM_VERSION) != 2 || vs_r32(VM_DEVICE_ID) != 19)
        return -1;
    vs_w32(VM_STATUS, VS_STATUS_ACK);
    vs_w32(VM_STATUS, VS_STATUS_ACK | VS_STATUS_DRIVER);
    vs_w32(VM_DEVICE_FEATURES_SEL, 1);
    uint64_t offered = (uint64_t)vs_r32(VM_DEVICE_FEATURES) << 32;
    vs_w32(VM_DEVICE_FEATURES_SEL, 0);
    offered |= vs_r32(VM_DEVICE_FEATURES);
    g_vs.offered = offered;
    uint64_t accept = offered & want;
    g_vs.negotiated = accept;
    vs_w32(VM_DRIVER_FEATURES_SEL, 1);
    vs_w32(VM_DRIVER_FEATURES, (uint32_t)(accept >> 32));
    vs_w32(VM_DRIVER_FEATURES_SEL, 0);
    vs_w32(VM_DRIVER_FEATURES, (uint32_t)accept);
    vs_w32(VM_STATUS, VS_STATUS_ACK | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK);
    if (!(vs_r32(VM_STATUS) & VS_STATUS_FEATURES_OK))
        return -2;
    event_idx = (accept & VS_F_EVENT_IDX) != 0;
    g_vs.cid = vs_r32(VM_CONFIG) | ((uint64_t)vs_r32(VM_CONFIG + 4) << 32);

    for (unsigned q = 0; q < 3; q++) {
        struct vq_page *p = &vq_pages[q]; /* only the ring indices must start at 0 */
        p->avail_flags = p->avail_idx = p->used_event = 0;
        p->used_flags = p->used_idx = p->avail_event = 0;
        vqs[q] = (struct vq){p, (uint16_t)q, 0, 0, 0};
        vs_w32(VM_QUEUE_SEL, q);
        if (vs_r32(VM_QUEUE_READY) != 0)
            return -3;
        if (vs_r32(VM_QUEUE_NUM_MAX) < VS_QSIZE)
            return -4;
        vs_w32(VM_QUEUE_NUM, VS_QSIZE);
        uint64_t d = (uint64_t)vq_pages[q].desc, a = (uint64_t)&vq_pages[q].avail_flags,
                 u = (uint64_t)&vq_pages[q].used_flags;
        vs_w32(VM_QUEUE_DESC, (uint32_t)d);
        vs_w32(VM_QUEUE_DESC + 4, (uint32_t)(d >> 32));
        vs_w32(VM_QUEUE_DRIVER, (uint32_t)a);
        vs_w32(VM_QUEUE_DRIVER + 4, (uint32_t)(a >> 32));
        vs_w32(VM_QUEUE_DEVICE, (uint32_t)u);
        vs_w32(VM_QUEUE_DEVICE + 4, (uint32_t)(u >> 32));
        vs_w32(VM_QUEUE_READY, 1);
        if (vs_r32(VM_QUEUE_READY) != 1)
            return -5;
    }
    /* tx slots: chain i = descriptors 2i (header) and 2i+1 (payload) */
    memset(tx_busy, 0, sizeof tx_busy);
    tx_free_n = tx_fresh = 0;
    irq_seen = g_irq_count;
    vs_w32(VM_STATUS, VS_STATUS_ACK | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK | VS_STATUS_DRIVER_OK);
    if (!(vs_r32(VM_STATUS) & VS_STATUS_DRIVER_OK))
        return -6;
    rx_posted = 0;
    while (rx_posted < rx && rx_posted < VS_RX_BUFS)
        rx_post_new();
    vq_kick(&vqs[0]);
    return 0;
}

/* --- tx ------------------------------------------------------------------------------------- */

static int reclaim_tx(void)
{
    struct vq *q = &vqs[1];
    int n = 0;
    for (;;) {
        uint16_t idx = load16(&q->p->used_idx);
        if (idx == q->used_seen) {
            if (!event_idx || q->p->used_event == idx)
                break;
            q->p->used_event = idx; /* interrupt on the next one */
            mb();
            if (load16(&q->p->used_idx) == idx)
                break;
            continue;
        }
        while (q->used_seen != idx) {
            uint32_t id = q->p->used_ring[q->used_seen % VS_QSIZE].id;
            q->used_seen++;
            unsigned slot = id / 2;
            if ((id & 1) || slot >= VS_TX_SLOTS || !tx_busy[slot]) {
                g_vs.st.rx_bad++; /* the device returned a chain we never made available */
                continue;
            }
            tx_busy[slot] = 0;
            tx_free[tx_free_n++] = (uint8_t)slot;
            n++;
        }
    }
    return n;
}

int vs_tx_free_slots(void) { return tx_free_n + VS_TX_SLOTS - tx_fresh; }

int vs_tx_take_slot(void)
{
    if (!tx_free_n && tx_fresh == VS_TX_SLOTS)
        reclaim_tx();
    int s;
    if (tx_free_n)
        s = tx_free[--tx_free_n];
    else if (tx_fresh < VS_TX_SLOTS)
        s = tx_fresh++;
    else
        return -1;
    tx_busy[s] = 1;
    return s;
}

int vs_tx_slot_busy(unsigned slot) { return tx_busy[slot]; }
struct vring_desc *vs_tx_desc(unsigned slot, unsigned which) { return &vq_pages[1].desc[2 * slot + which]; }
uint8_t *vs_tx_hdr_area(unsigned slot) { return tx_hdrs[slot]; }

void vs_tx_submit(unsigned slot)
{
    vq_push(&vqs[1], (uint16_t)(2 * slot));
    g_vs.st.tx_packets++;
    vq_kick(&vqs[1]);
}

void vs_flush(void) { vq_kick(&vqs[1]); }

void vs_tx_jump_avail(uint16_t extra, unsigned slot)
{
    struct vq *q = &vqs[1];
    q->p->avail_ring[q->avail % VS_QSIZE] = (uint16_t)(2 * slot);
    q->avail = (uint16_t)(q->avail + extra);
    store16(&q->p->avail_idx, q->avail);
    vs_w32(VM_QUEUE_NOTIFY, 1);
}

/* --- raw ring access for the hostile modes (vsock_hostile.c) ------------------------------- */

void vs_tx_fill_ring(uint16_t head)
{
    for (unsigned i = 0; i < VS_QSIZE; i++)
        vqs[1].p->avail_ring[i] = head;
}

unsigned vs_tx_refill(void)
{
    struct vq *q = &vqs[1];
    uint16_t full = (uint16_t)(load16(&q->p->used_idx) + VS_QSIZE), added = (uint16_t)(full - q->avail);
    q->avail = full;
    store16(&q->p->avail_idx, full);
    return added;
}

void vs_tx_kick_if_asked(void) { vq_kick(&vqs[1]); }

unsigned vs_rx_discard(void)
{
    struct vq *q = &vqs[0];
    unsigned n = 0;
    for (uint16_t idx = load16(&q->p->used_idx); q->used_seen != idx; n++) {
        uint32_t id = q->p->used_ring[q->used_seen % VS_QSIZE].id;
        q->used_seen++;
        if (id >= VS_RX_BUFS)
            continue;
        struct vring_desc *d = &vq_pages[0].desc[id];
        d->addr = (uint64_t)rx_bufs[id];
        d->len = VS_RX_BUF_SIZE;
        d->flags = VRING_DESC_F_WRITE;
        d->next = 0;
        rx_post(id);
    }
    vq_kick(q);
    return n;
}

/* Queues header h (+ payload) without kicking. copy: payload into the slot's buffer (else the
 * descriptor points at `data`, which must stay unchanged until the device is done). */
static void tx_queue_slot(int s, const struct vs_hdr *h, const void *data, uint32_t len, int copy)
{
    memcpy(tx_hdrs[s], h, VS_HDR);
    struct vring_desc *d = &vq_pages[1].desc[2 * s];
    d[0].addr = (uint64_t)tx_hdrs[s];
    d[0].len = VS_HDR;
    d[0].flags = len ? VRING_DESC_F_NEXT : 0;
    d[0].next = (uint16_t)(2 * s + 1);
    if (len) {
        if (copy) {
            memcpy(tx_data[s], data, len);
            data = tx_data[s];
        }
        d[1].addr = (uint64_t)data;
        d[1].len = len;
        d[1].flags = 0;
        d[1].next = 0;
    }
    vq_push(&vqs[1], (uint16_t)(2 * s));
    g_vs.st.tx_packets++;
}

static int tx_queue(const struct vs_hdr *h, const void *data, uint32_t len, int copy)
{
    int s = vs_tx_take_slot();
    if (s < 0)
        return -1;
    tx_queue_slot(s, h, data, len, copy);
    return 0;
}

int vs_tx_raw(const struct vs_hdr *h, const void *data, uint32_t len)
{
    if (tx_queue(h, data, len, 1) != 0)
        return -1;
    vs_flush();
    return 0;
}

static void send_rst_reply(const struct vs_hdr *in)
{
    struct vs_hdr h = {g_vs.cid, in->src_cid, in->dst_port, in->src_port, 0, 1, VS_OP_RST, 0, 0, 0};
    if (tx_queue(&h, 0, 0, 0) == 0)
        g_vs.st.rst_sent++;
}

/* --- connections ---------------------------------------------------------------------------- */

static unsigned conn_hash(uint32_t lport, uint32_t pport, uint64_t pcid)
{
    return ((lport * 0x9e3779b1u) ^ (pport * 0x85ebca77u) ^ (uint32_t)pcid * 0xc2b2ae3du) >> 24;
}

static struct vs_conn *lookup(uint32_t lport, uint32_t pport, uint64_t pcid)
{
    for (int i = buckets[conn_hash(lport, pport, pcid)]; i >= 0; i = conns[i].next) {
        struct vs_conn *c = &conns[i];
        if (c->lport == lport && c->pport == pport && c->pcid == pcid)
            return c;
    }
    return 0;
}

struct vs_conn *vs_conn_new(uint64_t cid, uint32_t lport, uint32_t pport, uint32_t buf_alloc)
{
    int i;
    uint8_t in_pump = 0;
    if (free_conn_n) {
        i = free_conns[--free_conn_n];
        in_pump = conns[i].in_pump; /* the echo's pump queue may still hold this index */
    } else if (conn_fresh < VS_MAX_CONNS) {
        i = conn_fresh++;
    } else {
        return 0;
    }
    struct vs_conn *c = &conns[i];
    memset(c, 0, sizeof *c);
    c->in_pump = in_pump;
    c->lport = lport;
    c->pport = pport;
    c->pcid = cid;
    c->buf_alloc = buf_alloc > CONN_RING ? CONN_RING : buf_alloc;
    c->ring = conn_rings[i];
    unsigned h = conn_hash(lport, pport, cid);
    c->next = buckets[h];
    buckets[h] = (int16_t)i;
    return c;
}

void vs_conn_free(struct vs_conn *c)
{
    int i = (int)(c - conns);
    int16_t *link = &buckets[conn_hash(c->lport, c->pport, c->pcid)];
    while (*link >= 0 && *link != i)
        link = &conns[*link].next;
    if (*link == i)
        *link = c->next;
    if (c->auto_free && c->lport == listener.port)
        g_vs.st.closed++;
    c->state = VS_FREE;
    free_conns[free_conn_n++] = (int16_t)i;
}

uint32_t vs_alloc_port(void)
{
    uint32_t p = next_port++;
    if (next_port >= 65000)
        next_port = 49152;
    return p;
}

uint32_t vs_peer_credit(const struct vs_conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

int vs_conn_packet(struct vs_conn *c, uint16_t op, uint32_t flags, const void *data, uint32_t len, int copy)
{
    struct vs_hdr h = {g_vs.cid, c->pcid, c->lport, c->pport, len, 1, op, flags, c->buf_alloc, c->fwd_cnt};
    if (tx_queue(&h, data, len, copy) != 0)
        return -1;
    c->fwd_announced = c->fwd_cnt;
    if (op == VS_OP_RW)
        c->tx_cnt += len;
    if (op == VS_OP_SHUTDOWN)
        c->we_shut |= (uint8_t)flags;
    return 0;
}

void vs_listen(uint32_t port, uint32_t buf_alloc, vs_accept_fn on_accept, vs_event_fn on_event)
{
    listener.port = port;
    listener.buf_alloc = buf_alloc;
    listener.on_accept = on_accept;
    listener.on_event = on_event;
}

static void ring_put(struct vs_conn *c, const uint8_t *p, uint32_t n)
{
    uint32_t mask = c->buf_alloc - 1, at = (c->ring_head + c->ring_len) & mask;
    uint32_t first = c->buf_alloc - at;
    if (first > n)
        first = n;
    memcpy(c->ring + at, p, first);
    if (n > first)
        memcpy(c->ring, p + first, n - first);
    c->ring_len += n;
}

int vs_send_from_ring(struct vs_conn *c, uint32_t n)
{
    int s = vs_tx_take_slot();
    if (s < 0)
        return -1;
    ring_take(c, tx_data[s], n); /* fwd_cnt counts these bytes now, and the header says so */
    struct vs_hdr h = {g_vs.cid, c->pcid, c->lport, c->pport, n, 1, VS_OP_RW, 0, c->buf_alloc, c->fwd_cnt};
    tx_queue_slot(s, &h, tx_data[s], n, 0);
    c->fwd_announced = c->fwd_cnt;
    c->tx_cnt += n;
    g_vs.st.echo_bytes += n;
    return 0;
}

void vs_send_credit_update(struct vs_conn *c)
{
    if (vs_conn_packet(c, VS_OP_CREDIT_UPDATE, 0, 0, 0, 0) == 0)
        g_vs.st.credit_updates_tx++;
}

static void ring_take(struct vs_conn *c, void *out, uint32_t n)
{
    uint32_t first = c->buf_alloc - c->ring_head;
    if (first > n)
        first = n;
    if (out) {
        memcpy(out, c->ring + c->ring_head, first);
        if (n > first)
            memcpy((uint8_t *)out + first, c->ring, n - first);
    }
    c->ring_head = (c->ring_head + n) & (c->buf_alloc - 1);
    c->ring_len -= n;
    c->fwd_cnt += n;
}

void vs_consume(struct vs_conn *c, void *out, uint32_t n)
{
    ring_take(c, out, n);
    /* Tell the device once its view of our free space fell below half (Linux does the same). */
    if (c->fwd_cnt != c->fwd_announced && c->buf_alloc - (c->rx_cnt - c->fwd_announced) < c->buf_alloc / 2 &&
        c->state == VS_ESTABLISHED)
        vs_send_credit_update(c);
}

static void handle_packet(uint8_t *buf, uint32_t len)
{
    g_vs.st.rx_packets++;
    if (len < VS_HDR) {
        g_vs.st.rx_short++;
        return;
    }
    const struct vs_hdr *h = (const struct vs_hdr *)buf;
    uint32_t plen = len - VS_HDR;
    if (h->dst_cid != g_vs.cid || h->type != 1 || h->len != plen) {
        g_vs.st.rx_bad++;
        if (h->len > plen)
            return;
    }
    struct vs_conn *c = lookup(h->dst_port, h->src_port, h->src_cid);
    if (!c) {
        if (h->op == VS_OP_REQUEST && listener.on_accept && h->dst_port == listener.port) {
            c = vs_conn_new(h->src_cid, h->dst_port, h->src_port, listener.buf_alloc);
            if (c) {
                c->auto_free = 1;
                c->state = VS_ESTABLISHED;
                c->peer_buf_alloc = h->buf_alloc;
                c->peer_fwd_cnt = h->fwd_cnt;
                if (vs_conn_packet(c, VS_OP_RESPONSE, 0, 0, 0, 0) == 0) {
                    g_vs.st.accepted++;
                    listener.on_accept(c);
                    return;
                }
                vs_conn_free(c);
            }
            g_vs.st.refused++;
            send_rst_reply(h);
            return;
        }
        g_vs.st.unknown_pkts++;
        g_vs.st.last_unknown_port = h->dst_port;
        if (h->dst_port >= g_vs.st.stray_low && h->dst_port <= g_vs.st.stray_high)
            g_vs.st.stray++;
        if (h->op != VS_OP_RST)
            send_rst_reply(h);
        return;
    }
    c->pkts_rx++;
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    switch (h->op) {
    case VS_OP_RESPONSE:
        c->response_src_cid = (uint32_t)h->src_cid;
        if (c->state == VS_CONNECTING) {
            c->state = VS_ESTABLISHED;
        } else {
            vs_conn_packet(c, VS_OP_RST, 0, 0, 0, 0);
            c->state = VS_CLOSED;
        }
        break;
    case VS_OP_RST:
        c->response_src_cid = (uint32_t)h->src_cid;
        c->got_rst = 1;
        c->state = VS_CLOSED;
        if (c->auto_free) {
            vs_conn_free(c);
            return;
        }
        break;
    case VS_OP_SHUTDOWN:
        c->peer_shut |= (uint8_t)(h->flags & 3);
        break;
    case VS_OP_RW:
        if (c->state != VS_ESTABLISHED)
            break;
        if ((uint32_t)(c->rx_cnt + plen - c->fwd_announced) > c->buf_alloc) {
            c->overruns++; /* the device sent beyond the credit we gave: keep what fits */
            g_vs.st.overruns++;
            uint32_t room = c->buf_alloc - c->ring_len;
            if (plen > room)
                plen = room;
        }
        ring_put(c, buf + VS_HDR, plen);
        c->rx_cnt += plen;
        if (c->rx_cnt - c->fwd_announced > c->max_unconsumed)
            c->max_unconsumed = c->rx_cnt - c->fwd_announced;
        c->last_rx_tsc = rdtsc();
        break;
    case VS_OP_CREDIT_UPDATE:
        c->credit_updates_rx++;
        break;
    case VS_OP_CREDIT_REQUEST:
        c->credit_requests_rx++;
        vs_send_credit_update(c);
        break;
    default: /* REQUEST on an open connection, INVALID, unknown */
        vs_conn_packet(c, VS_OP_RST, 0, 0, 0, 0);
        c->state = VS_CLOSED;
        break;
    }
    if (c->auto_free && listener.on_event && c->lport == listener.port)
        listener.on_event(c);
}

static int process_rx(void)
{
    struct vq *q = &vqs[0];
    int n = 0;
    for (;;) {
        uint16_t idx = load16(&q->p->used_idx);
        if (idx == q->used_seen) {
            if (!event_idx || q->p->used_event == idx)
                break;
            q->p->used_event = idx;
            mb();
            if (load16(&q->p->used_idx) == idx)
                break;
            continue;
        }
        while (q->used_seen != idx) {
            uint32_t id = q->p->used_ring[q->used_seen % VS_QSIZE].id;
            uint32_t len = q->p->used_ring[q->used_seen % VS_QSIZE].len;
            q->used_seen++;
            n++;
            if (id >= VS_RX_BUFS) {
                g_vs.st.rx_bad++;
                continue;
            }
            if (len == 0) {
                g_vs.st.rx_returned_empty++;
                g_vs_rx_last_empty_id = id;
                continue; /* not reposted: whoever made it bad repairs it (vs_rx_repost) */
            }
            if (len > VS_RX_BUF_SIZE) {
                g_vs.st.rx_bad++;
                len = VS_RX_BUF_SIZE;
            }
            handle_packet(rx_bufs[id], len);
            rx_post(id);
        }
    }
    return n;
}

void vs_poll(void)
{
    if (g_irq_count != irq_seen) {
        irq_seen = g_irq_count;
        g_vs.st.irqs_seen++;
        uint32_t isr = vs_r32(VM_INTERRUPT_STATUS);
        g_vs.st.isr_reads++;
        if (isr & 1)
            g_vs.st.isr_used_bits++;
        if (isr)
            vs_w32(VM_INTERRUPT_ACK, isr);
    }
    while (reclaim_tx() + process_rx())
        ;
    vq_kick(&vqs[0]);
    vq_kick(&vqs[1]);
}

void vs_idle(void)
{
    if (g_vs.polling) {
        __asm__ volatile("sti; pause; pause; cli" ::: "memory");
        return;
    }
    /* Interrupts are off: if nothing is new now, whatever arrives later raises the line. */
    if (load16(&vqs[0].p->used_idx) != vqs[0].used_seen || load16(&vqs[1].p->used_idx) != vqs[1].used_seen)
        return;
    wait_for_interrupt();
}

/* --- blocking helpers (selftest) ------------------------------------------------------------ */

struct vs_conn *vs_connect(uint64_t cid, uint32_t port, uint32_t buf_alloc, uint64_t timeout_us, int *result)
{
    struct vs_conn *c = vs_conn_new(cid, vs_alloc_port(), port, buf_alloc);
    *result = 3;
    if (!c)
        return 0;
    c->state = VS_CONNECTING;
    if (!WAIT_UNTIL(vs_conn_packet(c, VS_OP_REQUEST, 0, 0, 0, 0) == 0, timeout_us)) {
        vs_conn_free(c);
        return 0;
    }
    vs_flush();
    WAIT_UNTIL(c->state != VS_CONNECTING, timeout_us);
    if (c->state == VS_ESTABLISHED) {
        *result = 0;
        return c;
    }
    *result = c->got_rst ? 1 : 2;
    vs_conn_free(c);
    return 0;
}

int vs_send(struct vs_conn *c, const void *data, uint32_t len, uint64_t timeout_us)
{
    uint32_t sent = 0;
    while (sent < len) {
        if (!WAIT_UNTIL(c->state != VS_ESTABLISHED || (vs_peer_credit(c) && vs_tx_free_slots()), timeout_us))
            break;
        if (c->state != VS_ESTABLISHED)
            break;
        uint32_t n = len - sent, credit = vs_peer_credit(c);
        if (n > credit)
            n = credit;
        if (n > VS_TX_DATA)
            n = VS_TX_DATA;
        if (vs_conn_packet(c, VS_OP_RW, 0, (const uint8_t *)data + sent, n, 1) != 0)
            continue;
        sent += n;
    }
    vs_flush();
    return (int)sent;
}

uint32_t vs_recv(struct vs_conn *c, void *out, uint32_t len, uint64_t timeout_us)
{
    WAIT_UNTIL(c->ring_len >= len || c->state != VS_ESTABLISHED || (c->peer_shut & VS_SHUT_SEND), timeout_us);
    uint32_t n = c->ring_len < len ? c->ring_len : len;
    vs_consume(c, out, n);
    vs_flush();
    return n;
}

int vs_close(struct vs_conn *c, uint64_t timeout_us)
{
    if (c->state == VS_ESTABLISHED)
        WAIT_UNTIL(vs_conn_packet(c, VS_OP_SHUTDOWN, VS_SHUT_RCV | VS_SHUT_SEND, 0, 0, 0) == 0, timeout_us);
    vs_flush();
    WAIT_UNTIL(c->got_rst, timeout_us);
    int rst = c->got_rst;
    vs_conn_free(c);
    return rst;
}
