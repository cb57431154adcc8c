/* M4-MEM-FETCH flash prefetch (issue 13, finding 2): straight-line 32-bit code, 40 16-byte
 * lines per stream, run once from a cold I-cache; results[k] = CYCCNT delta of stream k.
 *   0: add.w x 4 per line (4 cycles of work per line at 0 WS)
 *   1: lines alternating udiv (1000 / 3: 7 cycles, M4-DIV-1) + 3 add.w and 4 add.w
 * On stm32f4 (5 WS, prefetch, ART) stream 0 is bound by the flash (one line per W + 1 = 6
 * cycles); stream 1 shows when the next line's read starts (tests/test_microbench.py).
 */
    .syntax unified
    .thumb

    .bss
    .align 2
    .global results
results:
    .space 8

    .text
    .global main
    .thumb_func
main:
    push {r4-r11, lr}
    ldr r0, =0xE000EDFC
    ldr r1, [r0]
    orr r1, r1, #(1 << 24)
    str r1, [r0]
    ldr r0, =0xE0001000
    ldr r1, [r0]
    orr r1, r1, #1
    str r1, [r0]
    ldr r3, =0xE0001004
    ldr r4, =results
    movw r6, #1000
    movs r7, #3
    bl stream_alu
    str r0, [r4]
    bl stream_mixed
    str r0, [r4, #4]
    movs r0, #0
    pop {r4-r11, pc}
    .ltorg

    .balign 16
    .thumb_func
stream_alu:
    isb
    ldr r0, [r3]
    .balign 16
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    add.w r5, r5, #1
    ldr r1, [r3]
    subs r0, r1, r0
    bx lr

    .balign 16
    .thumb_func
stream_mixed:
    isb
    ldr r0, [r3]
    .balign 16
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    udiv r5, r6, r7
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r8, r8, #1
    add.w r9, r9, #1
    add.w r10, r10, #1
    add.w r11, r11, #1
    ldr r1, [r3]
    subs r0, r1, r0
    bx lr
