/*
 * Arm's CMSIS-NN behind cmsim's kernel API: nn_<kernel>_cmsis_nn has the signature of
 * nn_<kernel>_ref/opt/asm (nn_kernels.h) and calls the CMSIS-NN s8 function a TensorFlow
 * Lite Micro user gets for that layer (the *_wrapper_s8 functions pick CMSIS-NN's own fast
 * paths). cmsim builds this file against the user's CMSIS-NN checkout (cmsim.cmsis_nn);
 * CMSIM_CMSIS_NN_API is the API family it detected there: 6 (v6.x) or 7 (v7.0 and later).
 *
 * What the shim adds to each call is what any runtime adds: filling CMSIS-NN's parameter and
 * dimension structs on the stack (a few tens of cycles). Buffer sizes are asked of CMSIS-NN
 * only in the *_scratch_size functions, which the firmware calls before the inference, as
 * TFLM does at prepare time; the context passed to a kernel says "large enough" because the
 * firmware has checked that.
 */
#include <limits.h>
#include "arm_nnfunctions.h"
#include "nn_kernels.h"

#if !defined(CMSIM_CMSIS_NN_API)
#error "build with -DCMSIM_CMSIS_NN_API=6 or 7 (cmsim detects it from the checkout)"
#endif

static cmsis_nn_dims dims(int32_t n, int32_t h, int32_t w, int32_t c)
{
    cmsis_nn_dims d = {.n = n, .h = h, .w = w, .c = c};
    return d;
}

static cmsis_nn_context context(void *scratch)
{
    cmsis_nn_context ctx = {.buf = scratch, .size = INT_MAX};
    return ctx;
}

static int32_t status(arm_cmsis_nn_status s)
{
    return s == ARM_CMSIS_NN_SUCCESS ? NN_OK : NN_ERR_ARG;
}

/* -- convolution: arm_convolve_wrapper_s8 ------------------------------------------------ */

static cmsis_nn_conv_params conv_params(const nn_conv_params *p)
{
    cmsis_nn_conv_params c = {
        .input_offset = p->input_offset,
        .output_offset = p->output_offset,
        .stride = {.w = p->stride_w, .h = p->stride_h},
        .padding = {.w = p->pad_w, .h = p->pad_h},
        .dilation = {.w = 1, .h = 1},
        .activation = {.min = p->act_min, .max = p->act_max},
    };
    return c;
}

static int32_t conv(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                    const int8_t *weights, const int32_t *bias, int8_t *output, void *scratch)
{
    cmsis_nn_context ctx = context(scratch);
    cmsis_nn_conv_params cp = conv_params(p);
    cmsis_nn_per_channel_quant_params qp = {(int32_t *)q->multiplier, (int32_t *)q->shift};
    cmsis_nn_dims in = dims(1, p->in_h, p->in_w, p->in_c);
    cmsis_nn_dims filter = dims(p->out_c, p->k_h, p->k_w, p->in_c);
    cmsis_nn_dims bias_dims = dims(1, 1, 1, p->out_c);
    cmsis_nn_dims out = dims(1, p->out_h, p->out_w, p->out_c);
    return status(arm_convolve_wrapper_s8(&ctx, &cp, &qp, &in, input, &filter, weights,
                                          &bias_dims, bias, &out, output));
}

static int32_t conv_scratch(const nn_conv_params *p)
{
    cmsis_nn_conv_params cp = conv_params(p);
    cmsis_nn_dims in = dims(1, p->in_h, p->in_w, p->in_c);
    cmsis_nn_dims filter = dims(p->out_c, p->k_h, p->k_w, p->in_c);
    cmsis_nn_dims out = dims(1, p->out_h, p->out_w, p->out_c);
    return arm_convolve_wrapper_s8_get_buffer_size(&cp, &in, &filter, &out);
}

NN_CONV_SIGNATURE(nn_conv2d_cmsis_nn)
{
    return conv(p, q, input, weights, bias, output, scratch);
}

NN_CONV_SIGNATURE(nn_conv2d_1x1_cmsis_nn)
{
    return conv(p, q, input, weights, bias, output, scratch);
}

NN_CONV_SIGNATURE(nn_conv2d_rgb_cmsis_nn)
{
    return conv(p, q, input, weights, bias, output, scratch);
}

int32_t nn_conv2d_cmsis_nn_scratch_size(const nn_conv_params *p) { return conv_scratch(p); }
int32_t nn_conv2d_1x1_cmsis_nn_scratch_size(const nn_conv_params *p) { return conv_scratch(p); }
int32_t nn_conv2d_rgb_cmsis_nn_scratch_size(const nn_conv_params *p) { return conv_scratch(p); }

