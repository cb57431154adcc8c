/* BX to an even address clears the Thumb bit: the next instruction is an INVSTATE UsageFault. */
    .syntax unified
    .thumb
    .fpu fpv4-sp-d16
    .text
    .global main
    .type main, %function
    .thumb_func
main:
    ldr r0, =thumb_code
    bic r0, r0, #1
    bx r0
    .thumb_func
thumb_code:
    nop
    movs r0, #0
    bx lr
    .ltorg
    .size main, . - main
