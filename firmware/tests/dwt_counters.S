/* DWT profiling counters (M4-DWT-2, tests/test_dwt_counters.py): each scenario reads one 8-bit
 * counter before and after a short known sequence and stores the difference (mod 256) in
 * `results`; the test states the expected value of each and the rules that give it.
 *
 * r4 = DWT base (DWT_CTRL) throughout, r10 = results, r9 = scratch words in SRAM,
 * r5 = 1000 and r6 = 3 (UDIV r5 / r6 takes 7 cycles, M4-DIV-1).
 */
    .syntax unified
    .thumb

    .equ DEMCR, 0xE000EDFC
    .equ DWT_CTRL, 0xE0001000
    .equ CYCCNT, 0x04
    .equ CPICNT, 0x08
    .equ EXCCNT, 0x0C
    .equ SLEEPCNT, 0x10
    .equ LSUCNT, 0x14
    .equ FOLDCNT, 0x18
    .equ CPIEVTENA, 1 << 17
    .equ ALL_EVENTS, (0x1F << 17) | 1  /* CPI, EXC, SLEEP, LSU, FOLD counters and CYCCNT */
    .equ SYST_CSR, 0xE000E010
    .equ SYST_RVR, 0xE000E014
    .equ SYST_CVR, 0xE000E018

    /* results[k] = (r2 - r1) mod 256 */
    .macro delta k
    subs r3, r2, r1
    and r3, r3, #255
    str r3, [r10, #(4 * \k)]
    .endm

    .bss
    .align 2
    .global results
results:
    .space 64
scratch:
    .space 16

    .text
    .global main
    .type main, %function
    .thumb_func
main:
    push {r4-r11, lr}
    ldr r0, =DEMCR
    ldr r1, [r0]
    orr r1, r1, #(1 << 24)
    str r1, [r0]
    ldr r4, =DWT_CTRL
    ldr r1, [r4]
    ldr r2, =ALL_EVENTS
    orr r1, r1, r2
    str r1, [r4]
    ldr r10, =results
    ldr r9, =scratch
    movw r5, #1000
    movs r6, #3
    movs r0, #0

    /* 0. CPICNT around UDIV, MUL and a taken B. */
    ldr r1, [r4, #CPICNT]
    udiv r3, r5, r6
    mul r3, r3, r6
    b 1f
1:  ldr r2, [r4, #CPICNT]
    delta 0

    /* 1. LSUCNT around a chain of loads, a store followed by a load and an LDM. */
    ldr r1, [r4, #LSUCNT]
    ldr r3, [r9]
    ldr r7, [r9, #4]
    ldr r8, [r9, #8]
    str r3, [r9, #12]
    ldr r3, [r9, #12]
    ldmia r9, {r3, r7, r8}
    ldr r2, [r4, #LSUCNT]
    delta 1

    /* 2. FOLDCNT around an IT that folds on the CMP before it. */
    ldr r1, [r4, #FOLDCNT]
    cmp r0, r0
    it eq
    addeq r3, #1
    ldr r2, [r4, #FOLDCNT]
    delta 2

    /* 3. FOLDCNT around a NOP absorbed into the load before it. */
    ldr r1, [r4, #FOLDCNT]
    nop
    ldr r2, [r4, #FOLDCNT]
    delta 3

    /* 4. EXCCNT around an SVC whose handler returns at once. */
    ldr r1, [r4, #EXCCNT]
    svc #0
    ldr r2, [r4, #EXCCNT]
    delta 4

    /* 5. SLEEPCNT around a WFI woken by SysTick 100 cycles after enabling it. */
    ldr r0, =SYST_RVR
    movs r1, #99
    str r1, [r0]
    ldr r0, =SYST_CVR
    str r0, [r0]
    ldr r0, =SYST_CSR
    movs r2, #7
    str r2, [r0]
    ldr r1, [r4, #SLEEPCNT]
    wfi
    nop
    ldr r2, [r4, #SLEEPCNT]
    delta 5

    /* 6. A write sets CPICNT; it wraps past 255. */
    movs r1, #250
    str r1, [r4, #CPICNT]
    udiv r3, r5, r6
    udiv r3, r5, r6
    ldr r2, [r4, #CPICNT]
    str r2, [r10, #24]

    /* 7. Disabled, CPICNT does not count; 8. enabled again, it does. */
    ldr r0, [r4]
    bic r0, r0, #CPIEVTENA
    str r0, [r4]
    ldr r1, [r4, #CPICNT]
    udiv r3, r5, r6
    ldr r2, [r4, #CPICNT]
    delta 7
    orr r0, r0, #CPIEVTENA
    str r0, [r4]
    ldr r1, [r4, #CPICNT]
    udiv r3, r5, r6
    ldr r2, [r4, #CPICNT]
    delta 8

    /* 9. A write sets FOLDCNT, read by the next instruction. */
    movs r1, #5
    str r1, [r4, #FOLDCNT]
    ldr r2, [r4, #FOLDCNT]
    str r2, [r10, #36]

    movs r0, #0
    pop {r4-r11, pc}
    .ltorg
    .size main, . - main

    .global SVC_Handler
    .type SVC_Handler, %function
    .thumb_func
SVC_Handler:
    bx lr
    .size SVC_Handler, . - SVC_Handler

    .global SysTick_Handler
    .type SysTick_Handler, %function
    .thumb_func
SysTick_Handler:  /* one tick: stop SysTick */
    ldr r0, =SYST_CSR
    movs r1, #0
    str r1, [r0]
    bx lr
    .ltorg
    .size SysTick_Handler, . - SysTick_Handler
