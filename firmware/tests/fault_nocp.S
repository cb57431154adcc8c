/* An FPU instruction with CPACR at its reset value (FPU off): a NOCP UsageFault. */
    .syntax unified
    .thumb
    .fpu fpv4-sp-d16
    .text
    .global main
    .type main, %function
    .thumb_func
main:
    vmov s0, r0
    movs r0, #0
    bx lr
    .ltorg
    .size main, . - main
