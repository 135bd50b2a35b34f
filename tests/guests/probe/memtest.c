/* tests/guests/probe/memtest.c — a sparse write/read-back test of the RAM the e820 table reports,
 * to catch a VMM that promises more memory than it backs (or aliases it).
 *
 * Samples: the first and last 8-byte word of each usable range and one word every stride inside
 * it (2 MiB, doubled until the samples fit in probe.mem_samples=N, default 64, at most 1024),
 * skipping the probe's own image, stacks and tables. probe.mem_samples=0 skips the test. Each
 * sample touches a new page: on the nested KVM here that costs a few milliseconds (and, with
 * hugepage-backed RAM, makes the host fault in the whole hugepage). Pass 1 saves each word and writes a pattern unique to its address; pass 2
 * reads every word back (all writes first, so aliasing shows); pass 3 restores the saved words in
 * reverse order. Prints `PROBE mem_test=ok samples=N stride=0x...` or
 * `PROBE mem_test=fail ...` with the first mismatches. */
#include "probe.h"

#define MAX_SAMPLES 1024
#define DEFAULT_SAMPLES 64
#define MAX_REPORTED 8

static uint64_t sample_addr[MAX_SAMPLES] __attribute__((section(".noinit")));
static uint64_t sample_saved[MAX_SAMPLES] __attribute__((section(".noinit")));

static uint64_t pattern(uint64_t addr) { return addr ^ 0xa5c3e1f00f1e3c5aull; }

static int in_image(uint64_t a)
{
    return a + 8 > (uint64_t)_payload_start && a < (uint64_t)_end;
}

/* Picks the stride: 2 MiB, doubled until the samples fit in max_samples. */
static uint64_t choose_stride(unsigned max_samples)
{
    const struct E820Entry *e;
    unsigned n = bp_e820(&e), ranges = 0;
    uint64_t ram = 0, stride = 0x200000;
    for (unsigned i = 0; i < n; i++)
        if (e[i].type == E820_RAM && e[i].size >= 8)
            ram += e[i].size, ranges++;
    while (ram / stride + 3 * ranges > max_samples && stride < (1ull << 62))
        stride <<= 1;
    return stride;
}

/* Collects (and maps) the sample addresses; returns how many. */
static unsigned collect(uint64_t stride, unsigned max_samples, unsigned *unmapped)
{
    const struct E820Entry *e;
    unsigned n = bp_e820(&e), count = 0;
    *unmapped = 0;
    for (unsigned i = 0; i < n; i++) {
        if (e[i].type != E820_RAM || e[i].size < 8)
            continue;
        uint64_t start = (e[i].addr + 7) & ~7ull, last = (e[i].addr + e[i].size - 8) & ~7ull;
        if (last < start)
            continue;
        for (uint64_t a = start; count < max_samples; a = (a + stride) & ~(stride - 1)) {
            if (a > last)
                a = last;
            if (!map_identity(a, 8))
                (*unmapped)++;
            else if (!in_image(a))
                sample_addr[count++] = a;
            if (a == last)
                break;
        }
    }
    return count;
}

uint64_t memory_test(void)
{
    uint64_t max = cmdline_get_u64("probe.mem_samples", DEFAULT_SAMPLES);
    if (!max) {
        print("PROBE mem_test=skipped\n");
        return 0;
    }
    unsigned max_samples = max > MAX_SAMPLES ? MAX_SAMPLES : (unsigned)max;
    uint64_t stride = choose_stride(max_samples);
    unsigned unmapped, n = collect(stride, max_samples, &unmapped);
    if (unmapped)
        print("PROBE mem_test_unmappable=%u\n", unmapped);

    for (unsigned i = 0; i < n; i++) {
        sample_saved[i] = mmio_read64(sample_addr[i]);
        mmio_write64(sample_addr[i], pattern(sample_addr[i]));
    }
    uint64_t failures = 0, first_bad[MAX_REPORTED], first_read[MAX_REPORTED];
    for (unsigned i = 0; i < n; i++) {
        uint64_t v = mmio_read64(sample_addr[i]);
        if (v != pattern(sample_addr[i])) {
            if (failures < MAX_REPORTED) {
                first_bad[failures] = sample_addr[i];
                first_read[failures] = v;
            }
            failures++;
        }
    }
    for (unsigned i = n; i-- > 0;)
        mmio_write64(sample_addr[i], sample_saved[i]);

    if (!failures) {
        print("PROBE mem_test=ok samples=%u stride=0x%lx\n", n, stride);
        return 0;
    }
    print("PROBE mem_test=fail samples=%u failures=%lu\n", n, failures);
    for (uint64_t i = 0; i < failures && i < MAX_REPORTED; i++)
        print("PROBE mem_test_bad=0x%lx wrote=0x%lx read=0x%lx\n", first_bad[i], pattern(first_bad[i]),
              first_read[i]);
    return failures;
}
