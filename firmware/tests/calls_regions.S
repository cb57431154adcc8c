/* Region markers for the profiler tests (tests/test_profile.py), written out as the five
 * instructions of firmware/common/cmsim_marker.h so their cost is visible here. Region
 * "outer" holds two calls of work() and the nested region "inner" holds one. The global labels
 * *_start (first instruction inside a region) and *_stop (the end marker's store) let the tests
 * find the region bounds in a per-instruction timeline.
 */
    .syntax unified
    .thumb

    .macro MARK register, value
    movw r2, #:lower16:\register
    movt r2, #:upper16:\register
    movw r1, #:lower16:\value
    movt r1, #:upper16:\value
    .endm

    .section .rodata
outer_name: .asciz "outer"
inner_name: .asciz "inner"

    .text
    .global main, outer_start, outer_stop, inner_start, inner_stop
    .type main, %function
    .thumb_func
main:
    push {r4, lr}
    MARK 0xE00FE000, outer_name
    str r1, [r2]
outer_start:
    bl work
    MARK 0xE00FE000, inner_name
    str r1, [r2]
inner_start:
    bl work
    MARK 0xE00FE004, 0
inner_stop:
    str r1, [r2]
    MARK 0xE00FE004, 0
outer_stop:
    str r1, [r2]
    movs r0, #0
    pop {r4, pc}
    .size main, . - main

    .type work, %function
    .thumb_func
work:
    movs r0, #10
1:  subs r0, #1
    bne 1b
    bx lr
    .size work, . - work
