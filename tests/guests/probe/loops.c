/* tests/guests/probe/loops.c — the output-only modes:
 *   probe.mode=console [probe.lines=N]: N lines (default 1000)
 *       `PROBE console line=<i> text=the quick brown fox jumps over the lazy dog`, i from 1,
 *       zero-padded to the width of N (all lines the same length), then
 *       `PROBE console_done lines=N crc32=<crc32 of all those lines' bytes, newlines included>`,
 *       then power off (console ring-buffer and replay tests).
 *   probe.mode=spin [probe.tick_ms=MS] [probe.ticks=N]: `PROBE tick <n>` every MS milliseconds of
 *       TSC time (default 1000; TSC rate from CPUID, 1 GHz assumed if unknown), forever or N times
 *       then power off (console-follow tests). */
#include "probe.h"

#define CONSOLE_PREFIX "PROBE console line="
#define CONSOLE_SUFFIX " text=the quick brown fox jumps over the lazy dog\n"

/* Each line is the same template with only the zero-padded number rewritten: a handful of guest
 * instructions per line besides the port writes and the CRC. */
void mode_console(void)
{
    uint64_t lines = cmdline_get_u64("probe.lines", 1000);
    unsigned width = 1;
    for (uint64_t v = lines; v >= 10; v /= 10)
        width++;
    char line[sizeof CONSOLE_PREFIX + 20 + sizeof CONSOLE_SUFFIX];
    const size_t prefix = sizeof CONSOLE_PREFIX - 1, suffix = sizeof CONSOLE_SUFFIX - 1;
    const size_t len = prefix + width + suffix;
    memcpy(line, CONSOLE_PREFIX, prefix);
    memcpy(line + prefix + width, CONSOLE_SUFFIX, suffix);
    uint32_t crc = 0;
    for (uint64_t i = 1; i <= lines; i++) {
        uint64_t v = i;
        for (char *d = line + prefix + width; d > line + prefix; v /= 10)
            *--d = (char)('0' + v % 10);
        console_write(line, len);
        crc = crc32(crc, line, len);
    }
    print("PROBE console_done lines=%lu crc32=%08x\n", lines, crc);
    power_off();
}

void mode_spin(void)
{
    uint64_t khz = tsc_khz();
    if (!khz)
        khz = 1000000;
    uint64_t period = khz * cmdline_get_u64("probe.tick_ms", 1000);
    uint64_t ticks = cmdline_get_u64("probe.ticks", 0);
    print("PROBE spin tsc_khz=%lu\n", khz);
    uint64_t next = rdtsc() + period;
    for (uint64_t n = 1;;) {
        if (rdtsc() >= next) {
            print("PROBE tick %lu\n", n);
            if (ticks && n >= ticks)
                power_off();
            n++;
            next += period;
        }
        __asm__ volatile("pause");
    }
}
