/* Recursion for the profiler tests (tests/test_profile.py): fact(4) calls itself three times;
 * is_even(3) and is_odd are mutually recursive through tail calls (B, not BL). main exits with
 * fact(4) + is_even(3) = 24 + 0.
 *
 * Executed instructions: main 8; fact 8 per activation with n > 1, 6 for n <= 1 (30 in all);
 * is_even/is_odd 3 per activation (is_even(3) -> is_odd(2) -> is_even(1) -> is_odd(0): 12).
 */
    .syntax unified
    .thumb
    .text

    .global main
    .type main, %function
    .thumb_func
main:
    push {r4, lr}
    movs r0, #4
    bl fact
    mov r4, r0
    movs r0, #3
    bl is_even
    adds r0, r4
    pop {r4, pc}
    .size main, . - main

    .type fact, %function
    .thumb_func
fact:
    push {r4, lr}
    movs r4, r0
    cmp r0, #1
    bls 1f
    subs r0, #1
    bl fact
    muls r0, r4, r0
    pop {r4, pc}
1:  movs r0, #1
    pop {r4, pc}
    .size fact, . - fact

    .type is_even, %function
    .thumb_func
is_even:
    cbz r0, 1f
    subs r0, #1
    b is_odd
1:  movs r0, #1
    bx lr
    .size is_even, . - is_even

    .type is_odd, %function
    .thumb_func
is_odd:
    cbz r0, 1f
    subs r0, #1
    b is_even
1:  movs r0, #0
    bx lr
    .size is_odd, . - is_odd