/* -- depthwise: arm_depthwise_conv_wrapper_s8 -------------------------------------------- */

static cmsis_nn_dw_conv_params dw_params(const nn_conv_params *p)
{
    cmsis_nn_dw_conv_params c = {
        .input_offset = p->input_offset,
        .output_offset = p->output_offset,
        .ch_mult = p->out_c / p->in_c,
        .stride = {.w = p->stride_w, .h = p->stride_h},
        .padding = {.w = p->pad_w, .h = p->pad_h},
        .dilation = {.w = 1, .h = 1},
        .activation = {.min = p->act_min, .max = p->act_max},
    };
    return c;
}

NN_CONV_SIGNATURE(nn_depthwise_conv2d_cmsis_nn)
{
    cmsis_nn_context ctx = context(scratch);
    cmsis_nn_dw_conv_params dp = dw_params(p);
    cmsis_nn_per_channel_quant_params qp = {(int32_t *)q->multiplier, (int32_t *)q->shift};
    cmsis_nn_dims in = dims(1, p->in_h, p->in_w, p->in_c);
    cmsis_nn_dims filter = dims(1, p->k_h, p->k_w, p->out_c);
    cmsis_nn_dims bias_dims = dims(1, 1, 1, p->out_c);
    cmsis_nn_dims out = dims(1, p->out_h, p->out_w, p->out_c);
    return status(arm_depthwise_conv_wrapper_s8(&ctx, &dp, &qp, &in, input, &filter, weights,
                                                &bias_dims, bias, &out, output));
}

int32_t nn_depthwise_conv2d_cmsis_nn_scratch_size(const nn_conv_params *p)
{
    cmsis_nn_dw_conv_params dp = dw_params(p);
    cmsis_nn_dims in = dims(1, p->in_h, p->in_w, p->in_c);
    cmsis_nn_dims filter = dims(1, p->k_h, p->k_w, p->out_c);
    cmsis_nn_dims out = dims(1, p->out_h, p->out_w, p->out_c);
    return arm_depthwise_conv_wrapper_s8_get_buffer_size(&dp, &in, &filter, &out);
}

/* -- fully connected: arm_fully_connected_s8 (per tensor) or _per_channel_s8 ------------- */

NN_FC_SIGNATURE(nn_fully_connected_cmsis_nn)
{
    cmsis_nn_context ctx = context(scratch);
    cmsis_nn_fc_params fp = {
        .input_offset = p->input_offset,
        .filter_offset = 0,
        .output_offset = p->output_offset,
        .activation = {.min = p->act_min, .max = p->act_max},
    };
    cmsis_nn_dims in = dims(p->batches, 1, 1, p->in_features);
    cmsis_nn_dims filter = dims(p->in_features, 1, 1, p->out_features);
    cmsis_nn_dims bias_dims = dims(1, 1, 1, p->out_features);
    cmsis_nn_dims out = dims(p->batches, 1, 1, p->out_features);
    if (!p->per_channel) {
        cmsis_nn_per_tensor_quant_params qp = {q->multiplier[0], q->shift[0]};
        return status(arm_fully_connected_s8(&ctx, &fp, &qp, &in, input, &filter, weights,
                                             &bias_dims, bias, &out, output));
    }
#if CMSIM_CMSIS_NN_API >= 7
    cmsis_nn_per_channel_quant_params qp = {(int32_t *)q->multiplier, (int32_t *)q->shift};
    return status(arm_fully_connected_per_channel_s8(&ctx, &fp, &qp, &in, input, &filter,
                                                     weights, &bias_dims, bias, &out, output));
#else
    /* v6 has no per-channel fully connected: one arm_fully_connected_s8 call per output
     * channel, each with its own multiplier, keeps CMSIS-NN's fully connected arithmetic. */
    cmsis_nn_dims one_in = dims(1, 1, 1, p->in_features);
    cmsis_nn_dims one_filter = dims(p->in_features, 1, 1, 1);
    cmsis_nn_dims one_bias = dims(1, 1, 1, 1);
    cmsis_nn_dims one_out = dims(1, 1, 1, 1);
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t o = 0; o < p->out_features; o++) {
            cmsis_nn_per_tensor_quant_params qp = {q->multiplier[o], q->shift[o]};
            arm_cmsis_nn_status s = arm_fully_connected_s8(
                &ctx, &fp, &qp, &one_in, input + b * p->in_features, &one_filter,
                weights + o * p->in_features, &one_bias, bias ? bias + o : NULL, &one_out,
                output + b * p->out_features + o);
            if (s != ARM_CMSIS_NN_SUCCESS)
                return NN_ERR_ARG;
        }
    }
    (void)in;
    (void)filter;
    (void)bias_dims;
    (void)out;
    return NN_OK;
