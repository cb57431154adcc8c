/*
 * Reference kernels: straightforward loops in the TFLite-Micro reference style, no intrinsics.
 * They define the semantics the optimized variants must reproduce bit for bit.
 */
#include "nn_internal.h"

static int32_t conv_ref(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                        const int8_t *weights, const int32_t *bias, int8_t *output)
{
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            int32_t y0 = oy * p->stride_h - p->pad_h;
            int32_t x0 = ox * p->stride_w - p->pad_w;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    int32_t iy = y0 + ky;
                    if (iy < 0 || iy >= p->in_h)
                        continue; /* padding adds (zero_point + input_offset) * w = 0 */
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        int32_t ix = x0 + kx;
                        if (ix < 0 || ix >= p->in_w)
                            continue;
                        for (int32_t ic = 0; ic < p->in_c; ic++) {
                            int32_t in = input[(iy * p->in_w + ix) * p->in_c + ic];
                            int32_t w = weights[((oc * p->k_h + ky) * p->k_w + kx) * p->in_c + ic];
                            acc += (in + p->input_offset) * w;
                        }
                    }
                }
                if (bias)
                    acc += bias[oc];
                output[(oy * p->out_w + ox) * p->out_c + oc] =
                    nn_output(acc, q, oc, p->output_offset, p->act_min, p->act_max);
            }
        }
    }
    return NN_OK;
}

int32_t nn_conv2d_ref(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                      const int8_t *weights, const int32_t *bias, int8_t *output, void *scratch)
{
    (void)scratch;
    return conv_ref(p, q, input, weights, bias, output);
}

int32_t nn_conv2d_1x1_ref(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                          const int8_t *weights, const int32_t *bias, int8_t *output,
                          void *scratch)
{
    (void)scratch;
    if (!nn_is_1x1(p))
        return NN_ERR_ARG;
    return conv_ref(p, q, input, weights, bias, output);
}

int32_t nn_conv2d_rgb_ref(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                          const int8_t *weights, const int32_t *bias, int8_t *output,
                          void *scratch)
{
    (void)scratch;
    if (p->in_c != 3)
        return NN_ERR_ARG;
    return conv_ref(p, q, input, weights, bias, output);
}

int32_t nn_depthwise_conv2d_ref(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                                const int8_t *weights, const int32_t *bias, int8_t *output,
                                void *scratch)
{
    (void)scratch;
    if (p->in_c <= 0 || p->out_c % p->in_c != 0)
        return NN_ERR_ARG;
    int32_t multiplier = p->out_c / p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            for (int32_t ic = 0; ic < p->in_c; ic++) {
                for (int32_t m = 0; m < multiplier; m++) {
                    int32_t oc = ic * multiplier + m;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < p->k_h; ky++) {
                        int32_t iy = oy * p->stride_h - p->pad_h + ky;
                        if (iy < 0 || iy >= p->in_h)
                            continue;
                        for (int32_t kx = 0; kx < p->k_w; kx++) {
                            int32_t ix = ox * p->stride_w - p->pad_w + kx;
                            if (ix < 0 || ix >= p->in_w)
                                continue;
                            int32_t in = input[(iy * p->in_w + ix) * p->in_c + ic];
                            int32_t w = weights[(ky * p->k_w + kx) * p->out_c + oc];
                            acc += (in + p->input_offset) * w;
                        }
                    }
                    if (bias)
                        acc += bias[oc];
                    output[(oy * p->out_w + ox) * p->out_c + oc] =
                        nn_output(acc, q, oc, p->output_offset, p->act_min, p->act_max);
                }
            }
        }
    }
    return NN_OK;
}

int32_t nn_fully_connected_ref(const nn_fc_params *p, const nn_quant *q, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, int8_t *output,
                               void *scratch)
{
    (void)scratch;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t o = 0; o < p->out_features; o++) {
            int32_t acc = 0;
            for (int32_t i = 0; i < p->in_features; i++) {
                int32_t in = input[b * p->in_features + i];
                acc += (in + p->input_offset) * weights[o * p->in_features + i];
            }
            if (bias)
                acc += bias[o];
            output[b * p->out_features + o] =
                nn_output_once(acc, q, o, p->output_offset, p->act_min, p->act_max);
        }
    }
    return NN_OK;
}

