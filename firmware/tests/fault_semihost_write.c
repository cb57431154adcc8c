/* A hostile semihosting call: SYS_WRITE of 0xFFFFFFFF bytes from a buffer in SRAM. cmsim
 * checks the buffer against the board's memory before reading anything and reports a fault
 * that names the buffer (not the argument block). */
#include <stdint.h>
#include "semihost.h"

static char message[] = "never printed";

int main(void)
{
    sh_puts("before\n");
    sh_write(1, message, 0xFFFFFFFFu);
    return 0;
}
