/*
 * Conversions at a model's edges, as TFLite's QUANTIZE and DEQUANTIZE do them: float32 to
 * int8, int8/uint8 to int8 with another scale, int8 to float32; and the stand-alone RELU,
 * RELU6 and RELU_N1_TO_1 operators, which requantize to their output's scale and clamp, and
 * LOGISTIC (sigmoid) in TFLite's fixed point: 1 / (1 + exp(-|x|)) with x in Q4.27, mirrored
 * for x < 0, to the int8 output of scale 1/256 and zero point -128. One version serves every
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

int32_t nn_logistic_s8(const nn_logistic_s8_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; i++) {
        int32_t x = input[i] + p->input_offset;
        if (x <= -p->radius) {
            output[i] = -128;
            continue;
        }
        if (x >= p->radius) {
            output[i] = 127;
            continue;
        }
        int32_t a = nn_requantize(x, p->multiplier, p->left_shift); /* Q4.27 */
        int32_t y = 1 << 30;                                          /* logistic(0) = 1/2 */
        if (a != 0) {
            int32_t positive = nn_one_over_one_plus_x(nn_exp_on_negative_q(a > 0 ? -a : a, 4));
            y = a > 0 ? positive : INT32_MAX - positive;
        }
        output[i] = (int8_t)nn_clamp(nn_rounding_divide_by_pot(y, 23) - 128, -128, 127);
    }
    return NN_OK;
}

int32_t nn_dequantize_f32(const nn_dequantize_f32_params *p, const int8_t *input, float *output)
{
    for (int32_t i = 0; i < p->size; i++)
        output[i] = (float)(p->scale * (double)(input[i] - p->zero_point));
    return NN_OK;
}
