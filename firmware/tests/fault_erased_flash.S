/* A call past the image into erased flash (0xFF bytes): an undefined instruction at once, not a slide to the end of flash. */
    .syntax unified
    .thumb
    .fpu fpv4-sp-d16
    .text
    .global main
    .type main, %function
    .thumb_func
main:
    push {r4, lr}
    ldr r0, =0x080F0001
    blx r0
    pop {r4, pc}
    movs r0, #0
    bx lr
    .ltorg
    .size main, . - main
