/* One function per stall reason for the annotate tests (tests/test_annotate_reasons.py): each
 * runs once from main, and the instruction under test costs exactly what its comment says.
 * On m4-ideal everything is at zero wait states; on stm32f4 the code and `table` sit in flash
 * behind 5 wait states, which `fetch_stall` and `flash_data` show.
 */
    .syntax unified
    .thumb
    .text

    .global main
    .type main, %function
    .thumb_func
main:
    push {r4, lr}
    bl refill
    bl agu
    bl store_load
    bl divide
    bl flash_data
    bl fetch_stall
    movs r0, #0
    pop {r4, pc}
    .size main, . - main

    .type refill, %function
    .thumb_func
refill:
    b.n 1f              @ taken B to a 16-bit target: base 1 + refill 1 (M4-BR-1)
    nop
1:  bx lr
    .size refill, . - refill

    .type agu, %function
    .thumb_func
agu:
    ldr r0, =buffer
    str r0, [r0, #4]    @ buffer[1] = &buffer
    adds r1, r0, #4
    ldr r2, [r1]        @ base 2, AGU +1 (adds wrote r1); the next load uses r2, so no pipelining: 3
    ldr r3, [r2]        @ load-use: no stall; pipelined -1 (next load is independent): 1
    ldr r0, [r1]        @ base 2 (a branch follows): 2
    bx lr
    .ltorg
    .size agu, . - agu

    .type store_load, %function
    .thumb_func
store_load:
    ldr r0, =buffer
    movs r1, #7
    str r1, [r0]        @ base 1, store->load +1 (M4-LS-STLD): 2
    ldr r2, [r0, #4]
    bx lr
    .ltorg
    .size store_load, . - store_load

    .type divide, %function
    .thumb_func
divide:
    mov.w r1, #0x1000
    movs r2, #3
    udiv r0, r1, r2     @ M4-DIV-1: 5 + (h(0x1000) - h(3)) // 4 = 5 + 11 // 4 = 7
    bx lr
    .size divide, . - divide

    .type flash_data, %function
    .thumb_func
flash_data:
    ldr r0, =table
    ldr r1, [r0]        @ stm32f4: base 2 + 5 wait states (D-cache miss, M4-MEM-DATA): 7
    bx lr
    .ltorg
    .size flash_data, . - flash_data

    .type fetch_stall, %function
    .thumb_func
    .balign 16
fetch_stall:
    b.w 1f              @ stm32f4: base 1 + refill 1 + 5 to fetch the target line (M4-MEM-FETCH)
    .space 32           @ the target line is neither cached nor prefetched
1:  bx lr
    .size fetch_stall, . - fetch_stall

    .section .rodata
    .balign 16
table:
    .word 0x12345678

    .bss
    .balign 4
buffer:
    .space 16
