@ Cortex-M0+ microbenchmarks (simulator/cmsim/timing/cortex_m0plus.py rules; tests/test_cores.py
@ holds the expected cycles and each rule's source). ARMv6-M only, so it builds for every core.
@ ARMv6-M has no DWT CYCCNT: the harness times BODY with SysTick (reload 0xFFFFFF, processor
@ clock, counting down; M4-SYST-1), restarted before each benchmark so it never wraps inside one.
@ Harness: T0 = ldr r0, [r3] (SYST_CVR); G1 = mov r8, r8; BODY; G2 = mov r8, r8; T1 = ldr r1,
@ [r3]. On the M0+ T0 takes 2, G1 and G2 1 each: BODY = T0 - T1 - 4. main prints
@ "<ID> <cycles of BODY>".
    .syntax unified
    .thumb

    .bss
    .balign 8
buf:    .space 64

    .text
@ Restart SysTick; r2 = buf, r3 = &SYST_CVR, r5-r7 = 3, 5, 7. Clobbers r0, r1.
    .balign 4
    .thumb_func
setup:
    ldr r0, =0xE000E010     @ SYST_CSR
    movs r1, #0
    str r1, [r0]            @ stop
    ldr r1, =0xFFFFFF
    str r1, [r0, #4]        @ SYST_RVR
    str r1, [r0, #8]        @ SYST_CVR: any write clears it
    movs r1, #5
    str r1, [r0]            @ processor clock, enabled, no interrupt
    ldr r2, =buf
    ldr r3, =0xE000E018
    movs r5, #3
    movs r6, #5
    movs r7, #7
    bx lr
    .ltorg

.macro BENCH name
    .balign 4
    .thumb_func
    .global \name
    .type \name, %function
\name:
    push {r4-r7, lr}
    bl setup
    .balign 4
    ldr r0, [r3]        @ T0
    mov r8, r8          @ G1
.endm

.macro DONE name
    mov r8, r8          @ G2
    ldr r1, [r3]        @ T1
    subs r0, r0, r1
    subs r0, r0, #4
    pop {r4-r7, pc}
    .ltorg
    .size \name, . - \name
.endm

BENCH b_empty
DONE b_empty

@ M0P-1: ALU 1 and MULS 1: 4 + 2
BENCH b_alu
    adds r5, #1
    adds r5, #1
    lsls r6, r6, #1
    mov r4, r5
    muls r5, r6
    muls r5, r7
DONE b_alu

@ M0P-LS: loads and stores 2 each, no pipelining, no load-use stall: 2 + 2 + 2 + 1
BENCH b_ldst
    ldr r5, [r2]
    ldr r6, [r2, #4]
    str r5, [r2, #8]
    adds r7, r5, #1
DONE b_ldst

@ M0P-LS: LDM of 3 registers 1 + 3, then SUBS 1; PUSH and POP of 2 registers 3 each
BENCH b_multi
    ldm r2!, {r5, r6, r7}
    subs r2, #12
    push {r5, r6}
    pop {r5, r6}
DONE b_multi

@ M0P-BR: a taken B 2, BL 3 + BX LR 2
BENCH b_branch
    b 1f
1:  bl leaf_bx
DONE b_branch

@ M0P-BR: BL 3, PUSH {r4, lr} 3, POP {r4, pc} 3 + 2
BENCH b_pop_pc
    bl leaf_pop
DONE b_pop_pc

@ M0P-BR: a loop of 4: MOVS 1, 4 x SUBS 1, 3 x BNE taken 2, BNE not taken 1
BENCH b_loop
    movs r5, #4
1:  subs r5, #1
    bne 1b
DONE b_loop

@ M0P-SYS: DMB 3, ISB 3
BENCH b_system
    dmb
    isb
DONE b_system

    .balign 4
    .thumb_func
leaf_bx:
    bx lr

    .balign 4
    .thumb_func
leaf_pop:
    push {r4, lr}
    pop {r4, pc}

.macro REPORT label, func
    .pushsection .rodata.v6m_names, "a"
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
    REPORT "EMPTY", b_empty
    REPORT "M0P-1", b_alu
    REPORT "M0P-LSa", b_ldst
    REPORT "M0P-LSb", b_multi
    REPORT "M0P-BRa", b_branch
    REPORT "M0P-BRb", b_pop_pc
    REPORT "M0P-BRc", b_loop
    REPORT "M0P-SYS", b_system
    movs r0, #0
    pop {r4, pc}
    .ltorg
