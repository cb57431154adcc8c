/*
 * cmsim int8 neural-network kernels (TFLite int8 semantics, NHWC activations, batch 1).
 *
 * Every kernel comes in three variants with one signature:
 *   nn_<kernel>_ref  plain C loops in the TFLite-Micro reference style (no intrinsics);
 *   nn_<kernel>_opt  CMSIS-NN-style C for ARMv7E-M (im2col into int16, SXTB16, SMLAD, blocking);
 *   nn_<kernel>_asm  the _opt drivers with hand-scheduled Thumb-2 cores (kernels_asm/nn_dot.S):
 *                    convolutions run the whole per-pixel-pair matrix multiply, tail and
 *                    requantization in assembly; fully connected runs an assembly dot core.
 * Kernels without a meaningful assembly core (pooling, ReLU, softmax, add, depthwise) export
 * an _asm symbol that runs the _opt code, so every variant can be called uniformly.
 *
 * Quantization: an activation value q stands for scale * (q - zero_point). Kernels take
 * `input_offset` = -input_zero_point (added to every input value) and `output_offset` =
 * output_zero_point (added after requantization). Weights are symmetric int8, biases int32.
 * Requantization is per output channel: acc * multiplier (Q31) * 2^shift with TFLite's
 * MultiplyByQuantizedMultiplier rounding (shift > 0 shifts left first, wrapping like LSL;
 * shift < 0 is a rounding right shift), then + output_offset, then clamp to [act_min, act_max].
 *
 * Padding: `pad_h`/`pad_w` are the top/left padding; the output size is given explicitly, so
 * asymmetric ("SAME") padding works. Padded input positions hold the input zero point.
 *
 * Layouts: input [in_h][in_w][in_c]; conv weights OHWI [out_c][k_h][k_w][in_c];
 * depthwise weights [k_h][k_w][out_c] (out_c = in_c * depth_multiplier);
 * fully connected weights [out_features][in_features]; output [out_h][out_w][out_c].
 *
 * Return value: NN_OK, or NN_ERR_ARG when the parameters do not fit the kernel (e.g. a 1x1
 * fast path called with a 3x3 filter). Kernels never allocate: `scratch` is caller memory of
 * at least nn_<kernel>_scratch_size(...) bytes, 4-byte aligned (the ref variants take NULL).
 */
#ifndef CMSIM_NN_KERNELS_H
#define CMSIM_NN_KERNELS_H

#include <stdint.h>

#define NN_OK 0
#define NN_ERR_ARG (-1)

/* Convolution geometry and quantization offsets; all fields int32 so hosts lay it out easily. */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;          /* top, left */
    int32_t input_offset;          /* -input zero point */
    int32_t output_offset;         /* output zero point */
    int32_t act_min, act_max;      /* activation clamp, within [-128, 127] */
} nn_conv_params;

/* Per-output-channel requantization: out_c entries each. */
typedef struct {
    const int32_t *multiplier;     /* Q31 */
    const int32_t *shift;          /* > 0: left shift, < 0: rounding right shift */
} nn_quant;

typedef struct {
    int32_t batches;
    int32_t in_features, out_features;
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    int32_t per_channel;           /* 0: every multiplier and shift is the same (per tensor) */
} nn_fc_params;

typedef struct {
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;          /* top, left; padded positions are skipped, not averaged */
    int32_t act_min, act_max;
} nn_pool_params;

typedef struct {
    int32_t size;                  /* elements */
    int32_t a_offset, a_multiplier, a_shift;
    int32_t b_offset, b_multiplier, b_shift;
    int32_t left_shift;            /* headroom shift applied to both inputs (TFLite: 20) */
    int32_t output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} nn_add_params;

#define NN_CONV_SIGNATURE(name)                                                              \
    int32_t name(const nn_conv_params *p, const nn_quant *q, const int8_t *input,            \
                 const int8_t *weights, const int32_t *bias, int8_t *output, void *scratch)

/* General conv2d: any kernel size, stride, padding (dilation 1). _opt/_asm scratch: two im2col
 * columns of k_h * k_w * in_c int16. */
