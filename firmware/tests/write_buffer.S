/* M4-LS-WB: ACTLR.DISDEFWBUF (0xE000E008 bit 1) turns the write buffer off; a store to normal
 * memory then waits for its transfer before a following non-store instruction (+1).
 * tests/test_timing_rules.py states the expected cycles.
 *
 * results[0] = CYCCNT delta around `str; adds` with the write buffer on (reset default)
 * results[1] = the same with ACTLR.DISDEFWBUF set
 * results[2] = `str; str; adds` with the buffer off (only the last store waits)
 */
    .syntax unified
    .thumb

    .equ DEMCR, 0xE000EDFC
    .equ DWT_CTRL, 0xE0001000
    .equ DWT_CYCCNT, 0xE0001004
    .equ ACTLR, 0xE000E008

    .bss
    .align 2
    .global results
results:
    .space 16
scratch:
    .space 16

    .macro MEASURE k
    .balign 4
    ldr r0, [r3]
    adds r7, r7, #1
    .endm
    .macro DONE k
    adds r7, r7, #1
    ldr r2, [r3]
    subs r0, r2, r0
    str r0, [r4, #(4 * \k)]
    .endm

    .text
    .global main
    .type main, %function
    .thumb_func
main:
    push {r4-r7, lr}
    ldr r0, =DEMCR
    ldr r1, [r0]
    orr r1, r1, #(1 << 24)
    str r1, [r0]
    ldr r0, =DWT_CTRL
    ldr r1, [r0]
    orr r1, r1, #1
    str r1, [r0]
    ldr r4, =results
    ldr r5, =scratch
    ldr r3, =DWT_CYCCNT
    MEASURE 0
    str r1, [r5]
    adds r6, r6, #1
    DONE 0
    ldr r0, =ACTLR
    ldr r1, [r0]
    orr r1, r1, #2
    str r1, [r0]
    MEASURE 1
    str r1, [r5]
    adds r6, r6, #1
    DONE 1
    MEASURE 2
    str r1, [r5]
    str r1, [r5, #4]
    adds r6, r6, #1
    DONE 2
    movs r0, #0
    pop {r4-r7, pc}
    .ltorg
