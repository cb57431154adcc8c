/* Uses an FP register, then takes an SVC: the entry would stack an FP context, which cmsim does
 * not model (M4-EXC-ENTRY-FP), so it stops with a clear error instead of clobbering it. */
int main(void)
{
    __asm volatile(".fpu fpv4-sp-d16\n\tvmov s0, r0\n\tsvc #0" ::: "memory");
    return 0;
}
