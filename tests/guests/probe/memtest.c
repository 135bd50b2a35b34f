/* tests/guests/probe/memtest.c — a sparse write/read-back test of the RAM the e820 table reports,
 * to catch a VMM that promises more memory than it backs (or aliases it).
 *
 * Samples: the first and last 8-byte word of each usable range and one word every stride
 * (2 MiB, doubled until at most MAX_SAMPLES fit) inside it, skipping the probe's own image,
 * stacks and tables. Pass 1 saves each word and writes a pattern unique to its address; pass 2
 * reads every word back (all writes first, so aliasing shows); pass 3 restores the saved words in
 * reverse order. Prints `PROBE mem_test=ok samples=N stride=0x...` or
 * `PROBE mem_test=fail ...` with the first mismatches. */
#include "probe.h"

#define MAX_SAMPLES 4096
#define MAX_REPORTED 8

static uint64_t sample_addr[MAX_SAMPLES] __attribute__((section(".noinit")));
static uint64_t sample_saved[MAX_SAMPLES] __attribute__((section(".noinit")));

static uint64_t pattern(uint64_t addr) { return addr ^ 0xa5c3e1f00f1e3c5aull; }

static int in_image(uint64_t a)
{
    return a + 8 > (uint64_t)_payload_start && a < (uint64_t)_end;
}

/* Collects the samples for a stride; returns how many there would be (even beyond the array). */
static unsigned collect(uint64_t stride, unsigned *unmapped)
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
        if (!map_identity(start, last + 8 - start)) {
            (*unmapped)++;
            continue;
        }
        for (uint64_t a = start;; a = (a + stride) & ~(stride - 1)) {
            if (a > last)
                a = last;
            if (!in_image(a)) {
                if (count < MAX_SAMPLES)
                    sample_addr[count] = a;
                count++;
            }
            if (a == last)
                break;
        }
    }
    return count;
}

uint64_t memory_test(void)
{
    uint64_t stride = 0x200000;
    unsigned unmapped, n;
    while ((n = collect(stride, &unmapped)) > MAX_SAMPLES)
        stride <<= 1;
    if (unmapped)
        print("PROBE mem_test_unmapped_ranges=%u\n", unmapped);

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
