/* SDIV by 0 with CCR.DIV_0_TRP set: a DIVBYZERO UsageFault. */
    .syntax unified
    .thumb
    .fpu fpv4-sp-d16
    .text
    .global main
    .type main, %function
    .thumb_func
main:
    ldr r0, =0xE000ED14
    ldr r1, [r0]
    orr r1, r1, #(1 << 4)
    str r1, [r0]
    movs r1, #0
    sdiv r0, r0, r1
    movs r0, #0
    bx lr
    .ltorg
    .size main, . - main
