/* DWT cycle counter: cycles() reads CYCCNT, which cmsim backs with its cycle model. */
#ifndef CMSIM_CYCLES_H
#define CMSIM_CYCLES_H

#include <stdint.h>

#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)

static inline void cycles_enable(void)
{
    DEMCR |= 1u << 24;    /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;       /* CYCCNTENA */
}

static inline uint32_t cycles(void)
{
    return DWT_CYCCNT;
}

#endif
