/* A call into the peripheral space, which the default memory map makes execute-never: a MemManage IACCVIOL fault at the target. */
    .syntax unified
    .thumb
    .fpu fpv4-sp-d16
    .text
    .global main
    .type main, %function
    .thumb_func
main:
    push {r4, lr}
    ldr r0, =0x40000001
    blx r0
    pop {r4, pc}
    movs r0, #0
    bx lr
    .ltorg
    .size main, . - main
