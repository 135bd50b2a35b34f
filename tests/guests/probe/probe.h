/* tests/guests/probe/probe.h — the probe guest's tiny freestanding runtime (no libc).
 *
 * Port I/O, CPUID/MSR helpers, the serial console and a printf subset, CRC32, boot_params access,
 * the CPU setup (GDT/TSS/IDT/paging) and power-off. Example:
 *   console_init();
 *   print("PROBE initrd_crc32=%08x\n", crc32(0, p, n));
 *   power_off();   // 0xFE to port 0x64, then a triple fault, then cli; hlt
 * Build flags forbid SSE/MMX/red zone; see module.mk. */
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define NORETURN __attribute__((noreturn))

/* --- port I/O, MSRs, CPUID ------------------------------------------------------------------ */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
static inline uint16_t read_cs(void) { uint16_t cs; __asm__ volatile("mov %%cs, %0" : "=r"(cs)); return cs; }

static inline uint64_t mmio_read64(uint64_t addr) { return *(volatile uint64_t *)addr; }
static inline uint8_t mmio_read8(uint64_t addr) { return *(volatile uint8_t *)addr; }
static inline uint16_t mmio_read16(uint64_t addr) { return *(volatile uint16_t *)addr; }
static inline void mmio_write64(uint64_t addr, uint64_t v) { *(volatile uint64_t *)addr = v; }
static inline uint32_t mmio_read32(uint64_t addr) { return *(volatile uint32_t *)addr; }
static inline void mmio_write32(uint64_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }

/* --- libc subset (lib.c) -------------------------------------------------------------------- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s); /* console.c: a word at a time */
size_t span(const char *s, char stop); /* console.c: length up to the first NUL or `stop` byte, a word at a time */
uint32_t crc32(uint32_t crc, const void *data, size_t n); /* zlib-compatible: crc32(0, p, n) */

/* --- console (console.c): 16550 at 0x3F8, output only ------------------------------------- */
extern int g_uart_strings; /* probe.uart=outsb: rep outsb bursts instead of one outb per byte */
void console_init(void);
void console_write(const char *s, size_t n);
void print(const char *fmt, ...);               /* %s %c %u %lu %x %lx %08x %016lx %% */
void vprint(const char *fmt, va_list ap);

/* --- boot_params (bootparams.c) ------------------------------------------------------------- */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_SECTS 0x1f1
#define BP_BOOT_FLAG 0x1fe
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_CODE32_START 0x214
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_CMDLINE_SIZE 0x238
#define BP_SETUP_DATA 0x250
#define BP_E820_TABLE 0x2d0
#define E820_MAX 128
#define E820_RAM 1

struct E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed));

extern uint32_t g_entry_kind;   /* 16, 32 or 64: which entry point ran first */
extern uint64_t g_boot_params;  /* physical address of boot_params (RSI/ESI at entry) */

uint8_t bp_u8(uint32_t off);
uint16_t bp_u16(uint32_t off);
uint32_t bp_u32(uint32_t off);
uint64_t bp_u64(uint32_t off);
const char *bp_cmdline(void);                    /* "" if none */
uint64_t bp_initrd_addr(void);
uint64_t bp_initrd_size(void);
unsigned bp_e820(const struct E820Entry **table); /* number of entries (capped at E820_MAX) */
uint64_t e820_ram_top(void);                      /* end of the highest usable RAM range */
uint64_t e820_ram_top_below_4g(void);
/* Value of "key=" on the command line copied into out (NUL-terminated); 0 if absent. */
int cmdline_get(const char *key, char *out, size_t out_size);
int cmdline_get_nth(const char *key, int nth, char *out, size_t out_size);
uint64_t cmdline_get_u64(const char *key, uint64_t fallback);

/* --- CPU (cpu.c) ------------------------------------------------------------------------------ */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x20
#define SEL_UCODE 0x28
#define SEL_TSS 0x30
void cpu_init(void);                          /* our GDT, TSS, IDT, 0-4 GiB identity map */
int map_identity(uint64_t addr, uint64_t size); /* 2 MiB pages; 0 if out of page-table pool */
/* Maps physical [addr, addr+size) and sets *virt to where it is: identity below 2^47, a window
 * above (not canonical otherwise); 0 if it cannot. */
int map_phys(uint64_t addr, uint64_t size, uint64_t *virt);
uint64_t max_phys_addr_bits(void);
uint64_t tsc_khz(void);                         /* from CPUID, 0 if not known */
uint64_t tsc_khz_measured(void);                /* CPUID, else measured with the PIT, else 1 GHz */
NORETURN void power_off(void);
/* Interrupts (vectors 32-63 count into g_irq_count and EOI; nothing else): PICs masked, local
 * APIC on; ioapic_route(pin, vector) unmasks one edge-triggered IOAPIC pin to this CPU. */
#define TIMER_VECTOR 0x31
extern volatile uint32_t g_irq_count, g_timer_count; /* timer: TIMER_VECTOR only */
void interrupts_init(void);
void ioapic_route(unsigned pin, unsigned vector);
void lapic_timer_oneshot(uint64_t us); /* interrupt on TIMER_VECTOR after ~us */
void lapic_timer_stop(void);
/* Wait for an interrupt: `sti; hlt` (the sti shadow makes the pair atomic), then cli again. */
static inline void wait_for_interrupt(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }

NORETURN void halt_forever(void);

/* Exceptions: the frame built by entry.S. */
struct ExceptionFrame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};
/* A mode may take over exception reporting (e.g. usermode); return nonzero if handled. */
extern int (*g_exception_hook)(struct ExceptionFrame *f);
extern int g_fallback_hlt; /* probe.fallback=hlt: power_off ends in cli; hlt, not a triple fault */
void exception_handler(struct ExceptionFrame *f); /* called by entry.S */

/* Usermode check (usermode.c, shared with entry.S). */
extern uint64_t g_user_rsp;
extern uint32_t g_syscall_cs, g_syscall_at_cpl3;
void syscall_handler(uint32_t request, uint32_t cs);

/* entry.S */
void load_gdt_and_segments(const void *gdtr, uint16_t code, uint16_t data, uint16_t tss);
NORETURN void enter_user_mode(uint64_t rip, uint64_t rsp, uint16_t cs, uint16_t ss);
NORETURN void triple_fault(void);
void syscall_entry(void);
void user_code(void);
extern char exception_stubs[];
void irq_stub(void);
void timer_stub(void);
extern char _payload_start[], _end[];

/* --- main.c --------------------------------------------------------------------------------- */
void probe_main(uint64_t boot_params);
int str_eq(const char *a, const char *b);
uint64_t memory_test(void); /* memtest.c: prints its result lines; returns failures */

/* --- modes (one file each) ------------------------------------------------------------------ */
NORETURN void mode_report(void);
NORETURN void mode_badio(void);
NORETURN void mode_usermode(void);
NORETURN void mode_console(void);
NORETURN void mode_spin(void);
NORETURN void mode_memfill(void); /* memfill.c */
