/* ARMv7E-M SIMD helpers on top of GCC's ACLE intrinsics (<arm_acle.h>). */
#ifndef CMSIM_NN_SIMD_H
#define CMSIM_NN_SIMD_H

#include <arm_acle.h>
#include <stdint.h>

/* Bytes 1 and 3 of x sign-extended into two halfwords: SXTB16 with its ROR #8 operand, one
 * instruction (ACLE has no rotate form, and a separate ROR would cost a cycle). */
static inline uint32_t nn_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* a + sign-extended bytes 1 and 3 of x, per halfword (SXTAB16 with ROR #8). */
static inline uint32_t nn_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

/* A 16-bit value in both halfwords. */
static inline uint32_t nn_dup16(int32_t v)
{
    return ((uint32_t)v & 0xFFFFu) | ((uint32_t)v << 16);
}

/* A byte in all four bytes. */
static inline uint32_t nn_dup8(int32_t v)
{
    return ((uint32_t)v & 0xFFu) * 0x01010101u;
}

#endif
