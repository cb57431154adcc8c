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

/* TFLite's FULLY_CONNECTED requantization rounds once, half up: (acc * multiplier + half) >>
 * (31 - shift) in 64 bits (convolutions round twice, as nn_requantize). shift <= 30. */
static inline int32_t nn_requantize_once(int32_t acc, int32_t multiplier, int32_t shift)
{
    int32_t total = 31 - shift;
    int64_t x = (int64_t)acc * multiplier + ((int64_t)1 << (total - 1));
    return (int32_t)(x >> total);
}

/* Fixed-point helpers of the int8 softmax (TFLite's algorithm, gemmlowp's number formats). */

/* x * 2^n for n in 1..30, saturated to the int32 range. */
static inline int32_t nn_saturating_shl(int32_t x, int32_t n)
{
    int32_t limit = (int32_t)((1u << (31 - n)) - 1u);
    if (x > limit)
        return INT32_MAX;
    if (x < -limit)
        return INT32_MIN;
    return (int32_t)((uint32_t)x << n);
}

/* exp(a) for a <= 0 given with `bits` integer bits (softmax: Q5.26, logistic: Q4.27; a
 * constant, so each caller compiles to its own straight code), returned in Q0.31. The fraction
 * a mod 1/4 (in [-1/4, 0)) goes through a Taylor polynomial around -1/8; each set bit of the
 * remaining quarters multiplies in exp(-2^k), k = -2 .. bits - 1. */
static inline int32_t nn_exp_on_negative_q(int32_t a, const int32_t bits)
{
    static const int32_t exp_minus_pow2[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242,
    };
    const int32_t quarter = 1 << (29 - bits);
    int32_t fraction = (a & (quarter - 1)) - quarter;
    int32_t x = (int32_t)((uint32_t)fraction << bits) + (1 << 28); /* Q0.31, fraction + 1/8 */
    int32_t x2 = nn_sat_rounding_doubling_high_mul(x, x);
    int32_t x3 = nn_sat_rounding_doubling_high_mul(x2, x);
    int32_t x4 = nn_sat_rounding_doubling_high_mul(x2, x2);
    int32_t tail = nn_sat_rounding_doubling_high_mul(nn_rounding_divide_by_pot(x4, 2) + x3,
                                                     715827883); /* (x^4/4 + x^3) / 3 */
    tail = nn_rounding_divide_by_pot(tail + x2, 1);
    const int32_t exp_minus_eighth = 1895147668;
    int32_t result = exp_minus_eighth + nn_sat_rounding_doubling_high_mul(exp_minus_eighth,
                                                                          x + tail);
    int32_t quarters = fraction - a;
    for (int32_t k = 0; k < bits + 2; k++)
        if (quarters & (1 << (29 - bits + k)))
            result = nn_sat_rounding_doubling_high_mul(result, exp_minus_pow2[k]);
    return a == 0 ? INT32_MAX : result;
}

/* exp(a) for a <= 0 in Q5.26 (softmax's scaled differences), in Q0.31. */
static inline int32_t nn_exp_on_negative(int32_t a)
{
    return nn_exp_on_negative_q(a, 5);
}

/* 2 / (1 + a) for a in [0, 1) in Q0.31, returned in Q2.29: Newton-Raphson on the half
 * denominator, three steps from the 48/17 - 32/17 d estimate. */
static inline int32_t nn_two_over_one_plus_x(int32_t a)
{
    int64_t sum = (int64_t)a + INT32_MAX;
    int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + nn_sat_rounding_doubling_high_mul(half_denominator, -1010580540);
    for (int32_t step = 0; step < 3; step++) {
        int32_t error = (1 << 29) - nn_sat_rounding_doubling_high_mul(half_denominator, x);
        x += nn_saturating_shl(nn_sat_rounding_doubling_high_mul(x, error), 2);
    }
    return x;
}

/* 1 / (1 + a) for a in [0, 1) in Q0.31, returned in Q0.31. */
static inline int32_t nn_one_over_one_plus_x(int32_t a)
{
    return nn_saturating_shl(nn_two_over_one_plus_x(a), 1);
}

/* (1 - a) / (1 + a) for a in [0, 1) in Q0.31, returned in Q0.31 (tanh's last step). */
static inline int32_t nn_one_minus_x_over_one_plus_x(int32_t a)
{
    return nn_saturating_shl(nn_two_over_one_plus_x(a) - (1 << 29), 2);
}

/* One element of TFLite's int8 ADD: both inputs shifted left for headroom, scaled to a common
 * scale, summed, scaled to the output, offset and clamped. */
static inline int8_t nn_add_element(const nn_add_params *p, int32_t a, int32_t b)
{
    int32_t xa = (int32_t)((uint32_t)(a + p->a_offset) << p->left_shift);
    int32_t xb = (int32_t)((uint32_t)(b + p->b_offset) << p->left_shift);
    int32_t sa = nn_requantize(xa, p->a_multiplier, p->a_shift);
    int32_t sb = nn_requantize(xb, p->b_multiplier, p->b_shift);
    int32_t sum = (int32_t)((uint32_t)sa + (uint32_t)sb);
    int32_t out = nn_requantize(sum, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)nn_clamp(out, p->act_min, p->act_max);
}

/* One element of TFLite's int8 MUL: the product of the offset inputs, requantized, offset
 * and clamped (the add fields' output multiplier, shift, offset and clamp). */
static inline int8_t nn_mul_element(const nn_add_params *p, int32_t a, int32_t b)
{
    int32_t product = (a + p->a_offset) * (b + p->b_offset);
    int32_t out = nn_requantize(product, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)nn_clamp(out, p->act_min, p->act_max);
}

/* Requantize one accumulator of output channel `ch` and clamp it to the activation range. */
static inline int8_t nn_output(int32_t acc, const nn_quant *q, int32_t ch, int32_t output_offset,
                               int32_t act_min, int32_t act_max)
{
    int32_t out = nn_requantize(acc, q->multiplier[ch], q->shift[ch]) + output_offset;
    return (int8_t)nn_clamp(out, act_min, act_max);
}

/* nn_output with TFLite's FULLY_CONNECTED rounding (nn_requantize_once). */
static inline int8_t nn_output_once(int32_t acc, const nn_quant *q, int32_t ch,
                                    int32_t output_offset, int32_t act_min, int32_t act_max)
{
    int32_t out = nn_requantize_once(acc, q->multiplier[ch], q->shift[ch]) + output_offset;
    return (int8_t)nn_clamp(out, act_min, act_max);
}

/* One softmax row given its maximum (shared by the variants; ref.c). */
void nn_softmax_row(const nn_softmax_params *p, const int8_t *x, int8_t *y, int32_t max);

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
