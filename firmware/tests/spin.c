/* Never exits: tests the instruction limit. */
#include <stdint.h>

volatile uint32_t counter;

__attribute__((noinline)) void spin_forever(void)
{
    for (;;)
        counter++;
}

int main(void)
{
    spin_forever();
    return 0;
}
