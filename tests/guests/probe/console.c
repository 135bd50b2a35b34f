/* tests/guests/probe/console.c — output on the 16550 UART at 0x3F8 and a streaming printf subset.
 *
 * The FIFOs are enabled. Whenever the 16 bytes of transmit FIFO the probe may assume free are
 * used up, it polls LSR.THRE (bit 5, "FIFO empty") at most UART_POLLS times and then writes anyway,
 * so a VMM whose UART does not model LSR still gets every byte. Bytes go out with one `outb` each
 * (one KVM_EXIT_IO per byte), or with probe.uart=outsb as `rep outsb` bursts straight from the
 * string (g_uart_strings; tests a VMM's handling of kvm_run->io.count > 1; on the nested KVM
 * here it is slower than outb, as KVM emulates each iteration).
 *
 * Why so lean: on a KVM that emulates guest code (this project's build hosts) every guest
 * instruction costs about a microsecond, so print() never touches a string byte by byte: literal
 * runs and %s arguments are measured a word at a time and written in place; only numbers are built
 * in a small buffer. No input, no interrupts. */
#include "probe.h"

#define COM1 0x3f8
#define UART_POLLS 64
#define UART_FIFO 16
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

int g_uart_strings;
static unsigned fifo_room;

void console_init(void)
{
    outb(COM1 + 1, 0x00); /* IER: no interrupts */
    outb(COM1 + 3, 0x03); /* LCR: 8N1, DLAB off */
    outb(COM1 + 2, 0x07); /* FCR: FIFOs on and cleared */
}

void console_write(const char *s, size_t n)
{
    while (n) {
        if (!fifo_room) {
            for (int i = 0; i < UART_POLLS; i++)
                if (inb(COM1 + 5) & 0x20)
                    break;
            fifo_room = UART_FIFO;
        }
        size_t chunk = n < fifo_room ? n : fifo_room;
        n -= chunk;
        fifo_room -= (unsigned)chunk;
        if (g_uart_strings) {
            __asm__ volatile("rep outsb" : "+S"(s), "+c"(chunk) : "d"((uint16_t)COM1) : "memory");
        } else {
            while (chunk--)
                outb(COM1, (uint8_t)*s++);
        }
    }
}

/* Length of s up to the first NUL or `stop` byte, eight bytes per step (aligned 8-byte loads never
 * cross a page, so reading past the end is harmless). No bsf/tzcnt: a byte loop finds the lane. */
size_t span(const char *s, char stop)
{
    uintptr_t off = (uintptr_t)s & 7;
    const uint64_t *w = (const uint64_t *)(s - off);
    const uint64_t pattern = ONES * (uint8_t)stop;
    uint64_t v = *w;
    if (off) /* the bytes before s become 0xff: neither NUL nor any ASCII stop byte */
        v |= (1ull << (8 * off)) - 1;
    for (;;) {
        uint64_t x = v ^ pattern;
        uint64_t hit = (((v - ONES) & ~v) | ((x - ONES) & ~x)) & HIGHS;
        if (hit) {
            size_t lane = 0;
            while (!(hit & 0x80))
                hit >>= 8, lane++;
            return (size_t)((const char *)w - s) + lane;
        }
        v = *++w;
    }
}

size_t strlen(const char *s) { return span(s, 0); }

static void put_number(uint64_t v, int hex, int width, char pad)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    do {
        if (hex) {
            *--p = "0123456789abcdef"[v & 15];
            v >>= 4;
        } else {
            *--p = (char)('0' + v % 10);
            v /= 10;
        }
    } while (v);
    if (width > (int)sizeof tmp)
        width = sizeof tmp;
    while (tmp + sizeof tmp - p < width)
        *--p = pad;
    console_write(p, (size_t)(tmp + sizeof tmp - p));
}

void vprint(const char *fmt, va_list ap)
{
    for (;;) {
        size_t n = span(fmt, '%');
        console_write(fmt, n);
        fmt += n;
        if (!*fmt)
            return;
        fmt++;
        char pad = ' ';
        int width = 0, is_long = 0;
        if (*fmt == '0')
            pad = '0';
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l')
            is_long = 1, fmt++;
        switch (*fmt) {
        case 's': {
            const char *str = va_arg(ap, const char *);
            console_write(str, span(str, 0));
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            console_write(&c, 1);
            break;
        }
        case 'u':
        case 'x':
            put_number(is_long ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t), *fmt == 'x', width, pad);
            break;
        case '%':
            console_write("%", 1);
            break;
        default:
            console_write("?", 1);
            if (!*fmt)
                return;
        }
        fmt++;
    }
}

void print(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
}
