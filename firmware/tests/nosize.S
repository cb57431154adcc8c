/* Hand-written assembly the way most kernel authors write it: functions marked with
 * .type/.thumb_func but without .size directives, so their ELF symbols have size 0.
 * tests/test_image.py and tests/test_profile.py check that cmsim gives each one the extent up
 * to the next function symbol (or the end of its section) and profiles and annotates it.
 *
 *   main ── add_loop (10 iterations of 3 instructions) ~> shift_twice (tail call)
 *
 * Executed instructions: main 5, add_loop 1 + 10 x 3 + 1 = 32, shift_twice 3.
 */
    .syntax unified
    .thumb
    .text

    .global main
    .type main, %function
    .thumb_func
main:
    push {r4, lr}
    movs r0, #10
    bl add_loop
    movs r0, #0
    pop {r4, pc}

    .type add_loop, %function
    .thumb_func
add_loop:
    movs r1, #0
1:  adds r1, r1, r0
    subs r0, #1
    bne 1b
    b shift_twice

    .thumb_func
shift_twice:
    lsls r1, r1, #1
    lsls r1, r1, #1
    bx lr
