@ Cortex-M33 microbenchmarks (simulator/cmsim/timing/cortex_m33.py rules; tests/test_cores.py
@ holds the expected cycles and each rule's source). main prints "<ID> <cycles of BODY>".
@ Harness: T0 = ldr r0, [r3] (CYCCNT); G1 = mov.w r10, r10; BODY; G2 = mov.w r10, r10;
@ T1 = ldr r1, [r3]. On the M33 T0, G1 and G2 take 1 cycle each and the 32-bit guards pair
@ with nothing (M33-PAIR), so BODY = T1 - T0 - 3. Built for every core with the DSP extension.
    .syntax unified
    .thumb

    .bss
    .balign 8
buf:    .space 64

    .text
@ r2 = buf (holding 0x100, 0x101, ...), r3 = &CYCCNT, r5-r7 = 3, 5, 7, r9 = 16. Clobbers r0, r1.
    .balign 4
    .thumb_func
setup:
    ldr r2, =buf
    movs r1, #0
1:  add r0, r1, #0x100
    str r0, [r2, r1, lsl #2]
    adds r1, r1, #1
    cmp r1, #16
    bne 1b
    ldr r3, =0xE0001004
    movs r5, #3
    movs r6, #5
    movs r7, #7
    mov r9, #16
    bx lr
    .ltorg

.macro BENCH name
    .balign 4
    .thumb_func
    .global \name
    .type \name, %function
\name:
    push {r4-r11, lr}
    bl setup
    .balign 4
    ldr r0, [r3]        @ T0
    mov.w r10, r10      @ G1
.endm

.macro DONE name
    mov.w r10, r10      @ G2
    ldr r1, [r3]        @ T1
    subs r0, r1, r0
    subs r0, r0, #3
    pop {r4-r11, pc}
    .ltorg
    .size \name, . - \name
.endm

BENCH b_empty
DONE b_empty

@ M33-LS-1: four independent single loads, 1 each
BENCH b_ls1_loads
    ldr r5, [r2]
    ldr r6, [r2, #4]
    ldr r7, [r2, #8]
    ldr r9, [r2, #12]
DONE b_ls1_loads

@ M33-LS-1: LDRD 2, STRD 2
BENCH b_ls1_double
    ldrd r5, r6, [r2]
    strd r6, r7, [r2, #8]
DONE b_ls1_double

@ M33-LS-1: LDM of 4 registers 4, STM of 4 registers 4 (store data has latency 1)
BENCH b_ls1_multi
    ldm r2, {r5-r7, r9}
    stm r2, {r5-r7, r9}
DONE b_ls1_multi

@ M33-LS-USE: the next instruction adds the loaded register: 1 + 1 stall + 1
BENCH b_use_alu
    ldr r5, [r2]
    adds r6, r5, #1
DONE b_use_alu

@ M33-LS-USE: the loaded register is the next load's address: 1 + 1 stall + 1
BENCH b_use_address
    ldr r5, [r2]
    ldr r6, [r5, #-0xF0]
DONE b_use_address

@ M33-LS-USE: as store data the load result has latency 1: no stall
BENCH b_use_store_data
    ldr r5, [r2]
    str r5, [r2, #4]
DONE b_use_store_data

@ M33-LS-USE: as a MAC accumulator the load result has latency 1: no stall
BENCH b_use_mac_acc
    ldr r5, [r2]
    mla r6, r7, r9, r5
DONE b_use_mac_acc

@ M33-LS-USE: as a MAC multiplicand it waits: 1 + 1 stall + 1
BENCH b_use_mac_operand
    ldr r5, [r2]
    mla r6, r5, r9, r7
DONE b_use_mac_operand

@ M33-RES-2: an SMLAD accumulator chain issues every cycle
BENCH b_res_mac_chain
    smlad r5, r6, r7, r5
    smlad r5, r6, r7, r5
    smlad r5, r6, r7, r5
    smlad r5, r6, r7, r5
DONE b_res_mac_chain

@ M33-RES-2: an SMLAD result as an ALU operand waits one cycle
BENCH b_res_mac_alu
    smlad r5, r6, r7, r9
    add.w r9, r5, r6
DONE b_res_mac_alu

@ M33-RES-2: DSP (SXTB16) and shifted-operand-2 results as ALU operands: 2 + 2
BENCH b_res_dsp_shift
    sxtb16 r5, r6
    add.w r9, r5, r6
    add.w r5, r6, r7, lsl #2
    add.w r9, r5, r6
DONE b_res_dsp_shift

@ M33-MULS: the 16-bit flag-setting MULS takes 2
BENCH b_muls
    muls r5, r6, r5
DONE b_muls

@ M33-PAIR: a NOP after a 16-bit ALU instruction dual issues (0); two NOPs do not pair
BENCH b_pair_nop
    adds r5, r5, #1
    nop
    adds r5, r5, #1
    nop
    nop
    nop
DONE b_pair_nop

@ M33-PAIR: IT dual issues with the instruction before it; the failed MOVEQ costs 1
BENCH b_pair_it
    adds r5, r5, #1
    it eq
    moveq r6, r7
DONE b_pair_it

@ M33-BR-1 / M33-PAIR: a loop of 4 with `subs; bne` (flag-setter before the branch):
@ taken 2, last not taken 0 (dual issued): 4 * 1 + 3 * 2 + 0, plus the MOVS and MOV.W: 12
BENCH b_br_flags
    movs r5, #4
    mov.w r10, r10
    .balign 4
1:  subs r5, #1
    bne 1b
DONE b_br_flags

@ M33-BR-1 / M33-PAIR: `subs; add r6, r7; bne`: the ADD does not set flags, so the taken
@ branch dual issues (1): 4 * 2 + 3 * 1 + 0, plus the MOVS and MOV.W: 13
BENCH b_br_paired
    movs r5, #4
    mov.w r10, r10
    .balign 4
1:  subs r5, #1
    add r6, r7
    bne 1b
DONE b_br_paired

    .balign 4
    .thumb_func
dwt_on:
    ldr r0, =0xE000EDFC     @ DEMCR.TRCENA
    ldr r1, [r0]
    orr r1, r1, #0x1000000
    str r1, [r0]
    ldr r0, =0xE0001000     @ DWT_CTRL.CYCCNTENA
    ldr r1, [r0]
    orr r1, r1, #1
    str r1, [r0]
    bx lr
    .ltorg

.macro REPORT label, func
    .pushsection .rodata.m33_names, "a"
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
    bl dwt_on
    REPORT "EMPTY", b_empty
    REPORT "M33-LS-1a", b_ls1_loads
    REPORT "M33-LS-1b", b_ls1_double
    REPORT "M33-LS-1c", b_ls1_multi
    REPORT "M33-LS-USEa", b_use_alu
    REPORT "M33-LS-USEb", b_use_address
    REPORT "M33-LS-USEc", b_use_store_data
    REPORT "M33-LS-USEd", b_use_mac_acc
    REPORT "M33-LS-USEe", b_use_mac_operand
    REPORT "M33-RES-2a", b_res_mac_chain
    REPORT "M33-RES-2b", b_res_mac_alu
    REPORT "M33-RES-2c", b_res_dsp_shift
    REPORT "M33-MULS", b_muls
    REPORT "M33-PAIRa", b_pair_nop
    REPORT "M33-PAIRb", b_pair_it
    REPORT "M33-BR-1a", b_br_flags
    REPORT "M33-BR-1b", b_br_paired
    movs r0, #0
    pop {r4, pc}
    .ltorg
