/* M4-FE-1 (tests/test_unaligned_runs.py): runs of 32-bit instructions at addresses = 2 mod 4.
 * The rule is a board option, off by default; each case reads CYCCNT around a run and stores
 * the difference in `results`, and the test compares the default with the option on.
 * r4 = &DWT_CYCCNT, r5 = a word in SRAM. */
    .syntax unified
    .thumb

    .bss
    .align 2
    .global results
results:
    .space 16
scratch:
    .space 4

    .text
    .global main
    .type main, %function
    .thumb_func
main:
    push {r4-r6, lr}
    ldr r0, =0xE000EDFC
    ldr r1, [r0]
    orr r1, r1, #(1 << 24)
    str r1, [r0]
    ldr r0, =0xE0001000
    ldr r1, [r0]
    orr r1, r1, #1
    str r1, [r0]
    ldr r4, =0xE0001004
    ldr r5, =scratch
    ldr r6, =results

    /* 1. Three unaligned add.w: the third is the one charged. */
    .balign 4
    ldr r1, [r4]
    add.w r0, r0, #1
    add.w r0, r0, #1
    add.w r0, r0, #1
    ldr r2, [r4]
    subs r2, r2, r1
    str r2, [r6, #0]

    /* 2. Three unaligned ldr.w: single loads are charged from the fourth only. */
    .balign 4
    ldr r1, [r4]
    ldr.w r0, [r5]
    ldr.w r0, [r5]
    ldr.w r0, [r5]
    ldr r2, [r4]
    subs r2, r2, r1
    str r2, [r6, #4]

    /* 3. Four unaligned ldr.w. */
    .balign 4
    ldr r1, [r4]
    ldr.w r0, [r5]
    ldr.w r0, [r5]
    ldr.w r0, [r5]
    ldr.w r0, [r5]
    ldr r2, [r4]
    subs r2, r2, r1
    str r2, [r6, #8]

    /* 4. A 16-bit instruction breaks the run: two runs of two, no charge. */
    .balign 4
    ldr r1, [r4]
    add.w r0, r0, #1
    add.w r0, r0, #1
    adds r0, #1
    nop
    add.w r0, r0, #1
    add.w r0, r0, #1
    ldr r2, [r4]
    subs r2, r2, r1
    str r2, [r6, #12]

    movs r0, #0
    pop {r4-r6, pc}
    .ltorg
    .size main, . - main