int32_t nn_max_pool_ref(const nn_pool_params *p, const int8_t *input, int8_t *output,
                        void *scratch)
{
    (void)scratch;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            for (int32_t c = 0; c < p->channels; c++) {
                int32_t best = -128;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    int32_t iy = oy * p->stride_h - p->pad_h + ky;
                    if (iy < 0 || iy >= p->in_h)
                        continue;
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        int32_t ix = ox * p->stride_w - p->pad_w + kx;
                        if (ix < 0 || ix >= p->in_w)
                            continue;
                        int32_t v = input[(iy * p->in_w + ix) * p->channels + c];
                        if (v > best)
                            best = v;
                    }
                }
                output[(oy * p->out_w + ox) * p->channels + c] =
                    (int8_t)nn_clamp(best, p->act_min, p->act_max);
            }
        }
    }
    return NN_OK;
}

int32_t nn_avg_pool_ref(const nn_pool_params *p, const int8_t *input, int8_t *output,
                        void *scratch)
{
    (void)scratch;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            for (int32_t c = 0; c < p->channels; c++) {
                int32_t sum = 0, count = 0;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    int32_t iy = oy * p->stride_h - p->pad_h + ky;
                    if (iy < 0 || iy >= p->in_h)
                        continue;
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        int32_t ix = ox * p->stride_w - p->pad_w + kx;
                        if (ix < 0 || ix >= p->in_w)
                            continue;
                        sum += input[(iy * p->in_w + ix) * p->channels + c];
                        count++;
                    }
                }
                if (count == 0)
                    return NN_ERR_ARG; /* a window entirely in the padding has no average */
                int32_t avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                output[(oy * p->out_w + ox) * p->channels + c] =
                    (int8_t)nn_clamp(avg, p->act_min, p->act_max);
            }
        }
    }
    return NN_OK;
}

int32_t nn_relu_ref(int8_t *data, int32_t size, int32_t zero_point)
{
    for (int32_t i = 0; i < size; i++)
        if (data[i] < zero_point)
            data[i] = (int8_t)zero_point;
    return NN_OK;
}

int32_t nn_relu6_ref(int8_t *data, int32_t size, int32_t zero_point, int32_t six)
{
    for (int32_t i = 0; i < size; i++)
        data[i] = (int8_t)nn_clamp(data[i], zero_point, six);
    return NN_OK;
}

/* exp((x - max) * beta * scale) in Q0.31, or 0 below diff_min. */
static int32_t softmax_exp(const nn_softmax_params *p, int32_t diff)
{
    if (diff < p->diff_min)
        return 0;
    int32_t scaled = nn_sat_rounding_doubling_high_mul(diff * (1 << p->input_left_shift),
                                                       p->input_multiplier);
    return nn_exp_on_negative(scaled);
}

void nn_softmax_row(const nn_softmax_params *p, const int8_t *x, int8_t *y, int32_t max)
{
    int32_t sum = 0; /* Q12.19 */
    for (int32_t i = 0; i < p->row_size; i++)
        sum += nn_rounding_divide_by_pot(softmax_exp(p, x[i] - max), 12);
    int32_t headroom = __builtin_clz((uint32_t)sum);
    int32_t reciprocal = nn_one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - (1u << 31)));
    int32_t exponent = 12 - headroom + 31 - 8;
    for (int32_t i = 0; i < p->row_size; i++) {
        int32_t diff = x[i] - max;
        if (diff < p->diff_min) {
            y[i] = -128;
            continue;
        }
        int32_t share = nn_sat_rounding_doubling_high_mul(reciprocal, softmax_exp(p, diff));
        y[i] = (int8_t)nn_clamp(nn_rounding_divide_by_pot(share, exponent) - 128, -128, 127);
    }
}

int32_t nn_softmax_ref(const nn_softmax_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t r = 0; r < p->rows; r++) {
        const int8_t *x = input + r * p->row_size;
        int32_t max = -128;
        for (int32_t i = 0; i < p->row_size; i++)
            if (x[i] > max)
                max = x[i];
        nn_softmax_row(p, x, output + r * p->row_size, max);
    }
    return NN_OK;
}

int32_t nn_add_ref(const nn_add_params *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    for (int32_t i = 0; i < p->size; i++)
        output[i] = nn_add_element(p, a[i], b[i]);
    return NN_OK;
}
