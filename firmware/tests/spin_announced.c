/* Says it started, then never exits: the Ctrl-C tests interrupt it once the line shows. */
#include <stdint.h>
#include "semihost.h"

volatile uint32_t counter;

__attribute__((noinline)) void keep_busy(void)
{
    for (;;)
        counter++;
}

int main(void)
{
    sh_puts("spinning\n");
    keep_busy();
    return 0;
}
