/* Sums 1..10 in a loop and exits with the sum modulo 256 (55): tests exit codes. */
#include <stdint.h>

volatile uint32_t limit = 10;

int main(void)
{
    uint32_t sum = 0;
    for (uint32_t i = 1; i <= limit; i++)
        sum += i;
    return (int)(sum & 0xffu);
}
