/*
 * Elementwise kernels for ARMv7E-M: ReLU / ReLU6 four bytes at a time (SSUB8 + SEL), softmax
 * with a SIMD row maximum (the fixed-point exp and reciprocal are the reference's), add with SIMD offset addition. Results equal the reference exactly.
 */
#include "nn_internal.h"
#include "nn_simd.h"

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

int32_t nn_relu_opt(int8_t *data, int32_t size, int32_t zero_point)
{
    uint32_t zp4 = nn_dup8(zero_point);
    int32_t i = 0;
    for (; i + 4 <= size; i += 4)
        nn_write_u32(data + i, max8(nn_read_u32(data + i), zp4));
    for (; i < size; i++)
        data[i] = (int8_t)(data[i] < zero_point ? zero_point : data[i]);
    return NN_OK;
}

int32_t nn_relu6_opt(int8_t *data, int32_t size, int32_t zero_point, int32_t six)
{
    uint32_t zp4 = nn_dup8(zero_point), six4 = nn_dup8(six);
    int32_t i = 0;
    for (; i + 4 <= size; i += 4)
        nn_write_u32(data + i, min8(max8(nn_read_u32(data + i), zp4), six4));
    for (; i < size; i++)
        data[i] = (int8_t)nn_clamp(data[i], zero_point, six);
    return NN_OK;
}

int32_t nn_softmax_opt(const nn_softmax_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t r = 0; r < p->rows; r++) {
        const int8_t *x = input + r * p->row_size;
        /* Row maximum four lanes at a time, then across the lanes. */
        uint32_t m4 = nn_dup8(-128);
        int32_t i = 0;
        for (; i + 4 <= p->row_size; i += 4)
            m4 = max8(nn_read_u32(x + i), m4);
        int32_t max = -128;
        for (int32_t lane = 0; lane < 4; lane++) {
            int32_t v = (int8_t)(m4 >> (8 * lane));
            max = v > max ? v : max;
        }
        for (; i < p->row_size; i++)
            max = x[i] > max ? x[i] : max;
        nn_softmax_row(p, x, output + r * p->row_size, max);
    }
    return NN_OK;
}

static inline int8_t add_one(const nn_add_params *p, int32_t a, int32_t b)
{
    int32_t sa = nn_requantize((int32_t)((uint32_t)a << p->left_shift), p->a_multiplier, p->a_shift);
    int32_t sb = nn_requantize((int32_t)((uint32_t)b << p->left_shift), p->b_multiplier, p->b_shift);
    int32_t sum = (int32_t)((uint32_t)sa + (uint32_t)sb);
    int32_t out = nn_requantize(sum, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)nn_clamp(out, p->act_min, p->act_max);
}

int32_t nn_add_opt(const nn_add_params *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    uint32_t a_off2 = nn_dup16(p->a_offset), b_off2 = nn_dup16(p->b_offset);
    int32_t i = 0;
    for (; i + 4 <= p->size; i += 4) {
        /* Offsets added two lanes at a time; lanes are (0, 2) and (1, 3). */
        uint32_t av = nn_read_u32(a + i), bv = nn_read_u32(b + i);
        uint32_t ae = __sxtab16(a_off2, av), ao = nn_sxtab16_ror8(a_off2, av);
        uint32_t be = __sxtab16(b_off2, bv), bo = nn_sxtab16_ror8(b_off2, bv);
        output[i] = add_one(p, (int16_t)ae, (int16_t)be);
        output[i + 1] = add_one(p, (int16_t)ao, (int16_t)bo);
        output[i + 2] = add_one(p, (int32_t)ae >> 16, (int32_t)be >> 16);
        output[i + 3] = add_one(p, (int32_t)ao >> 16, (int32_t)bo >> 16);
    }
    for (; i < p->size; i++)
        output[i] = add_one(p, a[i] + p->a_offset, b[i] + p->b_offset);
    return NN_OK;
}
