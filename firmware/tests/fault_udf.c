/* Faults on purpose: executes a permanently undefined instruction. */
#include "semihost.h"

__attribute__((noinline)) void undefined_instruction(void)
{
    __asm__ volatile("udf #0");
}

int main(void)
{
    undefined_instruction();
    return 0;
}
