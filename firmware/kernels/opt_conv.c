/*
 * CMSIS-NN-style convolution and fully connected for ARMv7E-M: im2col of two output pixels into
 * int16 (input offset folded in, padding as zeros), then a 2 output channels x 2 pixels blocked
 * matrix multiply with SXTB16 + SMLAD (four MACs per weight word), then requantization.
 * The per-pixel-pair column kernel is a parameter: the _asm variant swaps in nn_asm_conv_cols.
 */
#include "conv_blocked.h"
#include "nn_simd.h"

/* Halfword index of tap k of column `col` in the interleaved scratch layout (conv_blocked.h). */
static inline int32_t col_index(int32_t k, int32_t col, int32_t grouped)
{
    if (k < grouped)
        return 2 * (k & ~3) + 4 * col + (((k & 1) << 1) | ((k >> 1) & 1));
    return 2 * grouped + 2 * (k - grouped) + col;
}

/* Writes n taps starting at tap k of column `col`: src[i] + offset, or 0 when src is NULL. */
static void put_run(int16_t *buf, int32_t col, int32_t k, const int8_t *src, int32_t n,
                    int32_t offset, int32_t grouped)
{
    /* Scalar until k reaches a group boundary, then whole groups as two words each. */
    for (; n > 0 && (k & 3) != 0; k++, n--)
        buf[col_index(k, col, grouped)] = (int16_t)(src ? *src++ + offset : 0);
    int32_t groups = k < grouped ? ((grouped - k < n ? grouped - k : n) >> 2) : 0;
    uint32_t *dst = (uint32_t *)(buf + 2 * k + 4 * col); /* word 0: taps 0, 2; word 1: 1, 3 */
    k += 4 * groups;
    n -= 4 * groups;
    if (src) {
        uint32_t offset2 = nn_dup16(offset);
        for (; groups > 0; groups--, dst += 4) {
            uint32_t w = nn_read_u32(src);
            src += 4;
            dst[0] = __sxtab16(offset2, w);
            dst[1] = nn_sxtab16_ror8(offset2, w);
        }
    } else {
        for (; groups > 0; groups--, dst += 4) {
            dst[0] = 0;
            dst[1] = 0;
        }
    }
    for (; n > 0; k++, n--)
        buf[col_index(k, col, grouped)] = (int16_t)(src ? *src++ + offset : 0);
}

/* im2col of output pixel (oy, ox): per kernel row the valid taps are one contiguous run of
 * input bytes (NHWC), with zero runs for the padded taps on either side. */
static void fill_window(int16_t *buf, int32_t col, const nn_conv_params *p, const int8_t *input,
                        int32_t oy, int32_t ox, int32_t grouped)
{
    int32_t row = p->k_w * p->in_c;
    int32_t x0 = ox * p->stride_w - p->pad_w;
    int32_t lo = x0 < 0 ? -x0 : 0;
    int32_t hi = p->in_w - x0 < p->k_w ? p->in_w - x0 : p->k_w;
    int32_t k = 0;
    for (int32_t ky = 0; ky < p->k_h; ky++, k += row) {
        int32_t iy = oy * p->stride_h - p->pad_h + ky;
        if (iy < 0 || iy >= p->in_h || hi <= lo) {
            put_run(buf, col, k, 0, row, 0, grouped);
            continue;
        }
        const int8_t *src = input + (iy * p->in_w + x0 + lo) * p->in_c;
        if (lo > 0)
            put_run(buf, col, k, 0, lo * p->in_c, 0, grouped);
        put_run(buf, col, k + lo * p->in_c, src, (hi - lo) * p->in_c, p->input_offset, grouped);
        if (hi < p->k_w)
            put_run(buf, col, k + hi * p->in_c, 0, (p->k_w - hi) * p->in_c, 0, grouped);
    }
}

/* Few-channel inputs (RGB): a kernel row is only k_w * 3 bytes, and its runs rarely start on a
 * group boundary, so put_run would go tap by tap. Instead gather the column's bytes in natural
 * order into `bytes` (the zero point stands for padding, so it widens to 0), then widen whole
 * groups with word loads. */
static int8_t *copy_bytes(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4, src += 4)
        nn_write_u32(dst, nn_read_u32(src));
    for (; n > 0; n--)
        *dst++ = *src++;
    return dst;
}

static int8_t *set_bytes(int8_t *dst, int8_t value, int32_t n)
{
    uint32_t v4 = nn_dup8(value);
    for (; n >= 4; n -= 4, dst += 4)
        nn_write_u32(dst, v4);
    for (; n > 0; n--)
        *dst++ = value;
    return dst;
}

