@ Cortex-M3 microbenchmarks (simulator/cmsim/timing/cortex_m3.py rules; tests/test_cores.py
@ holds the expected cycles and each rule's source). ARMv7-M only, so it builds for every
@ Thumb-2 core; main prints "<ID> <cycles of BODY>".
@ Harness (as firmware/tests/microbench.S): T0 = ldr r0, [r3] (CYCCNT, 2 cycles: the next
@ instruction is no load or store); G1 = adds r4, r4, #1; BODY; G2 = adds r4, r4, #1; T1 = ldr
@ r1, [r3]. With the M4/M3 rules BODY = T1 - T0 - 4.
    .syntax unified
    .thumb

    .bss
    .balign 8
buf:    .space 64

    .text
@ r1 = r2 = buf, r3 = &CYCCNT, r5-r7 = 3, 5, 7 (r6/r7 as 0x12345678, 0x9ABCDEF0 for the long
@ multiplies: both 16-bit halves non-zero), r9 = 16.
    .balign 4
    .thumb_func
setup:
    ldr r2, =buf
    mov r1, r2
    ldr r3, =0xE0001004
    movs r5, #3
    movs r6, #5
    movs r7, #7
    mov r9, #16
    bx lr
    .ltorg

.macro BENCH name
    .balign 4
    .thumb_func
    .global \name
    .type \name, %function
\name:
    push {r4-r11, lr}
    bl setup
    .balign 4
    ldr r0, [r3]        @ T0
    adds r4, r4, #1     @ G1
.endm

.macro DONE name
    adds r4, r4, #1     @ G2
    ldr r1, [r3]        @ T1
    subs r0, r1, r0
    subs r0, r0, #4
    pop {r4-r11, pc}
    .ltorg
    .size \name, . - \name
.endm

BENCH b_empty
DONE b_empty

@ M3-MUL-MLA: MLA and MLS take 2 (M4: 1)
BENCH b_mla
    mla r5, r6, r7, r5
    mls r9, r6, r7, r9
DONE b_mla

@ M3-MUL-LONG: UMULL of operands with both halves non-zero: 5 (M4: 1)
BENCH b_umull
    ldr r6, =0x12345678
    ldr r7, =0x9ABCDEF0
    adds r4, r4, #1
    umull r5, r9, r6, r7
DONE b_umull

@ M3-MUL-LONG: SMLAL of operands with both halves non-zero: 7 (M4: 1)
BENCH b_smlal
    ldr r6, =0x12345678
    ldr r7, =0x9ABCDEF0
    adds r4, r4, #1
    smlal r5, r9, r6, r7
DONE b_smlal

@ M3-LS-WB: a post-indexed load followed by a load from another base: 2 + 2 on the M3;
@ M4-LS-PIPE pairs them on the M4 (1 + 2)
BENCH b_writeback
    ldr r5, [r2], #4
    ldr r6, [r1]
DONE b_writeback

    .balign 4
    .thumb_func
dwt_on:
    ldr r0, =0xE000EDFC     @ DEMCR.TRCENA
    ldr r1, [r0]
    orr r1, r1, #0x1000000
    str r1, [r0]
    ldr r0, =0xE0001000     @ DWT_CTRL.CYCCNTENA
    ldr r1, [r0]
    orr r1, r1, #1
    str r1, [r0]
    bx lr
    .ltorg

.macro REPORT label, func
    .pushsection .rodata.m3_names, "a"
9000:
    .asciz "\label "
    .popsection
    ldr r0, =9000b
    bl sh_puts
    bl \func
    bl sh_put_int
    movs r0, #10
    bl sh_putc
.endm

    .balign 4
    .global main
    .thumb_func
main:
    push {r4, lr}
    bl dwt_on
    REPORT "EMPTY", b_empty
    REPORT "M3-MUL-MLA", b_mla
    REPORT "M3-MUL-LONGa", b_umull
    REPORT "M3-MUL-LONGb", b_smlal
    REPORT "M3-LS-WB", b_writeback
    movs r0, #0
    pop {r4, pc}
    .ltorg