#endif
}

int32_t nn_fully_connected_cmsis_nn_scratch_size(const nn_fc_params *p)
{
    cmsis_nn_dims filter = dims(p->in_features, 1, 1, p->out_features);
    return arm_fully_connected_s8_get_buffer_size(&filter);
}

/* -- pooling: arm_max_pool_s8, arm_avgpool_s8 -------------------------------------------- */

static cmsis_nn_pool_params pool_params(const nn_pool_params *p)
{
    cmsis_nn_pool_params c = {
        .stride = {.w = p->stride_w, .h = p->stride_h},
        .padding = {.w = p->pad_w, .h = p->pad_h},
        .activation = {.min = p->act_min, .max = p->act_max},
    };
    return c;
}

typedef arm_cmsis_nn_status pool_fn(const cmsis_nn_context *, const cmsis_nn_pool_params *,
                                    const cmsis_nn_dims *, const int8_t *, const cmsis_nn_dims *,
                                    const cmsis_nn_dims *, int8_t *);

static int32_t pool(pool_fn *kernel, const nn_pool_params *p, const int8_t *input,
                    int8_t *output, void *scratch)
{
    cmsis_nn_context ctx = context(scratch);
    cmsis_nn_pool_params pp = pool_params(p);
    cmsis_nn_dims in = dims(1, p->in_h, p->in_w, p->channels);
    cmsis_nn_dims filter = dims(1, p->k_h, p->k_w, 1);
    cmsis_nn_dims out = dims(1, p->out_h, p->out_w, p->channels);
    return status(kernel(&ctx, &pp, &in, input, &filter, &out, output));
}

NN_POOL_SIGNATURE(nn_max_pool_cmsis_nn)
{
    return pool(arm_max_pool_s8, p, input, output, scratch);
}

NN_POOL_SIGNATURE(nn_avg_pool_cmsis_nn)
{
    return pool(arm_avgpool_s8, p, input, output, scratch);
}

int32_t nn_max_pool_cmsis_nn_scratch_size(const nn_pool_params *p)
{
    (void)p;
    return 0;
}

int32_t nn_avg_pool_cmsis_nn_scratch_size(const nn_pool_params *p)
{
    return arm_avgpool_s8_get_buffer_size(p->out_w, p->channels);
}

/* -- elementwise add and softmax --------------------------------------------------------- */

int32_t nn_add_cmsis_nn(const nn_add_params *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    return status(arm_elementwise_add_s8(a, b, p->a_offset, p->a_multiplier, p->a_shift,
                                         p->b_offset, p->b_multiplier, p->b_shift, p->left_shift,
                                         output, p->output_offset, p->output_multiplier,
                                         p->output_shift, p->act_min, p->act_max, p->size));
}

int32_t nn_softmax_cmsis_nn(const nn_softmax_params *p, const int8_t *input, int8_t *output)
{
    arm_softmax_s8(input, p->rows, p->row_size, p->input_multiplier, p->input_left_shift,
                   p->diff_min, output);
    return NN_OK;
}

/* Every function above, so a harness can link them all (-Wl,--undefined=nn_cmsis_nn_kernels). */
const void *const nn_cmsis_nn_kernels[] = {
    (const void *)nn_conv2d_cmsis_nn, (const void *)nn_conv2d_1x1_cmsis_nn,
    (const void *)nn_conv2d_rgb_cmsis_nn, (const void *)nn_depthwise_conv2d_cmsis_nn,
    (const void *)nn_fully_connected_cmsis_nn, (const void *)nn_max_pool_cmsis_nn,
    (const void *)nn_avg_pool_cmsis_nn, (const void *)nn_add_cmsis_nn,
    (const void *)nn_softmax_cmsis_nn, (const void *)nn_conv2d_cmsis_nn_scratch_size,
    (const void *)nn_conv2d_1x1_cmsis_nn_scratch_size,
    (const void *)nn_conv2d_rgb_cmsis_nn_scratch_size,
    (const void *)nn_depthwise_conv2d_cmsis_nn_scratch_size,
    (const void *)nn_fully_connected_cmsis_nn_scratch_size,
    (const void *)nn_max_pool_cmsis_nn_scratch_size, (const void *)nn_avg_pool_cmsis_nn_scratch_size,
};
