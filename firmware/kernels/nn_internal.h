/* Helpers shared by the kernel variants: requantization and clamping (not a public API). */
#ifndef CMSIM_NN_INTERNAL_H
#define CMSIM_NN_INTERNAL_H

#include <stdint.h>
#include "nn_kernels.h"

/* High word of 2*a*b, rounded half away from zero; the only overflow (MIN*MIN) saturates. */
static inline int32_t nn_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    int64_t ab = (int64_t)a * b;
    int64_t x = ab + (ab >= 0 ? (1 << 30) : (1 - (1 << 30)));
    /* Divide by 2^31 truncating toward zero without a 64-bit division call. */
    if (x < 0)
        x += (1ll << 31) - 1;
    return (int32_t)(x >> 31);
}

/* x / 2^exponent rounded half away from zero, exponent 0..31. */
static inline int32_t nn_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    int32_t mask = (int32_t)((1u << exponent) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier; the left shift wraps as LSL does. */
static inline int32_t nn_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    int32_t x = (int32_t)((uint32_t)acc << left);
    return nn_rounding_divide_by_pot(nn_sat_rounding_doubling_high_mul(x, multiplier), right);
}

static inline int32_t nn_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* Requantize one accumulator of output channel `ch` and clamp it to the activation range. */
static inline int8_t nn_output(int32_t acc, const nn_quant *q, int32_t ch, int32_t output_offset,
                               int32_t act_min, int32_t act_max)
{
    int32_t out = nn_requantize(acc, q->multiplier[ch], q->shift[ch]) + output_offset;
    return (int8_t)nn_clamp(out, act_min, act_max);
}

/* The 1x1 fast path's contract: a 1x1 filter, no padding, every output pixel over an input
 * pixel (its im2col reads the input without bounds checks). */
static inline int32_t nn_is_1x1(const nn_conv_params *p)
{
    return p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0 &&
           (p->out_h - 1) * p->stride_h < p->in_h && (p->out_w - 1) * p->stride_w < p->in_w;
}

/* Unaligned little-endian word access (LDR/STR handle unaligned addresses on ARMv7-M). */
static inline uint32_t nn_read_u32(const void *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

static inline void nn_write_u32(void *p, uint32_t v)
{
    __builtin_memcpy(p, &v, 4);
}

#endif
