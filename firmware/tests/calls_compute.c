/* A compute-heavy int8 workload for profiler tests and the profiling-cost benchmark
 * (tests/bench/profile_cost.py): two small "layers" (a 3x3 convolution and a fully connected
 * layer) built from helper functions called per output, each layer marked as a named region.
 * Prints a checksum and exits 0.
 */
#include <stdint.h>
#include "cmsim_marker.h"
#include "semihost.h"

#define H 24
#define W 24
#define C 4
#define K 8
#define FC_OUT 16

static int8_t input[H][W][C];
static int8_t weights[K][3][3][C];
static int8_t conv_out[H][W][K];
static int8_t fc_weights[FC_OUT][H * W];
static int32_t fc_out[FC_OUT];

__attribute__((noinline)) static int8_t requantize(int32_t acc, int32_t multiplier, int shift)
{
    int64_t scaled = (int64_t)acc * multiplier;
    int32_t value = (int32_t)((scaled + (1ll << 30)) >> 31) >> shift;
    if (value > 127)
        value = 127;
    if (value < -128)
        value = -128;
    return (int8_t)value;
}

__attribute__((noinline)) static int32_t dot(const int8_t *a, const int8_t *b, int n)
{
    int32_t acc = 0;
    for (int i = 0; i < n; i++)
        acc += a[i] * b[i];
    return acc;
}

__attribute__((noinline)) static void conv3x3(void)
{
    for (int y = 1; y < H - 1; y++)
        for (int x = 1; x < W - 1; x++)
            for (int k = 0; k < K; k++) {
                int32_t acc = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                        acc += dot(input[y + dy][x + dx], weights[k][dy + 1][dx + 1], C);
                conv_out[y][x][k] = requantize(acc, 1518500250, 4);
            }
}

__attribute__((noinline)) static void fully_connected(void)
{
    static int8_t column[H * W];
    for (int i = 0; i < H * W; i++)
        column[i] = conv_out[i / W][i % W][0];
    for (int o = 0; o < FC_OUT; o++)
        fc_out[o] = dot(column, fc_weights[o], H * W);
}

static void fill(int8_t *data, int n, uint32_t seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        data[i] = (int8_t)(seed >> 24);
    }
}

int main(void)
{
    fill(&input[0][0][0], sizeof input, 1);
    fill(&weights[0][0][0][0], sizeof weights, 2);
    fill(&fc_weights[0][0], sizeof fc_weights, 3);
    cmsim_region_begin("conv");
    conv3x3();
    cmsim_region_end();
    cmsim_region_begin("fc");
    fully_connected();
    cmsim_region_end();
    uint32_t checksum = 0;
    for (int o = 0; o < FC_OUT; o++)
        checksum = checksum * 31u + (uint32_t)fc_out[o];
    sh_puts("checksum ");
    sh_put_hex(checksum);
    sh_putc('\n');
    return 0;
}
