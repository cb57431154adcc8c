/* Branches to an EXC_RETURN value outside any handler: cmsim reports a fault. */
int main(void)
{
    __asm volatile("ldr r0, =0xFFFFFFF9\n\tbx r0" ::: "r0");
    return 0;
}