static void fill_gather(int16_t *buf, int32_t col, const nn_conv_params *p, const int8_t *input,
                        int32_t oy, int32_t ox, int32_t grouped, int8_t *bytes)
{
    int32_t c = p->in_c, row = p->k_w * c;
    int8_t zero_point = (int8_t)-p->input_offset;
    int32_t x0 = ox * p->stride_w - p->pad_w;
    int32_t lo = x0 < 0 ? -x0 : 0;
    int32_t hi = p->in_w - x0 < p->k_w ? p->in_w - x0 : p->k_w;
    int8_t *t = bytes;
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        int32_t iy = oy * p->stride_h - p->pad_h + ky;
        if (iy < 0 || iy >= p->in_h || hi <= lo) {
            t = set_bytes(t, zero_point, row);
            continue;
        }
        t = set_bytes(t, zero_point, lo * c);
        t = copy_bytes(t, input + (iy * p->in_w + x0 + lo) * c, (hi - lo) * c);
        t = set_bytes(t, zero_point, (p->k_w - hi) * c);
    }
    uint32_t offset2 = nn_dup16(p->input_offset);
    uint32_t *dst = (uint32_t *)(buf + 4 * col);
    const int8_t *src = bytes;
    for (int32_t g = grouped >> 2; g > 0; g--, dst += 4, src += 4) {
        uint32_t w = nn_read_u32(src);
        dst[0] = __sxtab16(offset2, w);
        dst[1] = nn_sxtab16_ror8(offset2, w);
    }
    int16_t *tail = buf + 2 * grouped + col;
    for (int32_t k = grouped; k < p->k_h * row; k++, tail += 2)
        *tail = (int16_t)(bytes[k] + p->input_offset);
}

/* 1x1 fast path: the column is the input pixel itself, widened. */
static void fill_point(int16_t *buf, int32_t col, const nn_conv_params *p, const int8_t *input,
                       int32_t oy, int32_t ox, int32_t grouped)
{
    const int8_t *src = input + (oy * p->stride_h * p->in_w + ox * p->stride_w) * p->in_c;
    put_run(buf, col, 0, src, p->in_c, p->input_offset, grouped);
}

