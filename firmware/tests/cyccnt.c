/* Reads the DWT cycle counter around a loop and prints the delta. */
#include <stdint.h>
#include "cycles.h"
#include "semihost.h"

volatile uint32_t sink;

int main(void)
{
    cycles_enable();
    uint32_t start = cycles();
    for (uint32_t i = 0; i < 100; i++)
        sink = i;
    uint32_t delta = cycles() - start;
    sh_puts("cycles: ");
    sh_put_int((int32_t)delta);
    sh_putc('\n');
    return delta > 0 ? 0 : 1;
}
