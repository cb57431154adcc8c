/*
 * Hand-scheduled int8 x int16 dot-product cores for Cortex-M4 (ARMv7E-M, Thumb-2).
 * Scheduled against shared/timing/cortex-m4.md:
 *  - M4-LS-PIPE: back-to-back independent single loads cost 1 each after the first, so each
 *    group starts with a burst of loads; no load uses an address register written by the
 *    load just before it (the column pointer's writeback is on the first load of the burst
 *    and is followed by a weight load), so every burst pipelines fully.
 *  - M4-LS-AGU: no load's address register is written by the data-processing instruction just
 *    before it (pointer updates ride on post-indexed loads).
 *  - SXTB16 / SMLAD: 1 cycle each; an SMLAD chain on one accumulator does not stall.
 *  - taken branch 2 cycles: the loop body is unrolled twice; loop heads are word aligned.
 * Data layouts are the ones of firmware/kernels/conv_blocked.h.
 */
    .syntax unified
    .thumb
    .text

/*
 * void nn_asm_dot_2x2(const int8_t *w0, const int16_t *cols, int32_t k, int32_t *acc)
 *   acc[0..3] += (ch0,col0) (ch0,col1) (ch1,col0) (ch1,col1) over the k & ~3 grouped taps;
 *   channel 1's weights start at w0 + k; cols holds 16 bytes per group (two reordered columns).
 * Registers: r0 w0 ptr, r2 w1 ptr, r1 column ptr, r3 group counter, r4-r7 accumulators,
 * r8/r9 weight (even/odd halves), r10-r12 and lr column words.
 */
    .global nn_asm_dot_2x2
    .type nn_asm_dot_2x2, %function
    .balign 4
nn_asm_dot_2x2:
    push    {r3-r11, lr}            @ r3 = acc pointer, reloaded at the end
    ldm     r3, {r4-r7}
    lsrs    r3, r2, #2              @ groups of four taps
    add     r2, r0, r2              @ channel 1 row
    beq     .Ldot22_done

/* One group: 16 MACs. Loads: c0e (writeback), w0, c0o, c1e, c1o pipeline (6 cycles). */
.macro DOT22_GROUP
    ldr     r10, [r1], #16          @ column 0 taps (0, 2)
    ldr     r8, [r0], #4            @ channel 0 weights
    ldr     r11, [r1, #-12]         @ column 0 taps (1, 3)
    ldr     r12, [r1, #-8]          @ column 1 taps (0, 2)
    ldr     lr, [r1, #-4]           @ column 1 taps (1, 3)
    sxtb16  r9, r8, ror #8          @ weights 1, 3
    sxtb16  r8, r8                  @ weights 0, 2
    smlad   r4, r8, r10, r4
    smlad   r4, r9, r11, r4
    smlad   r5, r8, r12, r5
    smlad   r5, r9, lr, r5
    ldr     r8, [r2], #4            @ channel 1 weights
    sxtb16  r9, r8, ror #8
    sxtb16  r8, r8
    smlad   r6, r8, r10, r6
    smlad   r6, r9, r11, r6
    smlad   r7, r8, r12, r7
    smlad   r7, r9, lr, r7
.endm

    tst     r3, #1                  @ an odd group count: one group before the paired loop
    beq     .Ldot22_pairs
    DOT22_GROUP
    subs    r3, r3, #1
    beq     .Ldot22_done
.Ldot22_pairs:
    lsrs    r3, r3, #1
    .balign 4
.Ldot22_loop:
    DOT22_GROUP
    DOT22_GROUP
    subs    r3, r3, #1
    bne     .Ldot22_loop
.Ldot22_done:
    ldr     r3, [sp]
    stm     r3, {r4-r7}
    pop     {r3-r11, pc}
    .size nn_asm_dot_2x2, . - nn_asm_dot_2x2

/*
 * void nn_asm_dot_2x1(const int8_t *w0, const int16_t *col, int32_t k, int32_t *acc)
 *   acc[0..1] += (ch0, ch1) . col over the k & ~3 grouped taps; col holds 8 bytes per group.
 * Registers: r0 w0 ptr, r2 w1 ptr, r1 column ptr, r3 counter, r4/r5 accumulators,
 * r6/r7 column words, r8-r11 weights.
 */
    .global nn_asm_dot_2x1
    .type nn_asm_dot_2x1, %function
    .balign 4
nn_asm_dot_2x1:
    push    {r3-r11, lr}
    ldm     r3, {r4, r5}
    lsrs    r3, r2, #2
    add     r2, r0, r2
    beq     .Ldot21_done

/* One group: 8 MACs; four pipelined loads (5 cycles). */
.macro DOT21_GROUP
    ldr     r6, [r1], #8            @ taps (0, 2)
    ldr     r8, [r0], #4            @ channel 0 weights
    ldr     r7, [r1, #-4]           @ taps (1, 3)
    ldr     r10, [r2], #4           @ channel 1 weights
    sxtb16  r9, r8, ror #8
    sxtb16  r8, r8
    sxtb16  r11, r10, ror #8
    sxtb16  r10, r10
    smlad   r4, r8, r6, r4
    smlad   r4, r9, r7, r4
    smlad   r5, r10, r6, r5
    smlad   r5, r11, r7, r5
.endm

    tst     r3, #1
    beq     .Ldot21_pairs
    DOT21_GROUP
    subs    r3, r3, #1
    beq     .Ldot21_done
.Ldot21_pairs:
    lsrs    r3, r3, #1
    .balign 4
.Ldot21_loop:
    DOT21_GROUP
    DOT21_GROUP
    subs    r3, r3, #1
    bne     .Ldot21_loop
.Ldot21_done:
    ldr     r3, [sp]
    stm     r3, {r4, r5}
    pop     {r3-r11, pc}
    .size nn_asm_dot_2x1, . - nn_asm_dot_2x1
