/*
 * Conversions at a model's edges, as TFLite's QUANTIZE and DEQUANTIZE do them: float32 to
 * int8, int8/uint8 to int8 with another scale, int8 to float32; and the stand-alone RELU,
 * RELU6 and RELU_N1_TO_1 operators, which requantize to their output's scale and clamp, and
 * LOGISTIC (sigmoid) in TFLite's fixed point: 1 / (1 + exp(-|x|)) with x in Q4.27, mirrored
 * for x < 0, to the int8 output of scale 1/256 and zero point -128; HARD_SWISH,
 * x * relu6(x + 3) / 6, in TFLite's int16 fixed point; TANH like LOGISTIC
 * with tanh(x) = (1 - exp(-2x)) / (1 + exp(-2x)) to an output of scale 1/128; LEAKY_RELU, one
 * requantization for
 * x >= 0 and one scaled by alpha below. One version serves every
 * kernel variant (there is nothing to optimize that matters next to the layers). Floating
 * point goes through libgcc's soft-float routines, which round as IEEE 754 requires, so the
 * results equal TFLite's on the host bit for bit.
 */
#include "nn_internal.h"

/* round(v) half away from zero, saturated to +-2^30 (the result is clamped to int8 anyway). */
static int32_t round_half_away(float v)
{
    if (v != v)
        return 0; /* NaN: TFLite's cast is undefined; cmsim picks 0 */
    if (v >= 1073741824.0f)
        return 1 << 30;
    if (v <= -1073741824.0f)
        return -(1 << 30);
    int32_t t = (int32_t)v;  /* toward zero */
    float fraction = v - (float)t; /* exact: t and v are within a factor of two */
    if (fraction >= 0.5f)
        t++;
    else if (fraction <= -0.5f)
        t--;
    return t;
}

int32_t nn_quantize_f32(const nn_quantize_f32_params *p, const float *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; i++) {
        int32_t q = round_half_away(input[i] / p->scale) + p->zero_point;
        output[i] = (int8_t)nn_clamp(q, -128, 127);
    }
    return NN_OK;
}

int32_t nn_requantize_s8(const nn_requantize_s8_params *p, const void *input, int8_t *output)
{
    const int8_t *s8 = input;
    const uint8_t *u8 = input;
    for (int32_t i = 0; i < p->size; i++) {
        int32_t x = (p->input_unsigned ? u8[i] : s8[i]) + p->input_offset;
        int32_t q = nn_requantize(x, p->multiplier, p->shift) + p->output_offset;
        output[i] = (int8_t)nn_clamp(q, -128, 127);
    }
    return NN_OK;
}

int32_t nn_activation_s8(const nn_activation_s8_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; i++) {
        int32_t q = nn_requantize(input[i] + p->input_offset, p->multiplier, p->shift);
        output[i] = (int8_t)nn_clamp(q + p->output_offset, p->act_min, p->act_max);
    }
    return NN_OK;
}

/* logistic(a) for a in Q4.27, in Q0.31: 1 / (1 + exp(-|a|)), mirrored for a < 0. */
static int32_t logistic_q31(int32_t a)
{
    if (a == 0)
        return 1 << 30;
    int32_t positive = nn_one_over_one_plus_x(nn_exp_on_negative_q(a > 0 ? -a : a, 4));
    return a > 0 ? positive : INT32_MAX - positive;
}

/* tanh(a) for a in Q4.27, in Q0.31: (1 - exp(-2|a|)) / (1 + exp(-2|a|)) with the sign of a
 * (-|a| read as Q5.26 is -2|a|). */
static int32_t tanh_q31(int32_t a)
{
    int32_t t = nn_one_minus_x_over_one_plus_x(nn_exp_on_negative(a > 0 ? -a : a));
    return a == 0 ? 0 : (a > 0 ? t : -t);
}

/* LOGISTIC and TANH: saturate beyond the radius, else f on the input in Q4.27, then the Q0.31
 * result to int8 (LOGISTIC: / 2^23 - 128, scale 1/256; TANH: / 2^24, scale 1/128). */
