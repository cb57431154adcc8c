/* Exception timing (tests/test_exceptions.py): SVC entry and exit by BX LR and by POP, SysTick
 * interrupting straight-line code, tail-chaining into a pended PendSV, and PendSV pended under
 * PRIMASK taken right after CPSIE. Each scenario reads DWT CYCCNT around the event and stores a
 * cycle difference in `results`; the test states the expected value of each and the rules that
 * give it (shared/timing/cortex-m4.md section 7).
 *
 * r4 = &DWT_CYCCNT throughout; the handlers leave their readings in callee-saved registers
 * (r5, r8, r9, r11), which exception return does not restore.
 */
    .syntax unified
    .thumb

    .equ DEMCR, 0xE000EDFC
    .equ DWT_CTRL, 0xE0001000
    .equ DWT_CYCCNT, 0xE0001004
    .equ SYST_CSR, 0xE000E010
    .equ SYST_RVR, 0xE000E014
    .equ SYST_CVR, 0xE000E018
    .equ ICSR, 0xE000ED04
    .equ SHPR3, 0xE000ED20
    .equ PENDSVSET, 1 << 28

    .bss
    .align 2
    .global results
results:
    .space 64

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
    ldr r0, =DWT_CTRL
    ldr r1, [r0]
    orr r1, r1, #1
    str r1, [r0]
    ldr r4, =DWT_CYCCNT
    ldr r10, =results

    /* 1. SVC; the handler returns with BX LR (r7 = 0). */
    movs r7, #0
    ldr r1, [r4]
    svc #0
    ldr r2, [r4]
    subs r3, r5, r1
    str r3, [r10, #0]
    subs r3, r2, r5
    str r3, [r10, #4]

    /* 2. SVC; the handler returns with POP {r4, pc} (r7 = 1). */
    movs r7, #1
    ldr r1, [r4]
    svc #0
    ldr r2, [r4]
    subs r3, r5, r1
    str r3, [r10, #8]
    subs r3, r2, r5
    str r3, [r10, #12]

    /* 3. SysTick every 100 cycles (highest priority), PendSV lowest. */
    ldr r0, =SHPR3
    ldr r1, =0x00F00000
    str r1, [r0]
    ldr r0, =SYST_RVR
    movs r1, #99
    str r1, [r0]
    ldr r0, =SYST_CVR
    str r1, [r0]
    movs r6, #0
    ldr r0, =SYST_CSR
    movs r2, #7
    str r2, [r0]
    ldr r1, [r4]
    .rept 150
    adds r6, #1
    .endr
    subs r3, r5, r1
    str r3, [r10, #16]
    str r8, [r10, #20]
    subs r3, r11, r9
    str r3, [r10, #24]
    str r6, [r10, #28]

    /* 4. PendSV pended while PRIMASK is set comes in right after CPSIE. */
    cpsid i
    ldr r0, =ICSR
    ldr r1, =PENDSVSET
    str r1, [r0]
    nop
    nop
    ldr r1, [r4]
    cpsie i
    nop
    subs r3, r11, r1
    str r3, [r10, #32]

    movs r0, #0
    pop {r4-r11, pc}
    .ltorg
    .size main, . - main

    .global SVC_Handler
    .type SVC_Handler, %function
    .thumb_func
SVC_Handler:
    ldr r5, [r4]
    cmp r7, #0
    beq 1f
    push {r4, lr}
    pop {r4, pc}
1:  bx lr
    .size SVC_Handler, . - SVC_Handler

    .global SysTick_Handler
    .type SysTick_Handler, %function
    .thumb_func
SysTick_Handler:
    ldr r5, [r4]
    mov r8, r6
    ldr r0, =SYST_CSR
    movs r1, #0
    str r1, [r0]
    ldr r0, =ICSR
    ldr r1, =PENDSVSET
    str r1, [r0]
    ldr r9, [r4]
    bx lr
    .ltorg
    .size SysTick_Handler, . - SysTick_Handler

    .global PendSV_Handler
    .type PendSV_Handler, %function
    .thumb_func
PendSV_Handler:
    ldr r11, [r4]
    bx lr
    .size PendSV_Handler, . - PendSV_Handler
