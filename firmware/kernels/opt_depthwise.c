/*
 * Depthwise conv2d for ARMv7E-M, depth multiplier 1: four channels per step. A word of input
 * and a word of weights are widened with SXTAB16 / SXTB16 (plain and ROR #8), and the four
 * channels accumulate with SMLABB / SMLATT (channels do not mix, so SMLAD does not apply).
 * A 3x3 interior fast path unrolls the taps; other multipliers fall back to the reference.
 */
#include "nn_internal.h"
#include "nn_simd.h"

/* Accumulates four channels over the taps [ky0, ky1) x [kx0, kx1) of one output pixel. */
static inline void taps_4ch(const nn_conv_params *p, const int8_t *in, const int8_t *w,
                            int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1, uint32_t offset2,
                            int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t c = p->in_c;
    for (int32_t ky = ky0; ky < ky1; ky++) {
        const int8_t *irow = in + ky * p->in_w * c;
        const int8_t *wrow = w + ky * p->k_w * c;
        for (int32_t kx = kx0; kx < kx1; kx++) {
            uint32_t iv = nn_read_u32(irow + kx * c);
            uint32_t wv = nn_read_u32(wrow + kx * c);
            uint32_t ie = __sxtab16(offset2, iv), io = nn_sxtab16_ror8(offset2, iv);
            uint32_t we = __sxtb16(wv), wo = nn_sxtb16_ror8(wv);
            a0 = __smlabb(ie, we, a0);
            a2 = __smlatt(ie, we, a2);
            a1 = __smlabb(io, wo, a1);
            a3 = __smlatt(io, wo, a3);
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The 3x3 window fully inside the input: nine taps at fixed offsets, no bounds checks. */
static inline void taps_3x3_4ch(const nn_conv_params *p, const int8_t *in, const int8_t *w,
                                uint32_t offset2, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t c = p->in_c, line = p->in_w * c;
    for (int32_t ky = 0; ky < 3; ky++, in += line, w += 3 * c) {
#define NN_DW_TAP(kx)                                                                      \
        do {                                                                               \
            uint32_t iv = nn_read_u32(in + (kx) * c), wv = nn_read_u32(w + (kx) * c);      \
            uint32_t ie = __sxtab16(offset2, iv), io = nn_sxtab16_ror8(offset2, iv);       \
            uint32_t we = __sxtb16(wv), wo = nn_sxtb16_ror8(wv);                           \
            a0 = __smlabb(ie, we, a0);                                                     \
            a2 = __smlatt(ie, we, a2);                                                     \
            a1 = __smlabb(io, wo, a1);                                                     \
            a3 = __smlatt(io, wo, a3);                                                     \
        } while (0)
        NN_DW_TAP(0);
        NN_DW_TAP(1);
        NN_DW_TAP(2);
#undef NN_DW_TAP
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

int32_t nn_depthwise_conv2d_ref(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                                const int8_t *weights, const int32_t *bias, int8_t *output,
                                void *scratch);

int32_t nn_depthwise_conv2d_scratch_size(const nn_conv_params *p)
{
    (void)p;
    return 0; /* works in registers */
}

int32_t nn_depthwise_conv2d_opt(const nn_conv_params *p, const nn_quant *q, const int8_t *input,
                                const int8_t *weights, const int32_t *bias, int8_t *output,
                                void *scratch)
{
    if (p->out_c != p->in_c)
        return nn_depthwise_conv2d_ref(p, q, input, weights, bias, output, scratch);
    int32_t c_all = p->in_c;
    uint32_t offset2 = nn_dup16(p->input_offset);
    int32_t fast3x3 = p->k_h == 3 && p->k_w == 3;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t y0 = oy * p->stride_h - p->pad_h;
        int32_t ky0 = y0 < 0 ? -y0 : 0;
        int32_t ky1 = p->in_h - y0 < p->k_h ? p->in_h - y0 : p->k_h;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            int32_t x0 = ox * p->stride_w - p->pad_w;
            int32_t kx0 = x0 < 0 ? -x0 : 0;
            int32_t kx1 = p->in_w - x0 < p->k_w ? p->in_w - x0 : p->k_w;
            int32_t interior = fast3x3 && ky0 == 0 && kx0 == 0 && ky1 == 3 && kx1 == 3;
            /* Pointers to tap (0, 0); only valid taps are ever dereferenced. */
            const int8_t *in = input + (y0 * p->in_w + x0) * c_all;
            int8_t *out = output + (oy * p->out_w + ox) * c_all;
            int32_t c = 0;
            for (; c + 4 <= c_all; c += 4) {
                int32_t acc[4];
                for (int32_t i = 0; i < 4; i++)
                    acc[i] = bias ? bias[c + i] : 0;
                if (interior)
                    taps_3x3_4ch(p, in + c, weights + c, offset2, acc);
                else
                    taps_4ch(p, in + c, weights + c, ky0, ky1, kx0, kx1, offset2, acc);
                for (int32_t i = 0; i < 4; i++)
                    out[c + i] =
                        nn_output(acc[i], q, c + i, p->output_offset, p->act_min, p->act_max);
            }
            for (; c < c_all; c++) {
                int32_t acc = bias ? bias[c] : 0;
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++)
                        acc += (in[(ky * p->in_w + kx) * c_all + c] + p->input_offset) *
                               weights[(ky * p->k_w + kx) * c_all + c];
                out[c] = nn_output(acc, q, c, p->output_offset, p->act_min, p->act_max);
            }
        }
    }
    return NN_OK;
}
