/* Never exits: tests the instruction limit and Ctrl-C (which waits for the first line). */
#include <stdint.h>
#include "semihost.h"

volatile uint32_t counter;

__attribute__((noinline)) void spin_forever(void)
{
    for (;;)
        counter++;
}

int main(void)
{
    sh_puts("spinning\n");
    spin_forever();
    return 0;
}
