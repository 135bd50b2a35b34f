/* tests/guests/probe/bootparams.c — reading what the loader handed over: boot_params fields, the
 * e820 table, the initrd location and the kernel command line ("probe.mode=report ...").
 * Addresses above the 4 GiB identity map are mapped on first use. */
#include "probe.h"

/* Written by entry.S before .bss is zeroed, so they live in .data. */
__attribute__((section(".data"))) uint32_t g_entry_kind;
__attribute__((section(".data"))) uint64_t g_boot_params;

static const uint8_t *bp(void) { return (const uint8_t *)g_boot_params; }

uint8_t bp_u8(uint32_t off) { return bp()[off]; }
uint16_t bp_u16(uint32_t off) { uint16_t v; memcpy(&v, bp() + off, 2); return v; }
uint32_t bp_u32(uint32_t off) { uint32_t v; memcpy(&v, bp() + off, 4); return v; }
uint64_t bp_u64(uint32_t off) { uint64_t v; memcpy(&v, bp() + off, 8); return v; }

const char *bp_cmdline(void)
{
    uint64_t p = bp_u32(BP_CMD_LINE_PTR) | ((uint64_t)bp_u32(BP_EXT_CMD_LINE_PTR) << 32);
    if (!p || !map_identity(p, 4096 * 2))
        return "";
    return (const char *)p;
}

uint64_t bp_initrd_addr(void)
{
    return bp_u32(BP_RAMDISK_IMAGE) | ((uint64_t)bp_u32(BP_EXT_RAMDISK_IMAGE) << 32);
}

uint64_t bp_initrd_size(void)
{
    return bp_u32(BP_RAMDISK_SIZE) | ((uint64_t)bp_u32(BP_EXT_RAMDISK_SIZE) << 32);
}

unsigned bp_e820(const struct E820Entry **table)
{
    *table = (const struct E820Entry *)(bp() + BP_E820_TABLE);
    unsigned n = bp_u8(BP_E820_ENTRIES);
    return n > E820_MAX ? E820_MAX : n;
}

static uint64_t ram_top(uint64_t limit)
{
    const struct E820Entry *e;
    unsigned n = bp_e820(&e);
    uint64_t top = 0;
    for (unsigned i = 0; i < n; i++) {
        if (e[i].type != E820_RAM)
            continue;
        uint64_t end = e[i].addr + e[i].size;
        if (end > limit)
            end = e[i].addr < limit ? limit : 0;
        if (end > top)
            top = end;
    }
    return top;
}

uint64_t e820_ram_top(void) { return ram_top(~0ull); }
uint64_t e820_ram_top_below_4g(void) { return ram_top(1ull << 32); }

/* Tokens are measured with span() (8 bytes per step): a byte loop over the whole command line
 * costs milliseconds per lookup on a KVM that emulates guest instructions. */
int cmdline_get(const char *key, char *out, size_t out_size)
{
    return cmdline_get_nth(key, -1, out, out_size);
}

/* Occurrence `nth` of key= (0 = the first; -1 = the last, as Linux takes most parameters). */
int cmdline_get_nth(const char *key, int nth, char *out, size_t out_size)
{
    const char *s = bp_cmdline();
    size_t klen = strlen(key);
    int found = 0, seen = 0;
    while (*s) {
        if (*s == ' ') {
            s++;
            continue;
        }
        const char *tok = s;
        size_t tlen = span(tok, ' ');
        s += tlen;
        if (tlen > klen && tok[klen] == '=') {
            size_t i = 0;
            while (i < klen && tok[i] == key[i])
                i++;
            if (i == klen && (nth < 0 || seen++ == nth)) {
                size_t vlen = tlen - klen - 1;
                if (vlen >= out_size)
                    vlen = out_size - 1;
                memcpy(out, tok + klen + 1, vlen);
                out[vlen] = 0;
                found = 1;
            }
        }
    }
    return found;
}

uint64_t cmdline_get_u64(const char *key, uint64_t fallback)
{
    char v[24];
    if (!cmdline_get(key, v, sizeof v) || !v[0])
        return fallback;
    uint64_t n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return fallback;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    return n;
}
