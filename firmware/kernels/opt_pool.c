/*
 * Pooling for ARMv7E-M, four channels per word. Max pool keeps a running byte-wise maximum
 * with SSUB8 (sets the GE flags per byte) + SEL. Average pool accumulates channel pairs in
 * halfwords with SXTAB16, exact while the window has at most 255 taps (255 * 128 < 2^15);
 * larger windows use the reference loops.
 */
#include "nn_internal.h"
#include "nn_simd.h"

int32_t nn_avg_pool_ref(const nn_pool_params *p, const int8_t *input, int8_t *output,
                        void *scratch);

int32_t nn_max_pool_scratch_size(const nn_pool_params *p)
{
    (void)p;
    return 0;
}

int32_t nn_avg_pool_scratch_size(const nn_pool_params *p)
{
    (void)p;
    return 0;
}

/* Byte-wise signed max / min of four lanes. */
static inline uint32_t max8(uint32_t a, uint32_t b)
{
    __ssub8(a, b);
    return __sel(a, b);
}

static inline uint32_t min8(uint32_t a, uint32_t b)
{
    __ssub8(a, b);
    return __sel(b, a);
}

/* The valid tap range [lo, hi) of a window starting at `start` over `size` inputs. */
static inline void window(int32_t start, int32_t k, int32_t size, int32_t *lo, int32_t *hi)
{
    *lo = start < 0 ? -start : 0;
    *hi = size - start < k ? size - start : k;
}

int32_t nn_max_pool_opt(const nn_pool_params *p, const int8_t *input, int8_t *output,
                        void *scratch)
{
    (void)scratch;
    int32_t ch = p->channels;
    uint32_t lo4 = nn_dup8(p->act_min), hi4 = nn_dup8(p->act_max);
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t y0 = oy * p->stride_h - p->pad_h, ky0, ky1;
        window(y0, p->k_h, p->in_h, &ky0, &ky1);
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            int32_t x0 = ox * p->stride_w - p->pad_w, kx0, kx1;
            window(x0, p->k_w, p->in_w, &kx0, &kx1);
            const int8_t *base = input + (y0 * p->in_w + x0) * ch;
            int8_t *out = output + (oy * p->out_w + ox) * ch;
            int32_t c = 0;
            for (; c + 4 <= ch; c += 4) {
                uint32_t m = nn_dup8(-128);
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++)
                        m = max8(nn_read_u32(base + (ky * p->in_w + kx) * ch + c), m);
                nn_write_u32(out + c, min8(max8(m, lo4), hi4));
            }
            for (; c < ch; c++) {
                int32_t m = -128;
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        int32_t v = base[(ky * p->in_w + kx) * ch + c];
                        m = v > m ? v : m;
                    }
                out[c] = (int8_t)nn_clamp(m, p->act_min, p->act_max);
            }
        }
    }
    return NN_OK;
}

/* Rounded average (half away from zero) as TFLite computes it. */
static inline int8_t average(int32_t sum, int32_t count, int32_t act_min, int32_t act_max)
{
    int32_t avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    return (int8_t)nn_clamp(avg, act_min, act_max);
}

int32_t nn_avg_pool_opt(const nn_pool_params *p, const int8_t *input, int8_t *output,
                        void *scratch)
{
    if (p->k_h * p->k_w > 255)
        return nn_avg_pool_ref(p, input, output, scratch);
    int32_t ch = p->channels;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t y0 = oy * p->stride_h - p->pad_h, ky0, ky1;
        window(y0, p->k_h, p->in_h, &ky0, &ky1);
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            int32_t x0 = ox * p->stride_w - p->pad_w, kx0, kx1;
            window(x0, p->k_w, p->in_w, &kx0, &kx1);
            int32_t count = (ky1 - ky0) * (kx1 - kx0);
            if (ky1 <= ky0 || kx1 <= kx0)
                return NN_ERR_ARG; /* a window entirely in the padding has no average */
            const int8_t *base = input + (y0 * p->in_w + x0) * ch;
            int8_t *out = output + (oy * p->out_w + ox) * ch;
            int32_t c = 0;
            for (; c + 4 <= ch; c += 4) {
                uint32_t even = 0, odd = 0; /* channel sums (c, c+2) and (c+1, c+3) */
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        uint32_t v = nn_read_u32(base + (ky * p->in_w + kx) * ch + c);
                        even = __sxtab16(even, v);
                        odd = nn_sxtab16_ror8(odd, v);
                    }
                out[c] = average((int16_t)even, count, p->act_min, p->act_max);
                out[c + 1] = average((int16_t)odd, count, p->act_min, p->act_max);
                out[c + 2] = average((int32_t)even >> 16, count, p->act_min, p->act_max);
                out[c + 3] = average((int32_t)odd >> 16, count, p->act_min, p->act_max);
            }
            for (; c < ch; c++) {
                int32_t sum = 0;
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++)
                        sum += base[(ky * p->in_w + kx) * ch + c];
                out[c] = average(sum, count, p->act_min, p->act_max);
            }
        }
    }
    return NN_OK;
}
