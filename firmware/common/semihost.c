#include "semihost.h"

int32_t sh_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

void sh_putc(char c)
{
    sh_call(SH_SYS_WRITEC, &c);
}

void sh_puts(const char *s)
{
    sh_call(SH_SYS_WRITE0, s);
}

void sh_write(int fd, const void *buf, uint32_t len)
{
    uint32_t args[3] = {(uint32_t)fd, (uint32_t)buf, len};
    sh_call(SH_SYS_WRITE, args);
}

void sh_put_int(int32_t value)
{
    char text[12];
    int pos = 11;
    uint32_t magnitude = value < 0 ? 0u - (uint32_t)value : (uint32_t)value;
    text[pos] = '\0';
    do {
        text[--pos] = (char)('0' + magnitude % 10u);
        magnitude /= 10u;
    } while (magnitude != 0u);
    if (value < 0)
        text[--pos] = '-';
    sh_puts(&text[pos]);
}

void sh_put_hex(uint32_t value)
{
    static const char digits[] = "0123456789abcdef";
    char text[11] = "0x";
    for (int i = 0; i < 8; i++)
        text[2 + i] = digits[(value >> (28 - 4 * i)) & 0xfu];
    text[10] = '\0';
    sh_puts(text);
}

uint32_t sh_clock(void)
{
    return (uint32_t)sh_call(SH_SYS_CLOCK, 0);
}

void sh_exit(int code)
{
    /* SYS_EXIT_EXTENDED carries the exit code on every debugger that knows it. */
    uint32_t args[2] = {SH_ADP_APPLICATION_EXIT, (uint32_t)code};
    sh_call(SH_SYS_EXIT_EXTENDED, args);
    for (;;) {
    }
}
