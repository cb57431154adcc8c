/* A HardFault handler that faults itself: the core locks up (no exception can preempt
 * HardFault), which ends the run with the fault named. */
    .syntax unified
    .thumb
    .text
    .global main
    .type main, %function
    .thumb_func
main:
    udf #1
    movs r0, #0
    bx lr
    .size main, . - main

    .global HardFault_Handler
    .type HardFault_Handler, %function
    .thumb_func
HardFault_Handler:
    udf #2
    bx lr
    .size HardFault_Handler, . - HardFault_Handler
