/* tests/guests/probe/vsock.h — the probe's virtio-vsock driver (vsock.c) and the modes built on
 * it (vsock_modes.c): vsock-heartbeat, vsock-echo, vsock-selftest, and the hostile modes
 * (vsock_hostile.c) (see README.md).
 *
 * One virtio-mmio version 2 device (default 0xd0000000, IRQ 5, or what the kernel command line's
 * `virtio_mmio.device=4K@0x...:N` says), split rings of VS_QSIZE entries, rx buffers of 4 KiB
 * (one writable descriptor each, like Linux), tx packets as a header descriptor plus an optional
 * payload descriptor. Stream connections with credit accounting in both directions.
 * Single-threaded, polled: vs_poll() reads the used rings; vs_idle() sleeps until the device's
 * interrupt (IOAPIC pin = its IRQ) unless probe.vsock_poll=1.
 *
 * Usage:
 *   if (vs_setup() != 0 || vs_init(VS_F_VERSION_1 | VS_F_EVENT_IDX, 16) != 0) fail;
 *   struct vs_conn *c = vs_connect(3, 9000, 4096, ring, 2000000, &result);   // blocks (polls)
 *   vs_send(c, &byte, 1, 1000000); vs_recv(c, &byte, 1, 1000000);
 *   vs_close(c, 1000000);                        // SHUTDOWN, wait for the device's RST, free */
#pragma once
#include "probe.h"

#define VS_QSIZE 128          /* every queue: 128 descriptors (the device offers 256) */
#define VS_RX_BUFS 128        /* rx descriptor i <-> rx buffer i */
#define VS_RX_BUF_SIZE 4096
#define VS_TX_SLOTS 64        /* tx chain i uses descriptors 2i (header) and 2i+1 (payload) */
#define VS_TX_DATA 4096       /* copied payload per tx slot */
#define VS_MAX_CONNS 160
#define VS_HDR 44

#define VS_F_EVENT_IDX (1ull << 29)
#define VS_F_VERSION_1 (1ull << 32)

enum { VS_OP_INVALID, VS_OP_REQUEST, VS_OP_RESPONSE, VS_OP_RST, VS_OP_SHUTDOWN, VS_OP_RW, VS_OP_CREDIT_UPDATE,
       VS_OP_CREDIT_REQUEST };
#define VS_SHUT_RCV 1
#define VS_SHUT_SEND 2

/* virtio-mmio registers */
#define VM_MAGIC 0x000
#define VM_VERSION 0x004
#define VM_DEVICE_ID 0x008
#define VM_VENDOR_ID 0x00c
#define VM_DEVICE_FEATURES 0x010
#define VM_DEVICE_FEATURES_SEL 0x014
#define VM_DRIVER_FEATURES 0x020
#define VM_DRIVER_FEATURES_SEL 0x024
#define VM_QUEUE_SEL 0x030
#define VM_QUEUE_NUM_MAX 0x034
#define VM_QUEUE_NUM 0x038
#define VM_QUEUE_READY 0x044
#define VM_QUEUE_NOTIFY 0x050
#define VM_INTERRUPT_STATUS 0x060
#define VM_INTERRUPT_ACK 0x064
#define VM_STATUS 0x070
#define VM_QUEUE_DESC 0x080
#define VM_QUEUE_DRIVER 0x090
#define VM_QUEUE_DEVICE 0x0a0
#define VM_CONFIG 0x100
#define VS_STATUS_ACK 1
#define VS_STATUS_DRIVER 2
#define VS_STATUS_DRIVER_OK 4
#define VS_STATUS_FEATURES_OK 8
#define VS_STATUS_NEEDS_RESET 64
#define VS_STATUS_FAILED 128

struct vs_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vs_hdr) == VS_HDR, "virtio_vsock_hdr is 44 bytes");

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2

enum vs_state { VS_FREE, VS_CONNECTING, VS_ESTABLISHED, VS_CLOSED };

