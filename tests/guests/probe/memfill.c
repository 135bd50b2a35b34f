/* tests/guests/probe/memfill.c — probe.mode=memfill: proves that guest RAM is scrubbed between
 * enclaves (the pre-zeroed pool, vmm/host/zeroed_pool.h). It visits one 4 KiB page every
 * probe.fill_stride bytes (default 64 KiB, i.e. 32 pages of every 2 MiB hugepage; 4096 = all of
 * RAM) of every e820 RAM range, outside the probe's own image. probe.fill=write writes a word
 * unique to its address over every 8-byte word of those pages (`PROBE fill=written words=N`);
 * probe.fill=check (default) reads every such word and prints `PROBE fill=checked words=N
 * found=M`, M being how many still hold that pattern (a previous enclave's data), the first few
 * as `PROBE fill_found=0x...`; probe.fill=selftest does both in one boot (found = words: the
 * check sees what is there). Then it powers off, or with probe.fill_end=hlt halts (the enclave,
 * and its RAM, stay until stopped). Why not all of RAM by default: each first
 * touch of a 4 KiB guest page costs a few milliseconds on this project's nested KVM (minutes
 * per 128 MiB); the host zeroes whole chunks (unit-tested), so a sample per 64 KiB of every
 * hugepage is enough to see a chunk that was not scrubbed. */
#include "probe.h"

#define MAX_REPORTED 4

static uint64_t fill_pattern(uint64_t addr) { return addr ^ 0x9e3779b97f4a7c15ull; }

static int in_image(uint64_t a) { return a + 8 > (uint64_t)_payload_start && a < (uint64_t)_end; }

/* One pass over the 4 KiB pages every `stride` bytes of RAM: writes every word, or checks every
 * word; returns the words visited and counts the patterns found. */
static uint64_t pass(const struct E820Entry *e, unsigned n, uint64_t stride, int write, uint64_t *found)
{
    uint64_t words = 0;
    *found = 0;
    for (unsigned i = 0; i < n; i++) {
        if (e[i].type != E820_RAM || e[i].size < 4096)
            continue;
        uint64_t start = (e[i].addr + 4095) & ~4095ull, end = (e[i].addr + e[i].size) & ~4095ull;
        if (end <= start)
            continue;
        if (!map_identity(start, end - start)) {
            print("PROBE fill=unmappable range=0x%lx:0x%lx\n", start, end - start);
            power_off();
        }
        for (uint64_t page = start; page < end; page += stride)
            for (uint64_t a = page; a < page + 4096; a += 8) {
                if (in_image(a))
                    continue;
                words++;
                if (write) {
                    *(volatile uint64_t *)a = fill_pattern(a);
                } else if (*(volatile uint64_t *)a == fill_pattern(a)) {
                    if (*found < MAX_REPORTED)
                        print("PROBE fill_found=0x%lx\n", a);
                    (*found)++;
                }
            }
    }
    return words;
}

NORETURN void mode_memfill(void)
{
    char what[10] = "check", end[8] = "off";
    cmdline_get("probe.fill", what, sizeof what); /* before the command line may be overwritten */
    cmdline_get("probe.fill_end", end, sizeof end);
    /* A copy: boot_params (where the table is) is RAM this overwrites. */
    static struct E820Entry e[E820_MAX];
    const struct E820Entry *table;
    unsigned n = bp_e820(&table);
    for (unsigned i = 0; i < n; i++)
        e[i] = table[i];
    uint64_t stride = cmdline_get_u64("probe.fill_stride", 0x10000) & ~4095ull;
    if (!stride)
        stride = 4096;
    uint64_t found, words;
    if (str_eq(what, "write") || str_eq(what, "selftest")) {
        words = pass(e, n, stride, 1, &found);
        print("PROBE fill=written words=%lu\n", words);
    }
    if (!str_eq(what, "write")) {
        words = pass(e, n, stride, 0, &found);
        print("PROBE fill=checked words=%lu found=%lu\n", words, found);
    }
    if (str_eq(end, "hlt"))
        halt_forever(); /* the enclave keeps running (and holding its RAM) until stopped */
    power_off();
}
