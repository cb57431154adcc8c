/* Exception timing (tests/test_exceptions.py): SVC entry and exit by BX LR and by POP, SysTick
 * interrupting straight-line code, tail-chaining into a pended PendSV, and PendSV pended under
 * PRIMASK taken right after CPSIE, and external interrupt 0 pended by STIR through a vector table
 * in SRAM (VTOR), and an SVC from a thread on the process stack. Each scenario reads DWT CYCCNT around the event and stores a
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
    .equ VTOR, 0xE000ED08
    .equ NVIC_ISER0, 0xE000E100
    .equ STIR, 0xE000EF00

    .bss
    .align 2
    .global results
results:
    .space 64
    .align 3
    .space 256
psp_stack_top:
    .align 7
ram_vectors:  /* VTOR needs a 128-byte aligned table; only entry 16 (IRQ 0) is used */
    .space 4 * 17

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

    /* 5. IRQ 0, enabled in the NVIC and pended by a store to STIR. */
    ldr r0, =ram_vectors
    ldr r1, =PendSV_Handler
    str r1, [r0, #64]
    ldr r1, =VTOR
    str r0, [r1]
    ldr r1, =NVIC_ISER0
    movs r2, #1
    str r2, [r1]
    ldr r1, =STIR
    movs r2, #0
    ldr r3, [r4]
    str r2, [r1]
    nop
    subs r3, r11, r3
    str r3, [r10, #36]

    /* 6. A thread on the process stack (CONTROL.SPSEL = 1) takes an SVC and gets its stack
     * and CONTROL back. The vector table is the one in flash again. */
    ldr r1, =VTOR
    movs r2, #0
    str r2, [r1]
    mov r6, sp
    ldr r0, =psp_stack_top
    msr psp, r0
    movs r0, #2
    msr control, r0
    isb
    movs r7, #0
    svc #0
    mrs r0, control
    mrs r1, psp
    movs r2, #0
    msr control, r2
    isb
    str r0, [r10, #40]
    ldr r0, =psp_stack_top
    subs r1, r0, r1
    str r1, [r10, #44]
    mov r3, sp
    subs r3, r3, r6
    str r3, [r10, #48]

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
