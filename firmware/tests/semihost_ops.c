/* Exercises every semihosting operation cmsim serves; exits through plain SYS_EXIT. */
#include <stdint.h>
#include "semihost.h"

int main(void)
{
    static const char err_text[] = "to stderr\n";
    sh_write(2, err_text, sizeof err_text - 1);
    sh_write(1, "to stdout\n", 10);
    sh_putc('c');
    sh_putc('\n');

    int32_t tty = sh_call(0x01, (const uint32_t[]){(uint32_t)":tt", 4, 3});
    sh_write(tty, "via :tt\n", 8);

    uint32_t clock = sh_clock();
    int32_t now = sh_call(SH_SYS_TIME, 0);
    int32_t err = sh_call(SH_SYS_ERRNO, 0);
    sh_puts("clock ");
    sh_put_int((int32_t)clock);
    sh_puts(" time>0 ");
    sh_put_int(now > 0);
    sh_puts(" errno ");
    sh_put_int(err);
    sh_putc('\n');

    sh_call(SH_SYS_EXIT, (const void *)SH_ADP_APPLICATION_EXIT);
    return 99; /* not reached */
}
