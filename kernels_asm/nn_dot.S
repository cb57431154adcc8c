/*
 * Hand-scheduled int8 kernels for Cortex-M4 (ARMv7E-M, Thumb-2): the convolution's whole
 * per-pixel-pair matrix multiply with requantization (nn_asm_conv_cols) and the fully
 * connected dot-product core (nn_asm_dot_2x1). Scheduled against shared/timing/cortex-m4.md:
 *  - M4-LS-PIPE: back-to-back independent single loads cost 1 each after the first, so each
 *    group starts with a burst of loads; no load uses an address register written by the
 *    load just before it (the column pointer's writeback is on the first load of the burst
 *    and is followed by a weight load), so every burst pipelines fully.
 *  - M4-LS-AGU: no load's address register is written by the data-processing instruction just
 *    before it (pointer updates ride on post-indexed loads).
 *  - SXTB16 / SMLAD: 1 cycle each; an SMLAD chain on one accumulator does not stall; a loaded
 *    value feeds the next instruction without a stall (only address operands are early).
 *  - The 2x2 block needs four column words and a weight word expanded to two registers at
 *    once; with 4 accumulators and 4 pointers/counters that leaves no seventh scratch
 *    register, so channel 1's weight load starts a second (2-cycle) burst: 20 cycles per
 *    16 MACs per group.
 *  - taken branch 2 cycles: loop bodies are unrolled (four groups in the convolution kernel,
 *    two in the fully connected core); loop heads are word aligned.
 * Data layouts are the ones of firmware/kernels/conv_blocked.h.
 */
    .syntax unified
    .thumb
    .text

/* One group of the 2 channels x 2 columns core: 16 MACs. r0/r2 weight rows, r1 columns,
 * r4-r7 accumulators, r8-r12/lr scratch. The loads c0e (writeback), w0, c0o, c1e, c1o
 * pipeline (6 cycles). */
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


/*
 * Requantize one accumulator exactly as nn_requantize (firmware/kernels/nn_internal.h), for a
 * multiplier other than INT32_MIN (the caller checks): x = acc << left; the saturating rounding
 * doubling high multiply is floor((x * m + 2^30) / 2^31) (the TFLite nudge-and-truncate,
 * folded into one rounding constant); then a rounding right shift, half away from zero.
 * acc in/out; m, s: multiplier and shift; t0-t3 scratch.
 */
.macro REQUANT acc, m, s, t0, t1, t2, t3
    bic     \t0, \s, \s, asr #31    @ left = max(shift, 0)
    sub     \t1, \t0, \s            @ right = max(-shift, 0)
    lsl     \acc, \acc, \t0
    smull   \t2, \t3, \acc, \m
    adds    \t2, \t2, #0x40000000
    adc     \t3, \t3, #0
    lsr     \t2, \t2, #31
    orr     \acc, \t2, \t3, lsl #1  @ (x * m + 2^30) >> 31
    movs    \t0, #1
    lsl     \t0, \t0, \t1
    sub     \t0, \t0, #1            @ mask = 2^right - 1
    and     \t2, \acc, \t0          @ remainder
    asr     \t0, \t0, #1
    add     \t0, \t0, \acc, lsr #31 @ threshold = mask / 2 + (x < 0)
    asr     \acc, \acc, \t1
    cmp     \t2, \t0
    it      gt
    addgt   \acc, \acc, #1
.endm

/* acc + offset clamped to [lo, hi]. */
.macro OUTPUT acc, offset, lo, hi
    add     \acc, \acc, \offset
    cmp     \acc, \lo
    it      lt
    movlt   \acc, \lo
    cmp     \acc, \hi
    it      gt
    movgt   \acc, \hi
.endm

/* nn_cols_args field offsets (conv_blocked.h). */
    .equ A_WEIGHTS, 0
    .equ A_BIAS, 4
    .equ A_MULT, 8
    .equ A_SHIFT, 12
    .equ A_K, 16
    .equ A_PAIRS, 20
    .equ A_OUT_STEP, 24
    .equ A_OUT_OFFSET, 28
    .equ A_ACT_MIN, 32
    .equ A_ACT_MAX, 36
    .equ A_SECOND, 40

/* Stack frame: locals below the saved registers. */
    .equ L_ARGS, 0
    .equ L_COLS, 4
    .equ L_OUT, 8
    .equ L_PAIRS, 12
    .equ L_W, 16
    .equ L_BIAS, 20
    .equ L_MULT, 24
    .equ L_SHIFT, 28
    .equ L_SIZE, 36                 @ 9 words: with 9 saved registers the frame stays 8-aligned

/*
 * void nn_asm_conv_cols(const nn_cols_args *a, const int16_t *cols, int8_t *out0)
 *   For every pair of output channels: the 2x2 block of dot products of two weight rows
 *   with the two im2col columns (grouped taps by DOT22_GROUP, the k % 4 leftover taps with
 *   SMLABB/SMLABT on the (col0, col1) tail pairs), plus bias, requantized, offset, clamped
 *   and stored to out0[ch] (pixel 0) and out0[out_step + ch] (pixel 1, when a->second).
 */
    .global nn_asm_conv_cols
    .type nn_asm_conv_cols, %function
    .balign 4
