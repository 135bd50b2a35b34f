/* tests/guests/probe/loops.c — the output-only modes:
 *   probe.mode=console [probe.lines=N]: N lines (default 1000)
 *       `PROBE console line=<i> text=<fixed text>`, then
 *       `PROBE console_done lines=N crc32=<crc32 of all those lines' bytes, newlines included>`,
 *       then power off (console ring-buffer and replay tests).
 *   probe.mode=spin [probe.tick_ms=MS] [probe.ticks=N]: `PROBE tick <n>` every MS milliseconds of
 *       TSC time (default 1000; TSC rate from CPUID, 1 GHz assumed if unknown), forever or N times
 *       then power off (console-follow tests). */
#include "probe.h"

#define CONSOLE_TEXT "the quick brown fox jumps over the lazy dog 0123456789"

void mode_console(void)
{
    uint64_t lines = cmdline_get_u64("probe.lines", 1000);
    uint32_t crc = 0;
    char buf[128];
    for (uint64_t i = 1; i <= lines; i++) {
        size_t n = format(buf, sizeof buf, "PROBE console line=%lu text=%s\n", i, CONSOLE_TEXT);
        console_write(buf, n);
        crc = crc32(crc, buf, n);
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
