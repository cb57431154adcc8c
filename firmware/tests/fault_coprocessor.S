/* MRC p15 (a Cortex-A system register): the Cortex-M4 has no coprocessor 15, a NOCP UsageFault. */
    .syntax unified
    .thumb
    .fpu fpv4-sp-d16
    .text
    .global main
    .type main, %function
    .thumb_func
main:
    mrc p15, 0, r0, c0, c0, 0
    movs r0, #0
    bx lr
    .ltorg
    .size main, . - main