static void dot_2x2(const int8_t *w0, const int16_t *cols, int32_t k, int32_t *acc)
{
    const int8_t *w1 = w0 + k;
    const uint32_t *c = (const uint32_t *)cols;
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    for (int32_t g = k >> 2; g > 0; g--) {
        uint32_t wa = nn_read_u32(w0);
        uint32_t wb = nn_read_u32(w1);
        w0 += 4;
        w1 += 4;
        uint32_t c0e = c[0], c0o = c[1], c1e = c[2], c1o = c[3];
        c += 4;
        uint32_t wae = __sxtb16(wa), wao = nn_sxtb16_ror8(wa);
        uint32_t wbe = __sxtb16(wb), wbo = nn_sxtb16_ror8(wb);
        a00 = __smlad(wae, c0e, a00);
        a00 = __smlad(wao, c0o, a00);
        a01 = __smlad(wae, c1e, a01);
        a01 = __smlad(wao, c1o, a01);
        a10 = __smlad(wbe, c0e, a10);
        a10 = __smlad(wbo, c0o, a10);
        a11 = __smlad(wbe, c1e, a11);
        a11 = __smlad(wbo, c1o, a11);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

void nn_dot_2x1_c(const int8_t *w0, const int16_t *col, int32_t k, int32_t *acc)
{
    const int8_t *w1 = w0 + k;
    const uint32_t *c = (const uint32_t *)col;
    int32_t a0 = acc[0], a1 = acc[1];
    for (int32_t g = k >> 2; g > 0; g--) {
        uint32_t wa = nn_read_u32(w0);
        uint32_t wb = nn_read_u32(w1);
        w0 += 4;
        w1 += 4;
        uint32_t ce = c[0], co = c[1];
        c += 2;
        a0 = __smlad(__sxtb16(wa), ce, a0);
        a0 = __smlad(nn_sxtb16_ror8(wa), co, a0);
        a1 = __smlad(__sxtb16(wb), ce, a1);
        a1 = __smlad(nn_sxtb16_ror8(wb), co, a1);
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* One channel (the odd last one) against both columns. */
static void dot_1x2(const int8_t *w, const int16_t *cols, int32_t k, int32_t *acc)
{
    const uint32_t *c = (const uint32_t *)cols;
    int32_t a0 = acc[0], a1 = acc[1];
    for (int32_t g = k >> 2; g > 0; g--) {
        uint32_t wv = nn_read_u32(w);
        w += 4;
        uint32_t we = __sxtb16(wv), wo = nn_sxtb16_ror8(wv);
        a0 = __smlad(we, c[0], a0);
        a0 = __smlad(wo, c[1], a0);
        a1 = __smlad(we, c[2], a1);
        a1 = __smlad(wo, c[3], a1);
        c += 4;
    }
    acc[0] = a0;
    acc[1] = a1;
}

void nn_conv_cols_c(const nn_cols_args *a, const int16_t *cols, int8_t *out0)
{
    int32_t k = a->k, grouped = k & ~3;
    const int16_t *tail = cols + 2 * grouped; /* (col0, col1) pairs */
    int8_t *out1 = out0 + a->out_step;
    const nn_quant q = {a->multiplier, a->shift};
    for (int32_t oc = 0; oc < 2 * a->pairs; oc += 2) {
        const int8_t *w0 = a->weights + oc * k;
        const int8_t *w1 = w0 + k;
        int32_t b0 = a->bias ? a->bias[oc] : 0, b1 = a->bias ? a->bias[oc + 1] : 0;
        int32_t acc[4] = {b0, b0, b1, b1};
        dot_2x2(w0, cols, k, acc);
        for (int32_t t = grouped; t < k; t++) {
            int32_t c0 = tail[2 * (t - grouped)], c1 = tail[2 * (t - grouped) + 1];
            acc[0] += w0[t] * c0;
            acc[1] += w0[t] * c1;
            acc[2] += w1[t] * c0;
            acc[3] += w1[t] * c1;
        }
        out0[oc] = nn_output(acc[0], &q, oc, a->output_offset, a->act_min, a->act_max);
        out0[oc + 1] = nn_output(acc[2], &q, oc + 1, a->output_offset, a->act_min, a->act_max);
        if (a->second) {
            out1[oc] = nn_output(acc[1], &q, oc, a->output_offset, a->act_min, a->act_max);
            out1[oc + 1] = nn_output(acc[3], &q, oc + 1, a->output_offset, a->act_min, a->act_max);
        }
    }
}

int32_t nn_conv_blocked(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                        const int8_t *weights, const int32_t *bias, int8_t *output,
                        int16_t *scratch, nn_fill_kind fill, nn_cols_fn cols)
{
    int32_t k = p->k_h * p->k_w * p->in_c;
    int32_t grouped = k & ~3;
    const int16_t *tail = scratch + 2 * grouped; /* (col0, col1) pairs */
    int32_t pixels = p->out_h * p->out_w;
    nn_cols_args args = {
        .weights = weights, .bias = bias, .multiplier = q->multiplier, .shift = q->shift,
        .k = k, .pairs = p->out_c / 2, .out_step = p->out_c,
        .output_offset = p->output_offset, .act_min = p->act_min, .act_max = p->act_max,
    };
    for (int32_t pix = 0; pix < pixels; pix += 2) {
        int32_t second = pix + 1 < pixels;
        for (int32_t col = 0; col < 2; col++) {
            int32_t at = pix + col;
            if (col == 1 && !second)
                put_run(scratch, 1, 0, 0, k, 0, grouped); /* odd pixel count: a zero column */
            else if (fill == NN_FILL_POINT)
                fill_point(scratch, col, p, input, at / p->out_w, at % p->out_w, grouped);
            else if (fill == NN_FILL_GATHER)
                fill_gather(scratch, col, p, input, at / p->out_w, at % p->out_w, grouped,
                            (int8_t *)(scratch + 2 * k));
            else
                fill_window(scratch, col, p, input, at / p->out_w, at % p->out_w, grouped);
        }
        int8_t *out0 = output + pix * p->out_c;
        int8_t *out1 = out0 + p->out_c;
        args.second = second;
        if (args.pairs > 0)
            cols(&args, scratch, out0);
        int32_t oc = 2 * args.pairs;
        if (oc < p->out_c) { /* the odd last channel */
            const int8_t *w = weights + oc * k;
            int32_t b = bias ? bias[oc] : 0;
            int32_t acc[2] = {b, b};
            dot_1x2(w, scratch, k, acc);
            for (int32_t t = grouped; t < k; t++) {
                acc[0] += w[t] * tail[2 * (t - grouped)];
                acc[1] += w[t] * tail[2 * (t - grouped) + 1];
            }
            out0[oc] = nn_output(acc[0], q, oc, p->output_offset, p->act_min, p->act_max);
            if (second)
                out1[oc] = nn_output(acc[1], q, oc, p->output_offset, p->act_min, p->act_max);
        }
    }
    return NN_OK;
}

int32_t nn_conv2d_scratch_size(const nn_conv_params *p)
{
    return 2 * p->k_h * p->k_w * p->in_c * (int32_t)sizeof(int16_t);
}

int32_t nn_conv2d_1x1_scratch_size(const nn_conv_params *p)
{
    return 2 * p->in_c * (int32_t)sizeof(int16_t);
}

int32_t nn_conv2d_rgb_scratch_size(const nn_conv_params *p)
{
    int32_t k = p->k_h * p->k_w * p->in_c;
    return nn_conv2d_scratch_size(p) + ((k + 3) & ~3); /* + the gathered bytes */
}

int32_t nn_conv2d_opt(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                      const int8_t *weights, const int32_t *bias, int8_t *output, void *scratch)
{
    return nn_conv_blocked(p, q, input, weights, bias, output, scratch, NN_FILL_WINDOW,
                           nn_conv_cols_c);
}

int32_t nn_conv2d_1x1_opt(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                          const int8_t *weights, const int32_t *bias, int8_t *output,
                          void *scratch)
{
    if (!nn_is_1x1(p))
        return NN_ERR_ARG;
    return nn_conv_blocked(p, q, input, weights, bias, output, scratch, NN_FILL_POINT,
                           nn_conv_cols_c);
}

int32_t nn_conv2d_rgb_opt(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                          const int8_t *weights, const int32_t *bias, int8_t *output,
                          void *scratch)
{
    if (p->in_c != 3)
        return NN_ERR_ARG;
    return nn_conv_blocked(p, q, input, weights, bias, output, scratch, NN_FILL_GATHER,
                           nn_conv_cols_c);
}

/* Widens one input vector into the reordered single-column layout (groups of (k0,k2,k1,k3)). */
static void widen_column(int16_t *col, const int8_t *src, int32_t n, int32_t offset)
{
    uint32_t offset2 = nn_dup16(offset);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t w = nn_read_u32(src + i);
        uint32_t *dst = (uint32_t *)(col + i);
        dst[0] = __sxtab16(offset2, w);
        dst[1] = nn_sxtab16_ror8(offset2, w);
    }
    for (; i < n; i++)
        col[i] = (int16_t)(src[i] + offset);
}

int32_t nn_fc_blocked(const nn_fc_params *p, const nn_quant *q, const int8_t *input,
                      const int8_t *weights, const int32_t *bias, int8_t *output,
                      int16_t *scratch, nn_dot_2x1_fn dot)
{
    int32_t k = p->in_features;
    int32_t grouped = k & ~3;
    for (int32_t b = 0; b < p->batches; b++) {
        widen_column(scratch, input + b * k, k, p->input_offset);
        int8_t *out = output + b * p->out_features;
        int32_t o = 0;
        for (; o + 1 < p->out_features; o += 2) {
            const int8_t *w0 = weights + o * k;
            const int8_t *w1 = w0 + k;
            int32_t acc[2] = {bias ? bias[o] : 0, bias ? bias[o + 1] : 0};
            dot(w0, scratch, k, acc);
            for (int32_t t = grouped; t < k; t++) {
                acc[0] += w0[t] * scratch[t];
                acc[1] += w1[t] * scratch[t];
            }
            out[o] = nn_output_once(acc[0], q, o, p->output_offset, p->act_min, p->act_max);
            out[o + 1] =
                nn_output_once(acc[1], q, o + 1, p->output_offset, p->act_min, p->act_max);
        }
        if (o < p->out_features) {
            const int8_t *w = weights + o * k;
            const uint32_t *c = (const uint32_t *)scratch;
            int32_t acc = bias ? bias[o] : 0;
            for (int32_t g = 0; g < grouped; g += 4, c += 2) {
                uint32_t wv = nn_read_u32(w + g);
                acc = __smlad(__sxtb16(wv), c[0], acc);
                acc = __smlad(nn_sxtb16_ror8(wv), c[1], acc);
            }
            for (int32_t t = grouped; t < k; t++)
                acc += w[t] * scratch[t];
            out[o] = nn_output_once(acc, q, o, p->output_offset, p->act_min, p->act_max);
        }
    }
    return NN_OK;
}

int32_t nn_fully_connected_scratch_size(const nn_fc_params *p)
{
    return ((p->in_features * (int32_t)sizeof(int16_t)) + 3) & ~3;
}

int32_t nn_fully_connected_opt(const nn_fc_params *p, const nn_quant *q, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, int8_t *output,
                               void *scratch)
{
    return nn_fc_blocked(p, q, input, weights, bias, output, scratch, nn_dot_2x1_c);
}
