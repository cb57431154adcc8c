/* Prints a greeting through semihosting and exits 0. */
#include "semihost.h"

int main(void)
{
    sh_puts("Hello from Cortex-M4!\n");
    sh_puts("2 + 40 = ");
    sh_put_int(2 + 40);
    sh_putc('\n');
    return 0;
}
