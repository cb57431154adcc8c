/* Code the firmware copies to SRAM itself (issue 13, finding 1): `blob` is position-independent
 * code kept in flash as plain data (.rodata); main copies it word by word into `ram_code` (.bss:
 * the ELF has nothing at that address) and calls it there. Its cycles depend on run-time
 * facts (divide operands, IT conditions, access addresses, taken edges), which the fast path
 * must record for code it first sees at run time exactly as for the ELF's own code
 * (tests/test_engine_timing.py: both paths must agree).
 *
 * results[k] = CYCCNT delta of call k (r0 = divisor, r1 = loop count, r2 = data pointer), for
 * k < 6; results[6] = the sum of the blob's return values (its functional result). Exits 0.
 */
    .syntax unified
    .thumb

    .equ DEMCR, 0xE000EDFC
    .equ DWT_CTRL, 0xE0001000
    .equ DWT_CYCCNT, 0xE0001004

    .bss
    .align 3
    .global results
results:
    .space 32
data:
    .space 64
    .global ram_code
    .align 3
ram_code:
    .space 256

    .section .rodata
    .align 3
/* The blob: r0 divisor, r1 loop count, r2 data pointer; returns r0. */
blob:
    push {r4-r6, lr}
    movw r4, #1000
    udiv r5, r4, r0           @ by zero: 2 cycles; else operand-dependent (M4-DIV-1)
    sdiv r6, r4, r0
    add r5, r5, r6
1:  ldr r3, [r2], #4          @ post-indexed load chain
    add r5, r5, r3
    cmp r3, #3
    ite ge                    @ conditions depend on the data
    addge r5, r5, #1
    strlt r5, [r2, #-4]
    subs r1, r1, #1
    bne 1b
    cbz r0, 2f                @ taken only when dividing by zero
    ldrd r3, r4, [r2, #-8]
    add r5, r5, r4
2:  mov r0, r5
    pop {r4-r6, pc}
    .align 2
blob_end:

    .text
    .global main
    .type main, %function
    .thumb_func
main:
    push {r4-r8, lr}
    ldr r0, =DEMCR
    ldr r1, [r0]
    orr r1, r1, #(1 << 24)
    str r1, [r0]
    ldr r0, =DWT_CTRL
    ldr r1, [r0]
    orr r1, r1, #1
    str r1, [r0]
    /* copy the blob to SRAM */
    ldr r0, =blob
    ldr r1, =blob_end
    ldr r2, =ram_code
3:  ldr r3, [r0], #4
    str r3, [r2], #4
    cmp r0, r1
    bne 3b
    dsb
    isb
    /* data[k] = k for k < 16 */
    ldr r2, =data
    movs r3, #0
4:  str r3, [r2, r3, lsl #2]
    adds r3, r3, #1
    cmp r3, #16
    bne 4b
    /* call it with a few operand sets; results[k] = cycles of call k */
    ldr r4, =results
    ldr r5, =ram_code + 1
    movs r6, #0               @ call index
    movs r8, #0               @ sum of return values
5:  adr r7, operands
    add r7, r7, r6, lsl #2
    ldrb r0, [r7]             @ divisor
    ldrb r1, [r7, #1]         @ loop count
    ldr r2, =data
    ldr r3, =DWT_CYCCNT
    ldr r7, [r3]
    blx r5
    ldr r3, =DWT_CYCCNT
    ldr r3, [r3]
    subs r3, r3, r7
    str r3, [r4, r6, lsl #2]
    add r8, r8, r0
    adds r6, r6, #1
    cmp r6, #6
    bne 5b
    str r8, [r4, #24]
    movs r0, #0
    pop {r4-r8, pc}
    .align 2
operands:
    .byte 0, 3, 0, 0          @ divide by zero, 3 iterations
    .byte 7, 5, 0, 0
    .byte 1, 16, 0, 0
    .byte 0, 16, 0, 0
    .byte 200, 2, 0, 0
    .byte 3, 9, 0, 0
    .ltorg