struct vs_conn {
    uint32_t lport, pport;       /* local (guest) port, peer port */
    uint64_t pcid;
    uint8_t state;
    uint8_t peer_shut;           /* SHUTDOWN flags the device sent */
    uint8_t we_shut;             /* SHUTDOWN flags we sent */
    uint8_t got_rst;
    uint8_t auto_free;           /* accepted by a listener: freed on RST */
    uint8_t in_pump;             /* queued for vs_pump_ready() */
    int16_t next;                /* hash chain */
    /* our sending side: the device's credit */
    uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
    /* our receiving side: what we advertise */
    uint32_t buf_alloc, rx_cnt, fwd_cnt, fwd_announced;
    uint8_t *ring;               /* buf_alloc bytes (a power of two), received and not consumed */
    uint32_t ring_head, ring_len;
    uint32_t max_unconsumed;     /* the most the device ever had outstanding (credit checks) */
    uint32_t overruns;           /* RW beyond the credit we gave (device bug) */
    uint32_t credit_updates_rx, credit_requests_rx, pkts_rx;
    uint64_t last_rx_tsc;
    uint32_t response_src_cid;   /* src_cid of the RESPONSE/RST (CID 2 tests) */
};

struct vs_stats {
    uint32_t rx_packets, tx_packets, kicks, irqs_seen, isr_reads, isr_used_bits;
    uint32_t rx_short, rx_bad;   /* used entries < 44 bytes; headers that do not match (device bugs) */
    uint32_t rx_returned_empty;  /* rx buffers the device handed back with length 0 */
    uint32_t unknown_pkts, rst_sent, refused, accepted, credit_updates_tx;
    uint32_t last_unknown_port;
    uint32_t stray_low, stray_high, stray; /* unknown packets for ports in [low, high] */
    uint32_t closed;             /* accepted connections that ended */
    uint32_t overruns;           /* RW packets beyond the credit we gave (device bug) */
    uint64_t echo_bytes;
};

struct vs_device {
    uint64_t base;
    uint32_t irq;
    uint64_t cid;
    uint64_t offered, negotiated;
    int polling;                 /* probe.vsock_poll=1: never hlt */
    uint64_t memory;             /* queues, buffers, connections: 2 MiB-aligned RAM after the image */
    struct vs_stats st;
};
extern struct vs_device g_vs;

/* Device */
uint32_t vs_r32(uint32_t off);
void vs_w32(uint32_t off, uint32_t v);
int vs_setup(void);              /* command line, memory, interrupts; 0, -1 (cannot map), -2 (no RAM) */
/* The Linux order: reset, ACK, DRIVER, features (accept `want` & offered), FEATURES_OK and
 * re-read, queues, DRIVER_OK, then `rx` rx buffers. Returns 0 or a negative step number. */
int vs_init(uint64_t want, unsigned rx);
void vs_fill_rx(void);           /* post every rx buffer not posted yet */
/* Like vs_fill_rx after vs_init(want, 0), but rx buffer 0's descriptor points at bad_addr. */
void vs_fill_rx_bad_first(uint64_t bad_addr);
void vs_poll(void);              /* consume used rx/tx entries, dispatch packets, kick as needed */
void vs_idle(void);              /* sleep until the next interrupt (or poll once with pause) */
uint64_t vs_now_us(void);
void vs_calibrate(void);         /* TSC rate from the PIT when CPUID has none (~10 ms) */
uint64_t vs_tsc_mhz(void);
/* Raw queue access for the malformed-chain tests. */
struct vring_desc *vs_tx_desc(unsigned slot, unsigned which); /* descriptor 2*slot + which */
int vs_tx_take_slot(void);       /* a free tx slot, or -1 */
void vs_tx_submit(unsigned slot); /* make chain 2*slot available and kick */
/* Chain 2*slot, then avail.idx moved `extra` ahead (more than the ring holds), kick. Only a
 * device reset (vs_init) makes tx usable again. */
void vs_tx_jump_avail(uint16_t extra, unsigned slot);
int vs_tx_slot_busy(unsigned slot);
uint8_t *vs_tx_hdr_area(unsigned slot); /* 64 bytes for the slot's header */
struct vring_desc *vs_rx_desc(unsigned i);
void vs_rx_repost(unsigned i);   /* make rx buffer i available again (descriptor restored) */
extern uint32_t g_vs_rx_last_empty_id;

