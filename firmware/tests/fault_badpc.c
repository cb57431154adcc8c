/* Faults on purpose: calls through a pointer into unmapped memory. */
#include <stdint.h>

typedef void (*callback)(void);

volatile uintptr_t target = 0x30000001u;

__attribute__((noinline)) void call_through_pointer(void)
{
    ((callback)target)();
}

int main(void)
{
    call_through_pointer();
    return 0;
}