NN_CONV_SIGNATURE(nn_conv2d_ref);
NN_CONV_SIGNATURE(nn_conv2d_opt);
NN_CONV_SIGNATURE(nn_conv2d_asm);
int32_t nn_conv2d_scratch_size(const nn_conv_params *p);   /* bytes, for _opt and _asm */

/* 1x1 conv fast path: k_h = k_w = 1, no padding (any stride), every output pixel over an input
 * pixel; im2col is a widening copy. */
NN_CONV_SIGNATURE(nn_conv2d_1x1_ref);
NN_CONV_SIGNATURE(nn_conv2d_1x1_opt);
NN_CONV_SIGNATURE(nn_conv2d_1x1_asm);
int32_t nn_conv2d_1x1_scratch_size(const nn_conv_params *p);

/* conv2d with a 3-channel input (first layer of image models): in_c = 3. The im2col gathers
 * each column's bytes first and widens whole words (3-byte taps rarely align to words), so
 * the scratch holds k_h * k_w * 3 more bytes. */
NN_CONV_SIGNATURE(nn_conv2d_rgb_ref);
NN_CONV_SIGNATURE(nn_conv2d_rgb_opt);
NN_CONV_SIGNATURE(nn_conv2d_rgb_asm);
int32_t nn_conv2d_rgb_scratch_size(const nn_conv_params *p);

/* Depthwise conv2d: out_c = in_c * depth_multiplier. _opt has a 3x3 fast path and handles
 * depth multiplier 1 with SIMD; other multipliers use the reference loops. _asm = _opt. */
NN_CONV_SIGNATURE(nn_depthwise_conv2d_ref);
NN_CONV_SIGNATURE(nn_depthwise_conv2d_opt);
NN_CONV_SIGNATURE(nn_depthwise_conv2d_asm);
int32_t nn_depthwise_conv2d_scratch_size(const nn_conv_params *p);

#define NN_FC_SIGNATURE(name)                                                                \
    int32_t name(const nn_fc_params *p, const nn_quant *q, const int8_t *input,              \
                 const int8_t *weights, const int32_t *bias, int8_t *output, void *scratch)

/* Fully connected: output[b][o] = requant(sum_i (input[b][i] + input_offset) * w[o][i] + bias[o]).
 * Unlike the convolutions, requantization rounds once, as TFLite's FULLY_CONNECTED does:
 * (acc * multiplier + 2^(30 - shift)) >> (31 - shift), in 64 bits. */
NN_FC_SIGNATURE(nn_fully_connected_ref);
NN_FC_SIGNATURE(nn_fully_connected_opt);
NN_FC_SIGNATURE(nn_fully_connected_asm);
int32_t nn_fully_connected_scratch_size(const nn_fc_params *p);

#define NN_POOL_SIGNATURE(name)                                                              \
    int32_t name(const nn_pool_params *p, const int8_t *input, int8_t *output, void *scratch)

/* Max pool and average pool (average over the valid positions, rounded half away from zero).
 * _asm = _opt. */
NN_POOL_SIGNATURE(nn_max_pool_ref);
NN_POOL_SIGNATURE(nn_max_pool_opt);
NN_POOL_SIGNATURE(nn_max_pool_asm);
NN_POOL_SIGNATURE(nn_avg_pool_ref);
NN_POOL_SIGNATURE(nn_avg_pool_opt);
NN_POOL_SIGNATURE(nn_avg_pool_asm);
/* Both pools work in registers: their scratch sizes are 0 (scratch may be NULL). */
int32_t nn_max_pool_scratch_size(const nn_pool_params *p);
int32_t nn_avg_pool_scratch_size(const nn_pool_params *p);

/* In-place ReLU (max(x, zero_point)) and ReLU6 (clamp to [zero_point, six], six being the
 * quantized value of 6.0). _asm = _opt. */
int32_t nn_relu_ref(int8_t *data, int32_t size, int32_t zero_point);
int32_t nn_relu_opt(int8_t *data, int32_t size, int32_t zero_point);
int32_t nn_relu_asm(int8_t *data, int32_t size, int32_t zero_point);
int32_t nn_relu6_ref(int8_t *data, int32_t size, int32_t zero_point, int32_t six);
int32_t nn_relu6_opt(int8_t *data, int32_t size, int32_t zero_point, int32_t six);
int32_t nn_relu6_asm(int8_t *data, int32_t size, int32_t zero_point, int32_t six);