static int32_t q4_function(const nn_logistic_s8_params *p, const int8_t *input, int8_t *output,
                           int32_t (*f)(int32_t), int32_t shift, int32_t offset)
{
    for (int32_t i = 0; i < p->size; i++) {
        int32_t x = input[i] + p->input_offset;
        int32_t y;
        if (x <= -p->radius)
            y = -128;
        else if (x >= p->radius)
            y = 127;
        else
            y = nn_rounding_divide_by_pot(f(nn_requantize(x, p->multiplier, p->left_shift)),
                                          shift) + offset;
        output[i] = (int8_t)nn_clamp(y, -128, 127);
    }
    return NN_OK;
}

int32_t nn_logistic_s8(const nn_logistic_s8_params *p, const int8_t *input, int8_t *output)
{
    return q4_function(p, input, output, logistic_q31, 23, -128);
}

int32_t nn_tanh_s8(const nn_logistic_s8_params *p, const int8_t *input, int8_t *output)
{
    return q4_function(p, input, output, tanh_q31, 24, 0);
}

int32_t nn_leaky_relu_s8(const nn_leaky_relu_s8_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; i++) {
        int32_t x = input[i] - p->input_zero_point;
        int32_t y = x >= 0 ? nn_requantize(x, p->identity_multiplier, p->identity_shift)
                           : nn_requantize(x, p->alpha_multiplier, p->alpha_shift);
        output[i] = (int8_t)nn_clamp(y + p->output_zero_point, -128, 127);
    }
    return NN_OK;
}

/* int16 fixed point as TFLite's HARD_SWISH uses it. */
static int16_t sat16(int32_t x)
{
    return (int16_t)nn_clamp(x, INT16_MIN, INT16_MAX);
}

static int16_t rounding_doubling_high_mul16(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN)
        return INT16_MAX;
    int32_t ab = (int32_t)a * b;
    return (int16_t)((ab + (ab >= 0 ? (1 << 14) : 1 - (1 << 14))) / (1 << 15));
}

static int16_t doubling_high_mul16(int16_t a, int16_t b) /* truncating: cancels the bias */
{
    if (a == INT16_MIN && b == INT16_MIN)
        return INT16_MAX;
    return (int16_t)(((int32_t)a * b) / (1 << 15));
}

static int16_t rounding_divide_by_pot16(int16_t x, int32_t exponent)
{
    int16_t mask = (int16_t)((1 << exponent) - 1);
    int16_t remainder = (int16_t)(x & mask);
    int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

int32_t nn_hard_swish_s8(const nn_hard_swish_s8_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; i++) {
        int16_t hires = (int16_t)((input[i] - p->input_zero_point) * (1 << 7));
        int16_t preshift = rounding_doubling_high_mul16(hires, (int16_t)p->output_multiplier);
        int16_t reluish = hires; /* x / 3 in [-1, 1], saturated, then (x / 3 + 1) / 2 */
        if (p->reluish_exponent > 0)
            reluish = sat16((int32_t)reluish * (1 << (p->reluish_exponent - 1)));
        reluish = rounding_doubling_high_mul16(reluish, (int16_t)p->reluish_multiplier);
        if (p->reluish_exponent > 0)
            reluish = sat16((int32_t)reluish * 2);
        if (p->reluish_exponent < 0)
            reluish = rounding_divide_by_pot16(reluish, -p->reluish_exponent);
        reluish = (int16_t)((reluish + (1 << 15)) >> 1);
        int16_t value = doubling_high_mul16(reluish, preshift);
        value = rounding_divide_by_pot16(value, -p->output_exponent);
        output[i] = (int8_t)nn_clamp(value + p->output_zero_point, -128, 127);
    }
    return NN_OK;
}

int32_t nn_dequantize_f32(const nn_dequantize_f32_params *p, const int8_t *input, float *output)
{
    for (int32_t i = 0; i < p->size; i++)
        output[i] = (float)(p->scale * (double)(input[i] - p->zero_point));
    return NN_OK;
}
