/* Compute-heavy benchmark firmware: C = A x B on 64x64 int8 matrices (int32 sums), then a
 * checksum. Used by tests/bench/speed.py to measure simulator speed. */
#include <stdint.h>
#include "semihost.h"

#define N 64
#define REPEAT 2 /* enough work to time the simulator's steady state */

static int8_t a[N][N], b[N][N];
static int32_t c[N][N];

int main(void)
{
    uint32_t seed = 12345u;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            seed = seed * 1103515245u + 12345u;
            a[i][j] = (int8_t)(seed >> 16);
            seed = seed * 1103515245u + 12345u;
            b[i][j] = (int8_t)(seed >> 16);
        }
    for (int r = 0; r < REPEAT; r++)
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            int32_t sum = r;
            for (int k = 0; k < N; k++)
                sum += a[i][k] * b[k][j];
            c[i][j] = sum;
        }
    uint32_t checksum = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            checksum = checksum * 31u + (uint32_t)c[i][j];
    sh_puts("checksum: ");
    sh_put_hex(checksum);
    sh_putc('\n');
    return 0;
}
