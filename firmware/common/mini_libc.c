/* The few libc routines GCC may emit calls to; the firmware links no C library. */
#include <stddef.h>
#include <stdint.h>

/* Word-at-a-time when both pointers are word aligned (what a C library's memcpy does for the
 * bulk of a copy; CMSIS-NN copies rows with it), bytes otherwise. The attribute keeps GCC from
 * turning the loops back into calls to memcpy and memset themselves. */
#define NO_LOOP_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))

NO_LOOP_CALLS void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if ((((uintptr_t)d | (uintptr_t)s) & 3u) == 0) {
        uint32_t *dw = (uint32_t *)dst;
        const uint32_t *sw = (const uint32_t *)src;
        for (; n >= 16; n -= 16, dw += 4, sw += 4) {
            dw[0] = sw[0];
            dw[1] = sw[1];
            dw[2] = sw[2];
            dw[3] = sw[3];
        }
        for (; n >= 4; n -= 4)
            *dw++ = *sw++;
        d = (uint8_t *)dw;
        s = (const uint8_t *)sw;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

NO_LOOP_CALLS void *memmove(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (d < s) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dst;
}

NO_LOOP_CALLS void *memset(void *dst, int value, size_t n)
{
    uint8_t *d = dst;
    if (((uintptr_t)d & 3u) == 0) {
        uint32_t fill = (uint8_t)value * 0x01010101u;
        uint32_t *dw = (uint32_t *)dst;
        for (; n >= 4; n -= 4)
            *dw++ = fill;
        d = (uint8_t *)dw;
    }
    while (n--)
        *d++ = (uint8_t)value;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}
