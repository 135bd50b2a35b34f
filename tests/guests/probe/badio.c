/* tests/guests/probe/badio.c — probe.mode=badio: misbehaves on purpose. Reads and writes I/O
 * ports no device should claim (0x1234), PCI configuration (0xcf8/0xcfc, on a machine without
 * PCI), CMOS (0x70/0x71), and MMIO just above the RAM the e820 reports, in the 3-4 GiB hole, at
 * 1 TiB and at the top of the physical address space (mapped with the probe's own page tables;
 * at or above 2^47, through a window at a canonical virtual address).
 * Prints what every read returned (`PROBE badio ...`), then `PROBE survived`, then powers off.
 * A VMM passes if it neither crashes nor hangs, and its answers are whatever it documents. */
#include "probe.h"

static void ports(void)
{
    const uint16_t port = 0x1234;
    print("PROBE badio port=0x%x in8=0x%x in16=0x%x in32=0x%x\n", port, inb(port), inw(port), inl(port));
    outb(port, 0x5a);
    outw(port, 0x5a5a);
    outl(port, 0x5a5a5a5a);
    print("PROBE badio port=0x%x wrote=0x5a read8=0x%x\n", port, inb(port));

    outl(0xcf8, 0x80000000u); /* bus 0, device 0, function 0, register 0: vendor/device ID */
    print("PROBE badio pci_cfg_00=0x%x\n", inl(0xcfc));
    outl(0xcfc, 0xffffffffu);
    print("PROBE badio pci_cf8=0x%x\n", inl(0xcf8));

    for (uint8_t reg = 0x0a; reg <= 0x0d; reg++) {
        outb(0x70, reg);
        print("PROBE badio cmos_%02x=0x%x\n", reg, inb(0x71));
    }
    outb(0x70, 0x00);
    print("PROBE badio cmos_00=0x%x\n", inb(0x71));
}

static void mmio(const char *what, uint64_t addr)
{
    uint64_t virt;
    if (!map_phys(addr, 8, &virt)) {
        print("PROBE badio mmio=%s addr=0x%lx unmappable\n", what, addr);
        return;
    }
    uint32_t before = mmio_read32(virt);
    mmio_write32(virt, 0xdeadbeefu);
    uint32_t after = mmio_read32(virt);
    print("PROBE badio mmio=%s addr=0x%lx read=0x%x after_write=0x%x\n", what, addr, before, after);
}

void mode_badio(void)
{
    ports();
    uint64_t top = e820_ram_top_below_4g();
    mmio("above_ram", (top + 0xfff) & ~0xfffull);
    mmio("hole_3g", 0xd0000000ull);
    uint64_t bits = max_phys_addr_bits();
    if (bits > 40)
        mmio("high_1t", 1ull << 40);
    mmio("top_of_phys", (1ull << bits) - 0x1000);
    print("PROBE survived\n");
    power_off();
}
