/* A HardFault handler that only spins (`b .`, as CMSIS default handlers do): cmsim ends the run
 * naming the fault instead of spinning to the instruction limit. */
    .syntax unified
    .thumb
    .text
    .global main
    .type main, %function
    .thumb_func
main:
    udf #3
    movs r0, #0
    bx lr
    .size main, . - main

    .global HardFault_Handler
    .type HardFault_Handler, %function
    .thumb_func
HardFault_Handler:
    b .
    .size HardFault_Handler, . - HardFault_Handler
