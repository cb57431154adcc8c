/* Bit-band aliases (ARMv7-M; every Cortex-M4 board): each bit of the first MiB of SRAM has a
 * word at 0x22000000 + 32 * byte offset + 4 * bit. tests/test_machine.py checks the values,
 * tests/test_timing_rules.py the cost of a store to an alias (M4-MEM-BB).
 *
 * results[0] = cell after setting bits 0, 5 and 31 through the alias (from 0)
 * results[1] = the alias word of bit 5 read back (1), results[2] = bit 6 (0)
 * results[3] = cell after clearing bit 0 through the alias
 * results[4] = CYCCNT delta around `str r1, [alias]` (store to an alias)
 * results[5] = CYCCNT delta around `str r1, [cell]` (store to the target)
 */
    .syntax unified
    .thumb

    .equ DEMCR, 0xE000EDFC
    .equ DWT_CTRL, 0xE0001000
    .equ DWT_CYCCNT, 0xE0001004
    .equ SRAM, 0x20000000
    .equ ALIAS, 0x22000000

    .bss
    .align 2
    .global results
results:
    .space 32
cell:
    .space 4

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
    ldr r5, =cell
    movs r1, #0
    str r1, [r5]
    /* r6 = alias of cell's bit 0 */
    sub r6, r5, #SRAM
    lsl r6, r6, #5
    add r6, r6, #ALIAS
    movs r1, #1
    str r1, [r6]              @ bit 0
    str r1, [r6, #20]         @ bit 5
    str r1, [r6, #124]        @ bit 31
    ldr r0, [r5]
    str r0, [r4]
    ldr r0, [r6, #20]
    str r0, [r4, #4]
    ldr r0, [r6, #24]
    str r0, [r4, #8]
    movs r1, #0
    str r1, [r6]              @ clear bit 0
    ldr r0, [r5]
    str r0, [r4, #12]
    /* timing: a store to the alias against a store to the target */
    ldr r3, =DWT_CYCCNT
    movs r1, #1
    .balign 4
    ldr r0, [r3]
    adds r7, r7, #1
    str r1, [r6, #8]
    adds r7, r7, #1
    ldr r2, [r3]
    subs r0, r2, r0
    str r0, [r4, #16]
    .balign 4
    ldr r0, [r3]
    adds r7, r7, #1
    str r1, [r5]
    adds r7, r7, #1
    ldr r2, [r3]
    subs r0, r2, r0
    str r0, [r4, #20]
    movs r0, #0
    pop {r4-r7, pc}
    .ltorg
