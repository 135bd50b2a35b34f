/* tests/guests/probe/console.c — output on the 16550 UART at 0x3F8 and a printf subset.
 *
 * Before each byte it polls LSR.THRE (bit 5) at most UART_POLLS times and then writes anyway,
 * so a VMM whose UART does not model LSR still gets every byte. No input, no interrupts. */
#include "probe.h"

#define COM1 0x3f8
#define UART_POLLS 64

void console_init(void)
{
    outb(COM1 + 1, 0x00); /* IER: no interrupts */
    outb(COM1 + 3, 0x03); /* LCR: 8N1, DLAB off */
}

static void put_byte(char c)
{
    for (int i = 0; i < UART_POLLS; i++)
        if (inb(COM1 + 5) & 0x20)
            break;
    outb(COM1, (uint8_t)c);
}

void console_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_byte(s[i]);
}

struct Sink {
    char *buf;
    size_t size, len;
};

static void sink_put(struct Sink *s, char c)
{
    if (s->len + 1 < s->size)
        s->buf[s->len] = c;
    s->len++;
}

static void sink_number(struct Sink *s, uint64_t v, unsigned base, int width, char pad)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (width-- > n)
        sink_put(s, pad);
    while (n)
        sink_put(s, tmp[--n]);
}

static void sink_format(struct Sink *s, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            sink_put(s, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, is_long = 0;
        if (*fmt == '0')
            pad = '0';
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') {
            is_long = 1;
            fmt++;
        }
        switch (*fmt) {
        case 's': {
            const char *str = va_arg(ap, const char *);
            while (*str)
                sink_put(s, *str++);
            break;
        }
        case 'c':
            sink_put(s, (char)va_arg(ap, int));
            break;
        case 'u':
        case 'x': {
            uint64_t v = is_long ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t);
            sink_number(s, v, *fmt == 'u' ? 10 : 16, width, pad);
            break;
        }
        case '%':
            sink_put(s, '%');
            break;
        default:
            sink_put(s, '?');
            if (!*fmt)
                return;
        }
    }
}

size_t format(char *buf, size_t size, const char *fmt, ...)
{
    struct Sink s = {buf, size, 0};
    va_list ap;
    va_start(ap, fmt);
    sink_format(&s, fmt, ap);
    va_end(ap);
    if (size)
        buf[s.len < size ? s.len : size - 1] = 0;
    return s.len;
}

void vprint(const char *fmt, va_list ap)
{
    char buf[512];
    struct Sink s = {buf, sizeof buf, 0};
    sink_format(&s, fmt, ap);
    console_write(buf, s.len < sizeof buf ? s.len : sizeof buf - 1);
}

void print(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
}
