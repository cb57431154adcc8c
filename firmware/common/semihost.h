/* ARM semihosting (BKPT 0xAB) as cmsim implements it. */
#ifndef CMSIM_SEMIHOST_H
#define CMSIM_SEMIHOST_H

#include <stdint.h>

enum {
    SH_SYS_WRITEC = 0x03,
    SH_SYS_WRITE0 = 0x04,
    SH_SYS_WRITE = 0x05,
    SH_SYS_CLOCK = 0x10,
    SH_SYS_TIME = 0x11,
    SH_SYS_ERRNO = 0x13,
    SH_SYS_EXIT = 0x18,
    SH_SYS_EXIT_EXTENDED = 0x20,
};

/* ADP_Stopped_ApplicationExit: the reason code SYS_EXIT uses for a normal exit. */
#define SH_ADP_APPLICATION_EXIT 0x20026u

int32_t sh_call(uint32_t op, const void *arg);
void sh_putc(char c);
void sh_puts(const char *s);                  /* no newline added */
void sh_write(int fd, const void *buf, uint32_t len);
void sh_put_int(int32_t value);               /* decimal */
void sh_put_hex(uint32_t value);              /* 0x%08x */
uint32_t sh_clock(void);                      /* centiseconds since start */
__attribute__((noreturn)) void sh_exit(int code);

#endif