/* Raw ring access for the hostile modes (vsock_hostile.c); they break the driver's own
 * bookkeeping on purpose (vs_poll would count their chains as device bugs). */
void vs_tx_fill_ring(uint16_t head); /* every tx avail ring entry = chain `head` (not published) */
unsigned vs_tx_refill(void);        /* avail.idx = the device's used.idx + the ring size; returns how many were added */
void vs_tx_kick_if_asked(void);     /* QueueNotify for tx if the device asked (EVENT_IDX) */
unsigned vs_rx_discard(void);       /* used rx buffers reposted unread; returns how many */

/* Connections */
typedef void (*vs_accept_fn)(struct vs_conn *c);
typedef void (*vs_event_fn)(struct vs_conn *c); /* data, credit or shutdown arrived */
void vs_listen(uint32_t port, uint32_t buf_alloc, vs_accept_fn on_accept, vs_event_fn on_event);
struct vs_conn *vs_conn_new(uint64_t cid, uint32_t lport, uint32_t pport, uint32_t buf_alloc);
void vs_conn_free(struct vs_conn *c);
struct vs_conn *vs_connect(uint64_t cid, uint32_t port, uint32_t buf_alloc, uint64_t timeout_us, int *result);
uint32_t vs_peer_credit(const struct vs_conn *c);
/* Queue a packet on connection c (header from c's state); 0, or -1 if no tx slot is free. */
int vs_conn_packet(struct vs_conn *c, uint16_t op, uint32_t flags, const void *data, uint32_t len, int copy);
int vs_send(struct vs_conn *c, const void *data, uint32_t len, uint64_t timeout_us); /* within credit */
uint32_t vs_recv(struct vs_conn *c, void *out, uint32_t len, uint64_t timeout_us);    /* bytes read */
void vs_consume(struct vs_conn *c, void *out, uint32_t n); /* n <= ring_len; may send CREDIT_UPDATE */
void vs_send_credit_update(struct vs_conn *c);
int vs_close(struct vs_conn *c, uint64_t timeout_us); /* 1 if the device answered with RST */
int vs_tx_free_slots(void);
int vs_tx_raw(const struct vs_hdr *h, const void *data, uint32_t len); /* any header; 0 or -1 */
/* Moves n ring bytes (n <= ring_len, <= VS_TX_DATA, <= credit) into one RW packet; 0 or -1. */
int vs_send_from_ring(struct vs_conn *c, uint32_t n);
void vs_flush(void);             /* publish queued tx packets and kick */
uint32_t vs_alloc_port(void);

/* Polls (never halts: no timer would wake us) until cond holds or timeout_us passed, with
 * interrupts enabled (KVM then injects the device's interrupt as soon as it is raised; a short
 * `sti; nop; cli` window let almost none in on this project's nested KVM). */
#define WAIT_UNTIL(cond, timeout_us)                                                                                  \
    ({                                                                                                               \
        uint64_t end_ = vs_now_us() + (timeout_us);                                                                  \
        int ok_;                                                                                                     \
        __asm__ volatile("sti" ::: "memory"); /* irq_stub only counts: safe anywhere in here */                     \
        for (;;) {                                                                                                   \
            vs_poll();                                                                                               \
            if (cond) {                                                                                              \
                ok_ = 1;                                                                                             \
                break;                                                                                               \
            }                                                                                                        \
            if (vs_now_us() >= end_) {                                                                               \
                ok_ = 0;                                                                                             \
                break;                                                                                               \
            }                                                                                                        \
            __asm__ volatile("pause");                                                                               \
        }                                                                                                            \
        __asm__ volatile("cli" ::: "memory");                                                                        \
        ok_;                                                                                                         \
    })

/* Modes (vsock_modes.c) */
extern uint64_t g_start_tsc;
NORETURN void mode_vsock_heartbeat(void);
NORETURN void mode_vsock_echo(void);
NORETURN void mode_vsock_selftest(void);
void vs_boot_heartbeat(void); /* vsock_setup + init + the 0xB7 round trip, or power off */
/* Hostile modes (vsock_hostile.c) */
void mode_hostile(const char *mode); /* runs a hostile mode; returns only if `mode` is not one */
