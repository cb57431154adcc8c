/* SVC with PRIMASK set cannot be taken: on a Cortex-M4 it escalates to HardFault, which cmsim
 * reports as a fault. */
int main(void)
{
    __asm volatile("cpsid i\n\tsvc #0");
    return 0;
}
