/* tests/guests/probe/report.c — probe.mode=report: prints, one `PROBE key=value` per line, what
 * the loader and the VMM handed over (entry, CPL, boot_params header, command line, e820,
 * setup_data, initrd address/size/CRC32, CPUID), runs the sparse RAM test, prints
 * `PROBE done` and powers off. */
#include "probe.h"

#define SETUP_DATA_MAX 16

static void report_cmdline(void)
{
    const char *c = bp_cmdline();
    print("PROBE cmdline=");
    console_write(c, strlen(c));
    print("\n");
}

static void report_e820(void)
{
    const struct E820Entry *e;
    unsigned n = bp_e820(&e);
    print("PROBE e820_entries=%u\n", n);
    for (unsigned i = 0; i < n; i++)
        print("PROBE e820=0x%lx:0x%lx:%u\n", e[i].addr, e[i].size, e[i].type);
    print("PROBE mem_top=0x%lx\n", e820_ram_top());
}

static void report_setup_data(void)
{
    uint64_t p = bp_u64(BP_SETUP_DATA);
    for (unsigned i = 0; p && i < SETUP_DATA_MAX; i++) {
        if (!map_identity(p, 16)) {
            print("PROBE setup_data=0x%lx:unmappable\n", p);
            return;
        }
        const uint8_t *sd = (const uint8_t *)p;
        uint64_t next;
        uint32_t type, len;
        memcpy(&next, sd, 8);
        memcpy(&type, sd + 8, 4);
        memcpy(&len, sd + 12, 4);
        print("PROBE setup_data=0x%lx:%u:%u\n", p, type, len);
        p = next;
    }
}

static void report_initrd(void)
{
    uint64_t addr = bp_initrd_addr(), size = bp_initrd_size();
    print("PROBE initrd_addr=0x%lx\n", addr);
    print("PROBE initrd_size=%lu\n", size);
    if (!size)
        return;
    if (!map_identity(addr, size)) {
        print("PROBE initrd_crc32=unmappable\n");
        return;
    }
    print("PROBE initrd_crc32=%08x\n", crc32(0, (const void *)addr, size));
}

static void report_cpuid(void)
{
    uint32_t r[4];
    char text[13];
    cpuid(0, 0, r);
    uint32_t max = r[0];
    memcpy(text, &r[1], 4);
    memcpy(text + 4, &r[3], 4);
    memcpy(text + 8, &r[2], 4);
    text[12] = 0;
    print("PROBE cpuid_max=0x%x\nPROBE cpuid_vendor=%s\n", max, text);
    cpuid(1, 0, r);
    print("PROBE cpuid_1_eax=0x%x\nPROBE cpuid_1_ecx=0x%x\nPROBE cpuid_1_edx=0x%x\n", r[0], r[2], r[3]);
    if (max >= 7) {
        cpuid(7, 0, r);
        print("PROBE cpuid_7_ebx=0x%x\nPROBE cpuid_7_ecx=0x%x\nPROBE cpuid_7_edx=0x%x\n", r[1], r[2], r[3]);
    }
    cpuid(0x40000000, 0, r);
    memcpy(text, &r[1], 4);
    memcpy(text + 4, &r[2], 4);
    memcpy(text + 8, &r[3], 4);
    for (int i = 0; i < 12; i++)
        if (text[i] && (text[i] < 0x21 || text[i] > 0x7e))
            text[i] = '.';
    print("PROBE cpuid_hv_max=0x%x\nPROBE cpuid_hv_sig=%s\n", r[0], text);
    cpuid(0x40000001, 0, r);
    print("PROBE cpuid_hv_features=0x%x\n", r[0]);
    print("PROBE phys_bits=%lu\nPROBE tsc_khz=%lu\n", max_phys_addr_bits(), tsc_khz());
}

void mode_report(void)
{
    print("PROBE entry=%u\n", g_entry_kind);
    print("PROBE cpl=%u\n", read_cs() & 3);
    print("PROBE boot_params=0x%lx\n", g_boot_params);
    print("PROBE boot_flag=0x%x\nPROBE hdr_version=0x%x\n", bp_u16(BP_BOOT_FLAG), bp_u16(BP_VERSION));
    print("PROBE type_of_loader=0x%x\nPROBE loadflags=0x%x\n", bp_u8(BP_TYPE_OF_LOADER), bp_u8(BP_LOADFLAGS));
    print("PROBE image=0x%lx:0x%lx\n", (uint64_t)_payload_start, (uint64_t)(_end - _payload_start));
    report_cmdline();
    report_e820();
    report_setup_data();
    report_initrd();
    report_cpuid();
    memory_test();
    print("PROBE done\n");
    power_off();
}
