/*
 * TFLite's int8 MEAN, PAD, CONCATENATION, and ADD / MUL with broadcasting, one version for
 * every kernel variant (they move or combine a few bytes per output; TFLM and CMSIS-NN users
 * run a reference version too).
 *
 * MEAN, as TFLite's reference kernel computes it in integers: the sum of (x - zp_in) over
 * the reduced elements is requantized by a multiplier that folds input_scale / output_scale
 * and the division by the element count (cmsim.model.quant.mean_multiplier), then offset by
 * zp_out and clamped.
 */
#include <string.h>

#include "nn_internal.h"

int32_t nn_mean_s8(const nn_mean_s8_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t o = 0; o < p->outer; o++) {
        const int8_t *block = input + o * p->reduced * p->inner;
        for (int32_t i = 0; i < p->inner; i++) {
            int32_t sum = 0;
            for (int32_t r = 0; r < p->reduced; r++)
                sum += block[r * p->inner + i] + p->input_offset;
            int32_t q = nn_requantize(sum, p->multiplier, p->shift) + p->output_offset;
            output[o * p->inner + i] = (int8_t)nn_clamp(q, -128, 127);
        }
    }
    return NN_OK;
}

int32_t nn_pad_s8(const nn_pad_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t *in = p->in_dims, *out = p->out_dims, *before = p->before;
    int32_t total = out[0] * out[1] * out[2] * out[3];
    for (int32_t i = 0; i < total; i++)
        output[i] = (int8_t)p->value;
    for (int32_t a = 0; a < in[0]; a++)
        for (int32_t b = 0; b < in[1]; b++)
            for (int32_t c = 0; c < in[2]; c++) {
                const int8_t *row = input + ((a * in[1] + b) * in[2] + c) * in[3];
                int32_t at = (((a + before[0]) * out[1] + b + before[1]) * out[2] + c + before[2])
                                 * out[3]
                             + before[3];
                memcpy(output + at, row, (size_t)in[3]);
            }
    return NN_OK;
}

int32_t nn_concat_s8(const nn_concat_s8_params *p, const int8_t *const *inputs, int8_t *output)
{
    if (p->count < 1 || p->count > NN_CONCAT_MAX_INPUTS)
        return NN_ERR_ARG;
    int8_t *out = output;
    for (int32_t o = 0; o < p->outer; o++)
        for (int32_t i = 0; i < p->count; i++) {
            int32_t chunk = p->axis[i] * p->inner;
            memcpy(out, inputs[i] + o * chunk, (size_t)chunk);
            out += chunk;
        }
    return NN_OK;
}

int32_t nn_broadcast_s8(const nn_broadcast_s8_params *p, const int8_t *a, const int8_t *b,
                        int8_t *output)
{
    const int32_t *d = p->out_dims, *sa = p->a_strides, *sb = p->b_strides;
    for (int32_t i0 = 0; i0 < d[0]; i0++)
        for (int32_t i1 = 0; i1 < d[1]; i1++)
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                const int8_t *ra = a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
                const int8_t *rb = b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
                for (int32_t i3 = 0; i3 < d[3]; i3++) {
                    int32_t x = ra[i3 * sa[3]], y = rb[i3 * sb[3]];
                    *output++ = p->op == NN_BROADCAST_MUL ? nn_mul_element(&p->q, x, y)
                                                          : nn_add_element(&p->q, x, y);
                }
            }
    return NN_OK;
}
