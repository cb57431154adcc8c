/* Faults taken through the vector table (tests/test_exceptions.py): UNDEFINSTR escalated to
 * HardFault and taken by an enabled UsageFault, UNALIGNED (LDRD, and LDR with
 * CCR.UNALIGN_TRP), DIVBYZERO (CCR.DIV_0_TRP), NOCP (an FPU instruction with CPACR off), a
 * precise BusFault on a read (BusFault enabled) and on a write (escalated), an instruction
 * fetch from the execute-never peripheral space (MemManage IACCVIOL, escalated), and a BKPT
 * with no debugger (HardFault DEBUGEVT); then the FPU turned on, after which the FPU
 * instruction runs.
 *
 * Each scenario reads DWT CYCCNT right before the faulting instruction (r1); every handler
 * reads it as its first instruction (r5), then leaves IPSR (r6), CFSR (r8), HFSR (r9) and
 * BFAR (r11) in callee-saved registers (exception return does not restore them), clears
 * CFSR and HFSR (write 1 to clear), and returns past the faulting instruction (or, after a
 * bad fetch, to the caller). main stores r5 - r1, r6, r8, r9, r11 per scenario in `results`.
 */
    .syntax unified
    .thumb
    .fpu fpv4-sp-d16

    .equ DEMCR, 0xE000EDFC
    .equ DWT_CTRL, 0xE0001000
    .equ DWT_CYCCNT, 0xE0001004
    .equ CCR, 0xE000ED14
    .equ SHCSR, 0xE000ED24
    .equ CFSR, 0xE000ED28
    .equ HFSR, 0xE000ED2C
    .equ BFAR, 0xE000ED38
    .equ CPACR, 0xE000ED88
    .equ USGFAULTENA, 1 << 18
    .equ BUSFAULTENA, 1 << 17
    .equ UNALIGN_TRP, 1 << 3
    .equ DIV_0_TRP, 1 << 4

    .bss
    .align 2
    .global results
results:
    .space 4 * 5 * 12

/* Clear the handler's outputs before a scenario. */
.macro FRESH
    movs r5, #0
    movs r6, #0
    mov r8, r6
    mov r9, r6
    mov r11, r6
.endm

/* Store r5 - r1, IPSR, CFSR, HFSR, BFAR. */
.macro RECORD
    subs r3, r5, r1
    stmia r10!, {r3, r6, r8, r9, r11}
.endm

/* Set (orr) or clear (bic) bits of a system register. */
.macro SETBITS op, register, bits
    ldr r0, =\register
    ldr r2, [r0]
    \op r2, r2, #\bits
    str r2, [r0]
.endm

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
    ldr r7, =results + 1  /* an odd address in SRAM */

    /* 1. UDF with UsageFault disabled: escalates to HardFault (FORCED). */
    FRESH
    ldr r1, [r4]
    udf #0
    RECORD

    /* 2. UDF with UsageFault enabled: its own handler. */
    SETBITS orr, SHCSR, USGFAULTENA
    FRESH
    ldr r1, [r4]
    udf #0
    RECORD

    /* 3. LDRD from an odd address: UNALIGNED whatever CCR says. */
    FRESH
    ldr r1, [r4]
    ldrd r2, r3, [r7]
    RECORD

    /* 4. SDIV by 0 with CCR.DIV_0_TRP. */
    SETBITS orr, CCR, DIV_0_TRP
    FRESH
    movs r2, #0
    ldr r1, [r4]
    sdiv r0, r0, r2
    RECORD
    SETBITS bic, CCR, DIV_0_TRP

    /* 5. LDR from an odd address with CCR.UNALIGN_TRP. */
    SETBITS orr, CCR, UNALIGN_TRP
    FRESH
    ldr r1, [r4]
    ldr r0, [r7]
    RECORD
    SETBITS bic, CCR, UNALIGN_TRP

    /* 6. An FPU instruction with CPACR at its reset value: NOCP. */
    FRESH
    ldr r1, [r4]
    vmov s0, r0
    RECORD

    /* 7. A read of unmapped memory with BusFault enabled: precise, BFAR valid. */
    SETBITS orr, SHCSR, BUSFAULTENA
    ldr r7, =0x60000000
    FRESH
    ldr r1, [r4]
    movs r3, #0
    ldr r0, [r7]
    RECORD

    /* 8. A write to unmapped memory with BusFault disabled: escalates to HardFault. */
    SETBITS bic, SHCSR, BUSFAULTENA
    FRESH
    ldr r1, [r4]
    movs r3, #0
    str r0, [r7]
    RECORD

    /* 9. A call into the peripheral space (execute-never): MemManage IACCVIOL, escalated;
     * the handler returns to the caller. */
    ldr r7, =0x40000001
    FRESH
    ldr r1, [r4]
    blx r7
    RECORD

    /* 10. BKPT other than semihosting's, with no debugger: HardFault DEBUGEVT. */
    FRESH
    ldr r1, [r4]
    bkpt #1
    RECORD

    /* 11. The FPU on (CPACR CP10, CP11): the same instruction runs (no handler, r6 = 0). */
    SETBITS orr, CPACR, (0xF << 20)
    FRESH
    ldr r1, [r4]
    vmov s0, r0
    RECORD

    movs r0, #0
    pop {r4-r11, pc}
    .ltorg
    .size main, . - main

/* The four fault handlers read CYCCNT first, then share the rest. */
    .global HardFault_Handler
    .type HardFault_Handler, %function
    .thumb_func
HardFault_Handler:
    ldr r5, [r4]
    b fault_common
    .size HardFault_Handler, . - HardFault_Handler

    .global MemManage_Handler
    .type MemManage_Handler, %function
    .thumb_func
MemManage_Handler:
    ldr r5, [r4]
    b fault_common
    .size MemManage_Handler, . - MemManage_Handler

    .global BusFault_Handler
    .type BusFault_Handler, %function
    .thumb_func
BusFault_Handler:
    ldr r5, [r4]
    b fault_common
    .size BusFault_Handler, . - BusFault_Handler

    .global UsageFault_Handler
    .type UsageFault_Handler, %function
    .thumb_func
UsageFault_Handler:
    ldr r5, [r4]
    b fault_common
    .size UsageFault_Handler, . - UsageFault_Handler

    .type fault_common, %function
    .thumb_func
fault_common:
    mrs r6, ipsr
    ldr r0, =CFSR
    ldr r8, [r0]
    str r8, [r0]
    ldr r0, =HFSR
    ldr r9, [r0]
    str r9, [r0]
    ldr r0, =BFAR
    ldr r11, [r0]
    ldr r0, [sp, #24]        /* the stacked PC: the faulting instruction, or a bad target */
    movw r1, #0x101          /* IACCVIOL or IBUSERR: nothing to skip, return to the caller */
    tst r8, r1
    bne 2f
    ldrh r1, [r0]
    lsrs r1, r1, #11
    cmp r1, #0x1d            /* first halfword 0b11101..., 0b11110..., 0b11111...: 32-bit */
    ite hs
    addhs r0, r0, #4
    addlo r0, r0, #2
    b 3f
2:  ldr r0, [sp, #20]        /* the stacked LR */
    bic r0, r0, #1
3:  str r0, [sp, #24]
    bx lr
    .ltorg
    .size fault_common, . - fault_common
