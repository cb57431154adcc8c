/* Returns that do not go back to a recorded return address, for the profiler tests
 * (tests/test_profile.py): skip_word returns past an inline data word after its BL (LR + 4),
 * and escape leaves three frames at once by jumping straight into main (like longjmp).
 *
 * Executed instructions: main 6, skip_word 3, deep1 2, deep2 2, escape 3.
 */
    .syntax unified
    .thumb
    .text

    .global main
    .type main, %function
    .thumb_func
main:
    push {r4, lr}
    bl skip_word
    .word 0xdeadbeef
    mov r4, sp
    bl deep1
    nop                         @ deep1's return address: never reached
after_escape:
    movs r0, #0
    pop {r4, pc}
    .size main, . - main

    .type skip_word, %function
    .thumb_func
skip_word:
    mov r0, lr
    adds r0, #4
    bx r0
    .size skip_word, . - skip_word

    .type deep1, %function
    .thumb_func
deep1:
    push {lr}
    bl deep2
    .size deep1, . - deep1

    .type deep2, %function
    .thumb_func
deep2:
    push {lr}
    bl escape
    .size deep2, . - deep2

    .type escape, %function
    .thumb_func
escape:
    mov sp, r4
    ldr r0, =after_escape + 1
    bx r0
    .ltorg
    .size escape, . - escape
