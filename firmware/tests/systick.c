/* A SysTick time base while a compute loop runs, the way firmware keeps a millisecond tick:
 * the handler counts ticks, main prints the count and the loop's cycles. With a 2000-cycle
 * period the loop is interrupted about (loop cycles / 2000) times; each interrupt costs the
 * handler plus entry (12) and exit (10) cycles (shared/timing/cortex-m4.md section 7). */
#include <stdint.h>
#include "cycles.h"
#include "semihost.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
/* In flash (.rodata) so that tests can patch it before a run (randomised periods): a volatile
 * const would go to .data, which the start-up overwrites. Read through a volatile pointer so
 * the compiler does not fold the value in. */
const uint32_t systick_period = 2000u;
volatile uint32_t ticks;
uint32_t table[64];

void SysTick_Handler(void)
{
    ticks++;
}

static uint32_t work(void)
{
    uint32_t acc = 0;
    for (uint32_t round = 0; round < 200; round++)
        for (uint32_t i = 0; i < 64; i++) {
            table[i] = table[i] * 3u + i + round;
            acc ^= table[i];
        }
    return acc;
}

int main(void)
{
    cycles_enable();
    SYST_RVR = *(const volatile uint32_t *)&systick_period - 1u;
    SYST_CVR = 0;
    uint32_t start = cycles();
    SYST_CSR = 7u; /* processor clock, interrupt, enable */
    uint32_t acc = work();
    SYST_CSR = 0;
    uint32_t elapsed = cycles() - start;
    sh_puts("ticks: ");
    sh_put_int((int32_t)ticks);
    sh_puts("\ncycles: ");
    sh_put_int((int32_t)elapsed);
    sh_puts("\nchecksum: ");
    sh_put_int((int32_t)acc);
    sh_putc('\n');
    return 0;
}