/* TFLite int8 softmax over `rows` rows of `row_size` values; output scale 1/256, zero point
 * -128. The host derives the parameters from the input scale and beta (cmsim.model.quant.
 * softmax_parameters): (x - row max) * input_multiplier * 2^input_left_shift is exp()'s
 * argument in Q5.26; differences below diff_min give 0. exp() and the reciprocal of the sum
 * are fixed-point, as in TFLite's reference kernel. _asm = _opt. */
typedef struct {
    int32_t rows, row_size;
    int32_t input_multiplier, input_left_shift, diff_min;
} nn_softmax_params;

int32_t nn_softmax_ref(const nn_softmax_params *p, const int8_t *input, int8_t *output);
int32_t nn_softmax_opt(const nn_softmax_params *p, const int8_t *input, int8_t *output);
int32_t nn_softmax_asm(const nn_softmax_params *p, const int8_t *input, int8_t *output);

/* Elementwise add of two same-shape tensors with requantization (TFLite int8 Add). _asm = _opt. */
int32_t nn_add_ref(const nn_add_params *p, const int8_t *a, const int8_t *b, int8_t *output);
int32_t nn_add_opt(const nn_add_params *p, const int8_t *a, const int8_t *b, int8_t *output);
int32_t nn_add_asm(const nn_add_params *p, const int8_t *a, const int8_t *b, int8_t *output);

/* The cmsis_nn variant (firmware/cmsis_nn/shim.c): Arm's CMSIS-NN behind this API, linked only
 * when cmsim builds against a CMSIS-NN checkout. No ReLU (TFLM fuses it into the producer). */
NN_CONV_SIGNATURE(nn_conv2d_cmsis_nn);
NN_CONV_SIGNATURE(nn_conv2d_1x1_cmsis_nn);
NN_CONV_SIGNATURE(nn_conv2d_rgb_cmsis_nn);
NN_CONV_SIGNATURE(nn_depthwise_conv2d_cmsis_nn);
NN_FC_SIGNATURE(nn_fully_connected_cmsis_nn);
NN_POOL_SIGNATURE(nn_max_pool_cmsis_nn);
NN_POOL_SIGNATURE(nn_avg_pool_cmsis_nn);
int32_t nn_add_cmsis_nn(const nn_add_params *p, const int8_t *a, const int8_t *b, int8_t *output);
int32_t nn_softmax_cmsis_nn(const nn_softmax_params *p, const int8_t *input, int8_t *output);
int32_t nn_conv2d_cmsis_nn_scratch_size(const nn_conv_params *p);
int32_t nn_conv2d_1x1_cmsis_nn_scratch_size(const nn_conv_params *p);
int32_t nn_conv2d_rgb_cmsis_nn_scratch_size(const nn_conv_params *p);
int32_t nn_depthwise_conv2d_cmsis_nn_scratch_size(const nn_conv_params *p);
int32_t nn_fully_connected_cmsis_nn_scratch_size(const nn_fc_params *p);
int32_t nn_max_pool_cmsis_nn_scratch_size(const nn_pool_params *p);
int32_t nn_avg_pool_cmsis_nn_scratch_size(const nn_pool_params *p);

/* Conversions at a model's edges (TFLite QUANTIZE / DEQUANTIZE), one version for every
 * variant: q = clamp(round(x / scale) + zero_point), rounding half away from zero;
 * requantize: q = clamp(requant(x + input_offset) + output_offset); x = scale * (q - zp). */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} nn_quantize_f32_params;

typedef struct {
    int32_t size;
    int32_t input_offset, multiplier, shift, output_offset;
    int32_t input_unsigned;        /* 1: the input is uint8 */
} nn_requantize_s8_params;

typedef struct {
    int32_t size;
    int32_t zero_point;
    double scale;
} nn_dequantize_f32_params;

int32_t nn_quantize_f32(const nn_quantize_f32_params *p, const float *input, int8_t *output);
int32_t nn_requantize_s8(const nn_requantize_s8_params *p, const void *input, int8_t *output);
int32_t nn_dequantize_f32(const nn_dequantize_f32_params *p, const int8_t *input, float *output);

