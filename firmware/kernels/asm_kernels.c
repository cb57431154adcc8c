/*
 * The _asm variants: the convolution and fully connected drivers of opt_conv.c with the
 * hand-written kernels of kernels_asm/nn_dot.S (the whole per-column-pair matrix multiply with
 * requantization for convolutions, the dot-product core for fully connected). Kernels whose cost is not an inner
 * product loop (depthwise, pooling, ReLU, softmax, add) have no separate assembly: their _asm
 * entry points run the _opt code.
 */
#include "conv_blocked.h"

/* The assembly requantization assumes no multiplier is INT32_MIN (the one input for which the
 * doubling high multiply saturates); such a layer runs the C column kernel instead. */
static nn_cols_fn cols_kernel(const nn_conv_params *p, const nn_quant *q)
{
    for (int32_t c = 0; c < p->out_c; c++)
        if (q->multiplier[c] == INT32_MIN)
            return nn_conv_cols_c;
    return nn_asm_conv_cols;
}

int32_t nn_conv2d_asm(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                      const int8_t *weights, const int32_t *bias, int8_t *output, void *scratch)
{
    return nn_conv_blocked(p, q, input, weights, bias, output, scratch, NN_FILL_WINDOW,
                           cols_kernel(p, q));
}

int32_t nn_conv2d_1x1_asm(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                          const int8_t *weights, const int32_t *bias, int8_t *output,
                          void *scratch)
{
    if (!nn_is_1x1(p))
        return NN_ERR_ARG;
    return nn_conv_blocked(p, q, input, weights, bias, output, scratch, NN_FILL_POINT,
                           cols_kernel(p, q));
}

int32_t nn_conv2d_rgb_asm(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                          const int8_t *weights, const int32_t *bias, int8_t *output,
                          void *scratch)
{
    if (p->in_c != 3)
        return NN_ERR_ARG;
    return nn_conv_blocked(p, q, input, weights, bias, output, scratch, NN_FILL_GATHER,
                           cols_kernel(p, q));
}

int32_t nn_fully_connected_asm(const nn_fc_params *p, const nn_quant *q, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, int8_t *output,
                               void *scratch)
{
    return nn_fc_blocked(p, q, input, weights, bias, output, scratch, nn_asm_dot_2x1);
}

/* No assembly core: the optimized C is the fastest code we have for these. */
int32_t nn_depthwise_conv2d_asm(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                                const int8_t *weights, const int32_t *bias, int8_t *output,
                                void *scratch)
{
    return nn_depthwise_conv2d_opt(p, q, input, weights, bias, output, scratch);
}

int32_t nn_max_pool_asm(const nn_pool_params *p, const int8_t *input, int8_t *output,
                        void *scratch)
{
    return nn_max_pool_opt(p, input, output, scratch);
}

int32_t nn_avg_pool_asm(const nn_pool_params *p, const int8_t *input, int8_t *output,
                        void *scratch)
{
    return nn_avg_pool_opt(p, input, output, scratch);
}

int32_t nn_relu_asm(int8_t *data, int32_t size, int32_t zero_point)
{
    return nn_relu_opt(data, size, zero_point);
}

int32_t nn_relu6_asm(int8_t *data, int32_t size, int32_t zero_point, int32_t six)
{
    return nn_relu6_opt(data, size, zero_point, six);
}

int32_t nn_softmax_asm(const nn_softmax_params *p, const int8_t *input, int8_t *output)
{
    return nn_softmax_opt(p, input, output);
}

int32_t nn_add_asm(const nn_add_params *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    return nn_add_opt(p, a, b, output);
}
