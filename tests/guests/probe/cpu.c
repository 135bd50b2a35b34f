/* tests/guests/probe/cpu.c — CPU state the probe owns once C runs: its own GDT (kernel and user
 * segments, a TSS with RSP0), an IDT whose 32 exception vectors print the vector, error code,
 * RIP and CS and power off, and identity-mapped page tables (user-accessible, for the usermode
 * check; 1 GiB pages when the CPU has them, else 2 MiB) that start with the first 2 MiB and the
 * zero page and that map_identity() extends wherever the probe looks (command line, initrd, RAM
 * samples, MMIO).
 * Power off = 0xFE to port 0x64 (keyboard-controller reset, what qt-vmm treats as the end);
 * if the VMM ignores that, a triple fault (or with probe.fallback=hlt, cli; hlt forever). */
#include "probe.h"

#define PT_POOL_PAGES 48
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_PS 0x80ull
#define PTE_TABLE (PTE_P | PTE_RW | PTE_US)
#define PTE_ADDR 0x000ffffffffff000ull
#define TWO_MIB 0x200000ull
#define ONE_GIB 0x40000000ull

struct Tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

struct IdtGate {
    uint16_t offset_lo, selector;
    uint8_t ist, type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi, zero;
} __attribute__((packed));

struct DescriptorPointer {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

static uint64_t pt_pool[PT_POOL_PAGES][512] __attribute__((aligned(4096), section(".noinit")));
static unsigned pt_used;
static uint64_t *pml4;
static uint64_t phys_limit;
static int gib_pages; /* CPUID 0x80000001 EDX.26: 1 GiB pages, far fewer entries to write */
static uint8_t ring0_stack[8192] __attribute__((aligned(16), section(".noinit")));
static struct Tss tss;
static uint64_t gdt[8];
static struct IdtGate idt[64]; /* 0-31 exceptions, 32-63 interrupts (irq_stub) */
int (*g_exception_hook)(struct ExceptionFrame *f);
int g_fallback_hlt;

static uint64_t *alloc_table(void)
{
    if (pt_used >= PT_POOL_PAGES)
        return 0;
    uint64_t *t = pt_pool[pt_used++];
    memset(t, 0, 4096);
    return t;
}

static uint64_t *next_level(uint64_t *table, unsigned index)
{
    if (!(table[index] & PTE_P)) {
        uint64_t *t = alloc_table();
        if (!t)
            return 0;
        table[index] = (uint64_t)t | PTE_TABLE;
    }
    return (uint64_t *)(table[index] & PTE_ADDR);
}

/* With 4-level paging only virtual addresses below 2^47 (the canonical lower half) can be
 * identity-mapped; physical addresses at or above it (CPUs with 48 or more physical address bits)
 * are reached through a 512 GiB window, one PML4 entry, congruent with them modulo 512 GiB. */
#define CANONICAL_LOW_LIMIT (1ull << 47)
#define HIGH_WINDOW 0x00007f0000000000ull
#define WINDOW_SPAN (512 * ONE_GIB)

static uint64_t virt_of(uint64_t phys)
{
    return phys < CANONICAL_LOW_LIMIT ? phys : HIGH_WINDOW + (phys & (WINDOW_SPAN - 1));
}

/* The large page holding physical address pa in *entry; an entry already there must map the
 * same physical address (the window can alias: then the second mapping is refused). */
static int map_large(uint64_t pa, uint64_t *entry, uint64_t page)
{
    uint64_t want = (pa & ~(page - 1)) | PTE_TABLE | PTE_PS;
    if (!(*entry & PTE_P))
        *entry = want;
    return (*entry & PTE_PS) ? (*entry & PTE_ADDR) == (want & PTE_ADDR) : 1;
}

int map_phys(uint64_t addr, uint64_t size, uint64_t *virt)
{
    uint64_t start = addr & ~(TWO_MIB - 1);
    uint64_t end = addr + (size ? size : 1);
    if (end < addr || end > phys_limit)
        return 0;
    if (addr < CANONICAL_LOW_LIMIT && end > CANONICAL_LOW_LIMIT)
        return 0; /* straddles the window's edge: never needed by the probe */
    for (uint64_t a = start; a < end; a += TWO_MIB) {
        uint64_t va = virt_of(a);
        uint64_t *pdpt = next_level(pml4, (va >> 39) & 511);
        if (!pdpt)
            return 0;
        uint64_t *pdpte = &pdpt[(va >> 30) & 511];
        if (gib_pages) {
            if (!map_large(a, pdpte, ONE_GIB))
                return 0;
            a = (a | (ONE_GIB - 1)) + 1 - TWO_MIB;
            continue;
        }
        if (*pdpte & PTE_PS) {
            if ((*pdpte & PTE_ADDR) != (a & ~(ONE_GIB - 1)))
                return 0;
            a = (a | (ONE_GIB - 1)) + 1 - TWO_MIB;
            continue;
        }
        uint64_t *pd = next_level(pdpt, (va >> 30) & 511);
        if (!pd || !map_large(a, &pd[(va >> 21) & 511], TWO_MIB))
            return 0;
    }
    *virt = virt_of(addr);
    return 1;
}

int map_identity(uint64_t addr, uint64_t size)
{
    uint64_t virt;
    return addr + size <= CANONICAL_LOW_LIMIT && map_phys(addr, size, &virt);
}

uint64_t max_phys_addr_bits(void)
{
    uint32_t r[4];
    cpuid(0x80000000, 0, r);
    if (r[0] < 0x80000008)
        return 36;
    cpuid(0x80000008, 0, r);
    return r[0] & 0xff;
}

uint64_t tsc_khz(void)
{
    uint32_t r[4];
    cpuid(0x40000000, 0, r);
    if (r[0] >= 0x40000010 && r[0] < 0x40000100) {
        cpuid(0x40000010, 0, r);
        if (r[0])
            return r[0];
    }
    cpuid(0, 0, r);
    uint32_t max = r[0];
    if (max >= 0x15) {
        cpuid(0x15, 0, r);
        if (r[0] && r[1] && r[2])
            return (uint64_t)r[2] * r[1] / r[0] / 1000;
    }
    if (max >= 0x16) {
        cpuid(0x16, 0, r);
        if (r[0])
            return (uint64_t)r[0] * 1000;
    }
    return 0;
}

/* KVM's pvclock (MSR_KVM_SYSTEM_TIME_NEW) tells the TSC rate exactly: ns = tsc * mul >> 32,
 * with tsc shifted by `shift` first. 0 if this is not KVM or it has no kvmclock. */
static uint64_t pvclock_tsc_khz(void)
{
    static struct {
        uint32_t version, pad0;
        uint64_t tsc_timestamp, system_time;
        uint32_t tsc_to_system_mul;
        int8_t tsc_shift;
        uint8_t flags, pad[2];
    } __attribute__((aligned(32))) clock;
    uint32_t r[4];
    cpuid(0x40000000, 0, r);
    if (r[1] != 0x4b4d564b || r[0] < 0x40000001) /* "KVMK" */
        return 0;
    cpuid(0x40000001, 0, r);
    if (!(r[0] & (1u << 3))) /* KVM_FEATURE_CLOCKSOURCE2 */
        return 0;
    wrmsr(0x4b564d01, (uint64_t)&clock | 1); /* KVM fills it in before we run again */
    wrmsr(0x4b564d01, 0);
    uint32_t mul = ((volatile uint32_t *)&clock.tsc_to_system_mul)[0];
    int shift = ((volatile int8_t *)&clock.tsc_shift)[0];
    if (!mul)
        return 0;
    uint64_t khz = (1000000ull << 32) / mul; /* kHz = 1e6 * 2^32 / mul, then undo the shift */
    return shift >= 0 ? khz >> shift : khz << -shift;
}

/* The PIT's channel 2 counts 10 ms (OUT2 = port 0x61 bit 5); 0 if there is no PIT. */
static uint64_t pit_tsc_khz(void)
{
    const uint16_t count = 11932; /* 1193182 Hz / 100 */
    uint64_t khz = 0;
    uint8_t saved = inb(0x61);
    outb(0x61, (uint8_t)((saved & ~0x02) | 0x01)); /* gate on, speaker off */
    outb(0x43, 0xb0);                              /* channel 2, lobyte/hibyte, mode 0 */
    outb(0x42, (uint8_t)count);
    outb(0x42, (uint8_t)(count >> 8));
    uint64_t t0 = rdtsc();
    if (!(inb(0x61) & 0x20)) { /* OUT2 low while counting (all ones: no PIT here) */
        unsigned polls = 0;
        while (!(inb(0x61) & 0x20) && ++polls < 1000000)
            ;
        if (polls < 1000000)
            khz = (rdtsc() - t0) / 10;
    }
    outb(0x61, saved);
    return khz;
}

/* TSC rate: CPUID, else kvmclock, else the median of three PIT measurements (a busy host delays
 * single ones), else 1 GHz assumed. Computed once. */
uint64_t tsc_khz_measured(void)
{
    static uint64_t cached;
    if (cached)
        return cached;
    uint64_t khz = tsc_khz();
    if (!khz)
        khz = pvclock_tsc_khz();
    if (!khz) {
        uint64_t a = pit_tsc_khz(), b = pit_tsc_khz(), c = pit_tsc_khz(), t;
        if (a > b)
            t = a, a = b, b = t;
        if (b > c)
            t = b, b = c, c = t;
        if (a > b)
            t = a, a = b, b = t;
        khz = b;
    }
    cached = khz ? khz : 1000000;
    return cached;
}

static void paging_init(void)
{
    uint32_t r[4];
    cpuid(0x80000000, 0, r);
    if (r[0] >= 0x80000001) {
        cpuid(0x80000001, 0, r);
        gib_pages = (r[3] >> 26) & 1;
    }
    phys_limit = 1ull << max_phys_addr_bits();
    pml4 = alloc_table();
    /* Only what the probe itself runs in: the first 2 MiB (image, stacks, tables) and the zero
     * page. Everything else (command line, initrd, RAM samples, MMIO) is mapped where it is used:
     * writing 2048 entries for 0-4 GiB costs ~0.5 s of emulated instructions on a nested KVM. */
    map_identity(0, TWO_MIB);
    map_identity(g_boot_params, 4096);
    __asm__ volatile("mov %0, %%cr3" ::"r"(pml4) : "memory");
}

static void gdt_init(void)
{
    gdt[1] = 0x00af9a000000ffffull; /* 0x08 kernel code, 64-bit */
    gdt[2] = 0x00cf92000000ffffull; /* 0x10 kernel data */
    gdt[3] = 0x00cffa000000ffffull; /* 0x18 user code, 32-bit (SYSRET's STAR base) */
    gdt[4] = 0x00cff2000000ffffull; /* 0x20 user data */
    gdt[5] = 0x00affa000000ffffull; /* 0x28 user code, 64-bit */
    uint64_t base = (uint64_t)&tss, limit = sizeof tss - 1;
    gdt[6] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
             (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    gdt[7] = base >> 32;
    tss.rsp[0] = (uint64_t)(ring0_stack + sizeof ring0_stack);
    tss.iomap_base = sizeof tss;
    struct DescriptorPointer gdtr = {sizeof gdt - 1, (uint64_t)gdt};
    load_gdt_and_segments(&gdtr, SEL_KCODE, SEL_KDATA, SEL_TSS);
}

static void idt_init(void)
{
    for (unsigned v = 0; v < 64; v++) {
        uint64_t h = v < 32 ? (uint64_t)(exception_stubs + 16 * v) : v == TIMER_VECTOR ? (uint64_t)timer_stub : (uint64_t)irq_stub;
        idt[v] = (struct IdtGate){(uint16_t)h, SEL_KCODE, 0, 0x8e, (uint16_t)(h >> 16), (uint32_t)(h >> 32), 0};
    }
    struct DescriptorPointer idtr = {sizeof idt - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" ::"m"(idtr));
}

void cpu_init(void)
{
    paging_init();
    gdt_init();
    idt_init();
}

void exception_handler(struct ExceptionFrame *f)
{
    static int nested;
    if (nested++)
        power_off();
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    print("PROBE exception vector=%lu error=0x%lx rip=0x%lx cs=0x%lx rsp=0x%lx cr2=0x%lx\n", f->vector,
          f->error, f->rip, f->cs, f->rsp, cr2);
    if (g_exception_hook)
        g_exception_hook(f);
    power_off();
}

/* Interrupts: the 8259s are remapped to 0x20-0x2f and masked, the local APIC is enabled (spurious
 * vector 0x3f) with LINT0 (ExtINT, which the VMM set up for the PIC) masked, so only what
 * ioapic_route() unmasks (edge-triggered, active high, fixed delivery to this CPU) and the local
 * APIC timer can interrupt. Vectors 32-63 run entry.S irq_stub (TIMER_VECTOR: timer_stub): it
 * counts (g_irq_count / g_timer_count), sends the local APIC EOI and returns; the interrupted
 * code (an `sti; hlt`, or a polling loop) looks for what happened. */
#define IOAPIC_BASE 0xfec00000ull
#define LAPIC_BASE 0xfee00000ull

volatile uint32_t g_irq_count, g_timer_count;

static void ioapic_write(uint32_t reg, uint32_t value)
{
    mmio_write32(IOAPIC_BASE, reg);
    mmio_write32(IOAPIC_BASE + 0x10, value);
}

void interrupts_init(void)
{
    static const uint8_t pic_init[2][5] = {{0x20, 0x11, 0x20, 0x04, 0x01}, {0xa0, 0x11, 0x28, 0x02, 0x01}};
    for (unsigned i = 0; i < 2; i++) {
        uint16_t cmd = pic_init[i][0];
        outb(cmd, pic_init[i][1]); /* ICW1: edge, cascade, ICW4 follows */
        outb(cmd + 1, pic_init[i][2]); /* ICW2: vector base */
        outb(cmd + 1, pic_init[i][3]); /* ICW3 */
        outb(cmd + 1, pic_init[i][4]); /* ICW4: 8086 mode */
        outb(cmd + 1, 0xff); /* OCW1: everything masked */
    }
    map_identity(IOAPIC_BASE, 4096);
    map_identity(LAPIC_BASE, 4096);
    mmio_write32(LAPIC_BASE + 0x350, 1u << 16); /* LVT LINT0 masked: no PIC interrupts */
    mmio_write32(LAPIC_BASE + 0x80, 0);         /* TPR: accept every priority */
    mmio_write32(LAPIC_BASE + 0xf0, 0x100 | 0x3f); /* SVR: APIC on, spurious vector 0x3f */
}

/* One-shot local APIC timer on TIMER_VECTOR (a watchdog for `hlt`): divide by 16, KVM's APIC
 * bus runs at 1 GHz. */
void lapic_timer_oneshot(uint64_t us)
{
    uint64_t count = us * 1000 / 16;
    mmio_write32(LAPIC_BASE + 0x3e0, 0x3); /* divide by 16 */
    mmio_write32(LAPIC_BASE + 0x320, TIMER_VECTOR); /* one-shot, unmasked */
    mmio_write32(LAPIC_BASE + 0x380, count > 0xffffffffull ? 0xffffffffu : (uint32_t)count);
}

void lapic_timer_stop(void)
{
    mmio_write32(LAPIC_BASE + 0x380, 0);
    mmio_write32(LAPIC_BASE + 0x320, 1u << 16);
}

void ioapic_route(unsigned pin, unsigned vector)
{
    uint32_t apic_id = mmio_read32(LAPIC_BASE + 0x20) >> 24;
    ioapic_write(0x10 + 2 * pin + 1, apic_id << 24);
    ioapic_write(0x10 + 2 * pin, vector & 0xff); /* fixed, physical, active high, edge, unmasked */
}

void power_off(void)
{
    outb(0x64, 0xfe);
    if (g_fallback_hlt)
        halt_forever();
    triple_fault();
}

void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}
