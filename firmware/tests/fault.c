/* Faults on purpose: the kind of fault is chosen by the `fault_kind` global (patched by tests). */
#include <stdint.h>
#include "semihost.h"

volatile uint32_t fault_kind = 0;

__attribute__((noinline)) static uint32_t read_unmapped(void)
{
    return *(volatile uint32_t *)0x60000000u;
}

__attribute__((noinline)) static void undefined_instruction(void)
{
    __asm__ volatile("udf #0");
}

__attribute__((noinline)) static void jump_to_nowhere(void)
{
    void (*target)(void) = (void (*)(void))0x30000001u;
    target();
}

int main(void)
{
    sh_puts("about to fault\n");
    switch (fault_kind) {
    case 1:
        undefined_instruction();
        break;
    case 2:
        jump_to_nowhere();
        break;
    default:
        return (int)read_unmapped();
    }
    return 0;
}
