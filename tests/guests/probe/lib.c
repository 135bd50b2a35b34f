/* tests/guests/probe/lib.c — the few libc routines the probe needs (GCC may call memset/memcpy
 * for struct copies) and CRC32 (zlib's polynomial, so `zlib.crc32(data)` in the host tests gives
 * the same value), slicing-by-8 with build-time tables: few guest instructions per byte matter
 * on a KVM that emulates every guest instruction. */
#include "probe.h"

/* One string instruction instead of a loop: KVM's emulator runs `rep stos/movs` as a single
 * instruction, a byte loop costs thousands of emulated instructions. */
void *memset(void *d, int c, size_t n)
{
    void *p = d;
    if (!(((uintptr_t)d | n) & 7)) {
        uint64_t v = 0x0101010101010101ull * (uint8_t)c;
        n /= 8;
        __asm__ volatile("rep stosq" : "+D"(p), "+c"(n) : "a"(v) : "memory");
    } else {
        __asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
    }
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *p = d;
    __asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) : : "memory");
    return d;
}

#include "crc32_table.h" /* generated into the build directory by module.mk */

uint32_t crc32(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        crc = crc32_tables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        n--;
    }
    while (n >= 8) { /* slicing-by-8: two aligned loads and eight lookups per 8 bytes */
        uint32_t lo = *(const uint32_t *)p ^ crc, hi = *(const uint32_t *)(p + 4);
        crc = crc32_tables[7][lo & 0xff] ^ crc32_tables[6][(lo >> 8) & 0xff] ^
              crc32_tables[5][(lo >> 16) & 0xff] ^ crc32_tables[4][lo >> 24] ^
              crc32_tables[3][hi & 0xff] ^ crc32_tables[2][(hi >> 8) & 0xff] ^
              crc32_tables[1][(hi >> 16) & 0xff] ^ crc32_tables[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = crc32_tables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
