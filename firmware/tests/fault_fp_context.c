/* Turns the FPU on, uses an FP register, then takes an SVC: the entry would stack an FP
 * context, which cmsim does not model (M4-EXC-ENTRY-FP), so it stops with a clear error
 * instead of clobbering it. */
#include <stdint.h>

int main(void)
{
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10 and CP11 full access */
    __asm volatile(".fpu fpv4-sp-d16\n\tvmov s0, r0\n\tsvc #0" ::: "memory");
    return 0;
}
