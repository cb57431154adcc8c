/* Control flow that compilers produce, for the profiler's reference checks
 * (tests/test_profile.py): switch tables (TBB/TBH), conditional returns inside IT blocks,
 * calls through a table of function pointers, recursion, tail calls and a noreturn exit.
 */
#include <stdint.h>
#include "semihost.h"

volatile uint32_t sink;

__attribute__((noinline)) static uint32_t fib(uint32_t n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

__attribute__((noinline)) static uint32_t classify(uint32_t x)
{
    switch (x % 9) {  /* dense cases: a jump table */
    case 0: return x + 3;
    case 1: return x * 5;
    case 2: return x ^ 0x55;
    case 3: return x >> 1;
    case 4: return x - 7;
    case 5: return x | 0x100;
    case 6: return x * x;
    case 7: return ~x;
    default: return 0;
    }
}

__attribute__((noinline)) static int32_t clamp(int32_t v)
{
    if (v > 100)  /* conditional returns: IT blocks with BX LR / POP {pc} */
        return 100;
    if (v < -100)
        return -100;
    return v;
}

__attribute__((noinline)) static uint32_t twice(uint32_t x) { return 2 * x + (uint32_t)clamp((int32_t)x); }
__attribute__((noinline)) static uint32_t square(uint32_t x) { return x * x; }
__attribute__((noinline)) static uint32_t via_tail(uint32_t x) { return classify(x + 1); }

static uint32_t (*const operations[])(uint32_t) = {twice, square, via_tail, classify};

int main(void)
{
    uint32_t total = fib(12);
    for (uint32_t i = 0; i < 60; i++) {
        total += operations[i % 4](i);
        total += (uint32_t)clamp((int32_t)(i * 7) - 200);
    }
    sink = total;
    sh_puts("total ");
    sh_put_int((int32_t)total);
    sh_putc('\n');
    return 0;
}