/* TFLite int8 MEAN over contiguous axes: the input seen as [outer][reduced][inner], the output
 * as [outer][inner]: clamp(requant(sum(x + input_offset)) + output_offset), the multiplier
 * holding the division by `reduced` (tensor_ops.c). One version for every variant. */
typedef struct {
    int32_t outer, reduced, inner;
    int32_t input_offset, multiplier, shift, output_offset; /* input_offset = -zp_in */
} nn_mean_s8_params;

/* TFLite int8 PAD on up to 4 dimensions (fewer are padded with leading 1s): the output is
 * `value` (the output zero point) around the input placed at `before`. */
typedef struct {
    int32_t in_dims[4], before[4], out_dims[4];
    int32_t value;
} nn_pad_s8_params;

/* TFLite int8 CONCATENATION (inputs quantized like the output, as TFLite requires): the
 * output seen as [outer][sum of axis[i]][inner], input i as [outer][axis[i]][inner]. */
#define NN_CONCAT_MAX_INPUTS 16
typedef struct {
    int32_t outer, inner, count;
    int32_t axis[NN_CONCAT_MAX_INPUTS];
} nn_concat_s8_params;

/* A stand-alone TFLite int8 RELU / RELU6 / RELU_N1_TO_1: clamp(requant(x + input_offset) +
 * output_offset, act_min, act_max), requantizing by input_scale / output_scale. */
typedef struct {
    int32_t size;
    int32_t input_offset, multiplier, shift, output_offset;
    int32_t act_min, act_max;
} nn_activation_s8_params;

/* TFLite int8 LOGISTIC (output scale 1/256, zero point -128): x + input_offset beyond
 * +-radius saturates; inside, it is scaled to Q4.27 by multiplier << left_shift. */
typedef struct {
    int32_t size;
    int32_t input_offset, multiplier, left_shift, radius;
} nn_logistic_s8_params;

/* TFLite int8 ADD (q as nn_add_params) or MUL (q's offsets, output multiplier, shift, offset
 * and clamp) of two tensors broadcast to out_dims: element (i0..i3) of a is at
 * sum(i_k * a_strides[k]), a stride 0 repeating it along that dimension. */
enum { NN_BROADCAST_ADD = 0, NN_BROADCAST_MUL = 1 };
typedef struct {
    int32_t op;
    int32_t out_dims[4], a_strides[4], b_strides[4];
    nn_add_params q; /* q.size unused */
} nn_broadcast_s8_params;

/* TFLite int8 HARD_SWISH: the input at 2^7 finer scale, int16 multipliers (Q15) and exponents
 * for the output scale and for x / 3 (cmsim.model.quant.hard_swish_parameters). */
typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t reluish_multiplier, reluish_exponent;
    int32_t output_multiplier, output_exponent; /* exponent <= 0 */
} nn_hard_swish_s8_params;

/* TFLite int8 LEAKY_RELU: (x - zp_in) requantized by in/out scale when >= 0, by alpha x in/out
 * scale below, plus zp_out. */
typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t identity_multiplier, identity_shift, alpha_multiplier, alpha_shift;
} nn_leaky_relu_s8_params;

int32_t nn_leaky_relu_s8(const nn_leaky_relu_s8_params *p, const int8_t *input, int8_t *output);
int32_t nn_hard_swish_s8(const nn_hard_swish_s8_params *p, const int8_t *input, int8_t *output);
int32_t nn_mean_s8(const nn_mean_s8_params *p, const int8_t *input, int8_t *output);
int32_t nn_broadcast_s8(const nn_broadcast_s8_params *p, const int8_t *a, const int8_t *b,
                        int8_t *output);
int32_t nn_logistic_s8(const nn_logistic_s8_params *p, const int8_t *input, int8_t *output);
/* TFLite int8 TANH (output scale 1/128, zero point 0), parameters as LOGISTIC's. */
int32_t nn_tanh_s8(const nn_logistic_s8_params *p, const int8_t *input, int8_t *output);
int32_t nn_concat_s8(const nn_concat_s8_params *p, const int8_t *const *inputs, int8_t *output);
int32_t nn_activation_s8(const nn_activation_s8_params *p, const int8_t *input, int8_t *output);
int32_t nn_pad_s8(const nn_pad_s8_params *p, const int8_t *input, int8_t *output);

#endif