nn_asm_conv_cols:
    push    {r4-r11, lr}
    sub     sp, sp, #L_SIZE
    str     r0, [sp, #L_ARGS]
    str     r1, [sp, #L_COLS]
    str     r2, [sp, #L_OUT]
    ldr     r3, [r0, #A_PAIRS]
    ldr     r4, [r0, #A_WEIGHTS]
    ldr     r5, [r0, #A_BIAS]
    ldr     r6, [r0, #A_MULT]
    ldr     r7, [r0, #A_SHIFT]
    str     r3, [sp, #L_PAIRS]
    str     r4, [sp, #L_W]
    str     r5, [sp, #L_BIAS]
    str     r6, [sp, #L_MULT]
    str     r7, [sp, #L_SHIFT]

.Lcols_pair:
    /* Accumulators start at the bias (or 0 without one). */
    ldr     r3, [sp, #L_BIAS]
    movs    r4, #0
    movs    r6, #0
    cbz     r3, 1f
    ldr     r4, [r3], #4
    ldr     r6, [r3], #4
    str     r3, [sp, #L_BIAS]
1:  mov     r5, r4
    mov     r7, r6
    ldr     r3, [sp, #L_ARGS]
    ldr     r0, [sp, #L_W]
    ldr     r1, [sp, #L_COLS]
    ldr     r12, [r3, #A_K]
    add     r2, r0, r12             @ channel 1 row
    add     lr, r2, r12
    str     lr, [sp, #L_W]          @ next pair's rows
    /* Groups of four taps: first the (groups % 4) odd ones singly, then four per iteration
     * so the loop's subs + taken branch (3 cycles) is paid once per 64 MACs. */
    ands    r3, r12, #12            @ 4 * (groups % 4)
    beq     .Lcols_quads
    lsrs    r3, r3, #2
.Lcols_single:
    DOT22_GROUP
    subs    r3, r3, #1
    bne     .Lcols_single
.Lcols_quads:
    ldr     r3, [sp, #L_ARGS]
    ldr     r3, [r3, #A_K]
    lsrs    r3, r3, #4              @ groups / 4
    beq     .Lcols_tail
    .balign 4
.Lcols_loop:
    DOT22_GROUP
    DOT22_GROUP
    DOT22_GROUP
    DOT22_GROUP
    subs    r3, r3, #1
    bne     .Lcols_loop

.Lcols_tail:
    /* k % 4 leftover taps: one int8 weight per row, one (col0, col1) halfword pair. */
    ldr     r3, [sp, #L_ARGS]
    ldr     r3, [r3, #A_K]
    ands    r3, r3, #3
    beq     .Lcols_requant
.Lcols_tail_loop:
    ldr     r10, [r1], #4
    ldrsb   r8, [r0], #1
    ldrsb   r9, [r2], #1
    smlabb  r4, r8, r10, r4
    smlabt  r5, r8, r10, r5
    smlabb  r6, r9, r10, r6
    smlabt  r7, r9, r10, r7
    subs    r3, r3, #1
    bne     .Lcols_tail_loop

.Lcols_requant:
    ldr     r0, [sp, #L_MULT]
    ldr     r1, [sp, #L_SHIFT]
    ldr     r8, [r0], #4            @ channel 0 multiplier, shift
    ldr     r9, [r1], #4
    ldr     r10, [r0], #4           @ channel 1
    ldr     r11, [r1], #4
    str     r0, [sp, #L_MULT]
    str     r1, [sp, #L_SHIFT]
    REQUANT r4, r8, r9, r0, r1, r2, r3
    REQUANT r5, r8, r9, r0, r1, r2, r3
    REQUANT r6, r10, r11, r0, r1, r2, r3
    REQUANT r7, r10, r11, r0, r1, r2, r3
    ldr     r3, [sp, #L_ARGS]
    ldr     r0, [r3, #A_OUT_OFFSET]
    ldr     r1, [r3, #A_ACT_MIN]
    ldr     r2, [r3, #A_ACT_MAX]
    OUTPUT  r4, r0, r1, r2
    OUTPUT  r6, r0, r1, r2
    ldr     r8, [sp, #L_OUT]
    strb    r4, [r8]
    strb    r6, [r8, #1]
    ldr     r9, [r3, #A_SECOND]
    cmp     r9, #0
    beq     2f
    OUTPUT  r5, r0, r1, r2
    OUTPUT  r7, r0, r1, r2
    ldr     r10, [r3, #A_OUT_STEP]
    add     r10, r10, r8
    strb    r5, [r10]
    strb    r7, [r10, #1]
2:  add     r8, r8, #2
    str     r8, [sp, #L_OUT]
    ldr     r8, [sp, #L_PAIRS]
    subs    r8, r8, #1
    str     r8, [sp, #L_PAIRS]
    bne     .Lcols_pair

    add     sp, sp, #L_SIZE
    pop     {r4-r11, pc}
    .size nn_asm_conv_cols, . - nn_asm_conv_cols

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
