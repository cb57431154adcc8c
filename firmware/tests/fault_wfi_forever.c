/* WFI with no interrupt enabled would sleep forever: cmsim reports it instead of hanging. */
int main(void)
{
    __asm volatile("wfi");
    return 0;
}
