/* tests/guests/probe/mbshim/mbshim.c — a multiboot shim that starts a bzImage through the 32-bit
 * or 64-bit Linux boot protocol, so that QEMU (whose -kernel path enters a bzImage in real mode)
 * can exercise the probe's 32-bit and 64-bit entries, the ones qt-vmm uses. Test aid only.
 *
 *   qemu ... -kernel mbshim.bin -initrd "probe.bzImage,initrd.bin" -append "shim.entry=64 probe.mode=report"
 *
 * Module 0 is the bzImage, module 1 (optional) the initrd. The shim builds a zeroed boot_params at
 * 0x7000 with the image's setup header, type_of_loader 0xff, the command line (copied to 0x20000),
 * the initrd and the e820 map from the multiboot memory map; copies the protected-mode part to
 * code32_start (0x100000) and enters it: at +0 in 32-bit mode (shim.entry=32) or at +0x200 in
 * long mode (default). Errors print `SHIM error ...` on the serial port and stop. */
#include <stdint.h>

#define ZERO_PAGE 0x7000u
#define CMDLINE 0x20000u
#define CMDLINE_MAX 4095u

struct MbInfo {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
};
struct MbModule {
    uint32_t start, end, string, reserved;
};
struct MbMmap {
    uint32_t size;
    uint64_t addr, len;
    uint32_t type;
} __attribute__((packed));

void shim_main(uint32_t magic, const struct MbInfo *mbi);
void shim_jump32(uint32_t entry, uint32_t boot_params) __attribute__((noreturn));
void shim_jump64(uint32_t entry, uint32_t boot_params) __attribute__((noreturn));

static void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }

static void fail(const char *why)
{
    for (const char *s = "SHIM error "; *s; s++)
        outb(0x3f8, (uint8_t)*s);
    for (; *why; why++)
        outb(0x3f8, (uint8_t)*why);
    outb(0x3f8, '\n');
    for (;;)
        __asm__ volatile("cli; hlt");
}

static void copy(uint8_t *d, const uint8_t *s, uint32_t n)
{
    if (d < s)
        while (n--)
            *d++ = *s++;
    else
        while (n--)
            d[n] = s[n];
}

static int has_token(const char *s, const char *token)
{
    for (uint32_t i = 0; s[i]; i++) {
        if (i && s[i - 1] != ' ')
            continue;
        uint32_t k = 0;
        while (token[k] && s[i + k] == token[k])
            k++;
        if (!token[k] && (s[i + k] == ' ' || !s[i + k]))
            return 1;
    }
    return 0;
}

void shim_main(uint32_t magic, const struct MbInfo *mbi)
{
    if (magic != 0x2badb002u)
        fail("not started by a multiboot loader");
    if (!(mbi->flags & (1u << 3)) || mbi->mods_count < 1)
        fail("no module: pass the bzImage with -initrd");
    const struct MbModule *mods = (const struct MbModule *)mbi->mods_addr;
    const uint8_t *img = (const uint8_t *)mods[0].start;
    uint32_t img_size = mods[0].end - mods[0].start;
    if (img_size < 0x1000 || img[0x1fe] != 0x55 || img[0x1ff] != 0xaa || img[0x202] != 'H' || img[0x203] != 'd')
        fail("module 0 is not a bzImage");

    uint8_t *zp = (uint8_t *)ZERO_PAGE;
    for (uint32_t i = 0; i < 4096; i++)
        zp[i] = 0;
    uint32_t hdr_end = 0x202u + img[0x201];
    copy(zp + 0x1f1, img + 0x1f1, hdr_end - 0x1f1);
    zp[0x210] = 0xff; /* type_of_loader: undefined */

    const char *cmd = (mbi->flags & (1u << 2)) ? (const char *)mbi->cmdline : "";
    char *cl = (char *)CMDLINE;
    uint32_t n = 0;
    while (cmd[n] && n < CMDLINE_MAX) {
        cl[n] = cmd[n];
        n++;
    }
    cl[n] = 0;
    *(uint32_t *)(zp + 0x228) = CMDLINE;

    if (mbi->mods_count >= 2) {
        *(uint32_t *)(zp + 0x218) = mods[1].start;
        *(uint32_t *)(zp + 0x21c) = mods[1].end - mods[1].start;
    }

    if (!(mbi->flags & (1u << 6)))
        fail("no memory map from the loader");
    uint32_t count = 0;
    for (uint32_t off = 0; off < mbi->mmap_length && count < 128;) {
        const struct MbMmap *m = (const struct MbMmap *)(mbi->mmap_addr + off);
        uint8_t *e = zp + 0x2d0 + 20 * count++;
        copy(e, (const uint8_t *)&m->addr, 8);
        copy(e + 8, (const uint8_t *)&m->len, 8);
        copy(e + 16, (const uint8_t *)&m->type, 4);
        off += m->size + 4;
    }
    zp[0x1e8] = (uint8_t)count;

    uint32_t setup_sects = img[0x1f1] ? img[0x1f1] : 4;
    uint32_t setup_size = (setup_sects + 1) * 512;
    uint32_t load = *(const uint32_t *)(img + 0x214);
    copy((uint8_t *)load, img + setup_size, img_size - setup_size);

    if (has_token(cl, "shim.entry=32"))
        shim_jump32(load, ZERO_PAGE);
    shim_jump64(load + 0x200, ZERO_PAGE);
}
