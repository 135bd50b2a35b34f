/* tests/guests/probe/main.c — probe_main(): picks the behaviour from `probe.mode=` on the kernel
 * command line (default report) and runs it. See README.md for every mode and output line. */
#include "vsock.h"

int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* firstio must end before anything else runs, even our own page tables: look for the exact token
 * with the loader's mapping (the first 1 GiB at least, as the boot protocols promise). */
static int early_mode_is_firstio(void)
{
    const uint64_t mapped = 1ull << 30;
    if (g_boot_params >= mapped - 4096)
        return 0;
    uint64_t p = bp_u32(BP_CMD_LINE_PTR) | ((uint64_t)bp_u32(BP_EXT_CMD_LINE_PTR) << 32);
    if (!p || p >= mapped - 8192)
        return 0;
    static const char token[] = "probe.mode=firstio";
    const char *s = (const char *)p;
    for (size_t i = 0; s[i] && i < 4096; i++) {
        if (i && s[i - 1] != ' ')
            continue;
        size_t k = 0;
        while (token[k] && s[i + k] == token[k])
            k++;
        if (!token[k] && (s[i + k] == ' ' || s[i + k] == 0))
            return 1;
    }
    return 0;
}

void probe_main(uint64_t boot_params)
{
    (void)boot_params; /* entry.S also stored it in g_boot_params */
    g_start_tsc = rdtsc();
    if (early_mode_is_firstio())
        power_off();
    cpu_init();
    console_init();

    char mode[32] = "report", option[8];
    cmdline_get("probe.mode", mode, sizeof mode);
    if (cmdline_get("probe.fallback", option, sizeof option) && str_eq(option, "hlt"))
        g_fallback_hlt = 1;
    if (cmdline_get("probe.uart", option, sizeof option) && str_eq(option, "outsb"))
        g_uart_strings = 1;
    if (str_eq(mode, "firstio")) /* the early check could not read the command line */
        power_off();
    print("PROBE start entry=%u mode=%s\n", g_entry_kind, mode);

    if (str_eq(mode, "report"))
        mode_report();
    if (str_eq(mode, "badio"))
        mode_badio();
    if (str_eq(mode, "usermode"))
        mode_usermode();
    if (str_eq(mode, "console"))
        mode_console();
    if (str_eq(mode, "spin"))
        mode_spin();
    if (str_eq(mode, "memfill"))
        mode_memfill();
    if (str_eq(mode, "vsock-heartbeat"))
        mode_vsock_heartbeat();
    if (str_eq(mode, "vsock-echo"))
        mode_vsock_echo();
    if (str_eq(mode, "vsock-selftest"))
        mode_vsock_selftest();
    mode_hostile(mode); /* returns unless `mode` is one of vsock_hostile.c's */
    if (str_eq(mode, "triple")) {
        print("PROBE triple\n");
        triple_fault();
    }
    if (str_eq(mode, "hlt")) {
        print("PROBE hlt\n");
        halt_forever();
    }
    print("PROBE error unknown_mode=%s\n", mode);
    power_off();
}
