/* Faults on purpose: reads unmapped memory (no region at 0x60000000 on any preset board). */
#include <stdint.h>
#include "semihost.h"

__attribute__((noinline)) uint32_t read_unmapped(void)
{
    return *(volatile uint32_t *)0x60000000u;
}

int main(void)
{
    sh_puts("about to fault\n");
    return (int)read_unmapped();
}
