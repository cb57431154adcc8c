/*
 * The im2col + blocked matrix-multiply convolution shared by the _opt and _asm variants.
 *
 * Scratch holds two im2col columns (two output pixels) as int16 with the input offset already
 * added, interleaved so the inner loop reads one stream:
 *   for each group g of four taps k = 4g..4g+3: column 0 as (k0, k2, k1, k3), then column 1
 *   the same way (16 bytes per group) -- the (0, 2, 1, 3) order matches what SXTB16 and
 *   SXTB16 ROR #8 make of a weight word (bytes 0,2 and 1,3), so weights need no repacking;
 *   then the K % 4 leftover taps as (column 0, column 1) halfword pairs.
 * Scratch size: 2 columns * K * 2 bytes.
 */
#ifndef CMSIM_CONV_BLOCKED_H
#define CMSIM_CONV_BLOCKED_H

#include "nn_internal.h"

/* Everything the per-column-pair kernel needs; field offsets are mirrored in nn_dot.S. */
typedef struct {
    const int8_t *weights;       /* row of the first output channel */
    const int32_t *bias;         /* NULL: no bias */
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t k;                   /* taps per column: k_h * k_w * in_c */
    int32_t pairs;               /* output channel pairs: out_c / 2 */
    int32_t out_step;            /* bytes from pixel 0's outputs to pixel 1's: out_c */
    int32_t output_offset, act_min, act_max;
    int32_t second;              /* 0 when the second column is padding (odd pixel count) */
} nn_cols_args;

/* Computes output channels 0 .. 2 * pairs - 1 of the two pixels whose columns are in `cols`
 * (grouped taps, then the k % 4 tail pairs) and stores them at out0 and out0 + out_step. */
typedef void (*nn_cols_fn)(const nn_cols_args *a, const int16_t *cols, int8_t *out0);

/* Adds to acc[0..1] (channel 0, channel 1) the dot products of one reordered int16 column
 * (groups of (k0, k2, k1, k3), no interleaving) over the K & ~3 grouped taps. */
typedef void (*nn_dot_2x1_fn)(const int8_t *w0, const int16_t *col, int32_t k, int32_t *acc);

/* How the columns are filled: the generic window walk (runs of contiguous input bytes), the
 * 1x1 copy, or gather-then-widen for few-channel (RGB) inputs, which needs k more bytes of
 * scratch after the two columns. */
typedef enum { NN_FILL_WINDOW, NN_FILL_POINT, NN_FILL_GATHER } nn_fill_kind;

int32_t nn_conv_blocked(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                        const int8_t *weights, const int32_t *bias, int8_t *output,
                        int16_t *scratch, nn_fill_kind fill, nn_cols_fn cols);

/* Fully connected on one widened input column per batch (scratch: in_features int16). */
int32_t nn_fc_blocked(const nn_fc_params *p, const nn_quant *q, const int8_t *input,
                      const int8_t *weights, const int32_t *bias, int8_t *output,
                      int16_t *scratch, nn_dot_2x1_fn dot);

void nn_conv_cols_c(const nn_cols_args *a, const int16_t *cols, int8_t *out0);
void nn_dot_2x1_c(const int8_t *w0, const int16_t *col, int32_t k, int32_t *acc);

/* The hand-written assembly cores (kernels_asm/). */
void nn_asm_conv_cols(const nn_cols_args *a, const int16_t *cols, int8_t *out0);
void nn_asm_dot_2x1(const int8_t *w0, const int16_t *col, int32_t k, int32_t *acc);

#endif
