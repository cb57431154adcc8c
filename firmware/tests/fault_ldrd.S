/* LDRD from an odd address: an UNALIGNED UsageFault whatever CCR says (escalated to HardFault, whose handler is the startup's Default_Handler: the run ends naming the fault). */
    .syntax unified
    .thumb
    .fpu fpv4-sp-d16
    .text
    .global main
    .type main, %function
    .thumb_func
main:
    ldr r0, =0x20000001
    ldrd r2, r3, [r0]
    movs r0, #0
    bx lr
    .ltorg
    .size main, . - main
