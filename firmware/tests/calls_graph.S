/* Known call graph for the profiler tests (tests/test_profile.py): a function called from two
 * places, a call through a function pointer, a tail call and a loop. Every function's executed
 * instruction count is fixed and written next to it; the tests derive their expectations
 * from these counts.
 *
 *   main ─┬─ caller_a ── leaf            main: 8 instructions
 *         ├─ caller_b ─┬ leaf            caller_a: 3, caller_b: 4
 *         │            └ leaf            leaf: 8 per call (1 + 3 loop iterations x 2 + 1)
 *         ├─ via_pointer (BLX r3)        via_pointer: 2
 *         └─ tail_caller ~> tail_target  tail_caller: 2 (ends with B tail_target), tail_target: 2
 *
 * irq_handler never runs here: a profiler test feeds it a synthetic exception stream
 * (firmware/tests/exceptions.S and systick.c take real ones).
 */
    .syntax unified
    .thumb
    .text

    .global main
    .type main, %function
    .thumb_func
main:
    push {r4, lr}
    bl caller_a
    bl caller_b
    ldr r3, =via_pointer
    blx r3
    bl tail_caller
    movs r0, #0
    pop {r4, pc}
    .ltorg
    .size main, . - main

    .type caller_a, %function
    .thumb_func
caller_a:
    push {lr}
    bl leaf
    pop {pc}
    .size caller_a, . - caller_a

    .type caller_b, %function
    .thumb_func
caller_b:
    push {lr}
    bl leaf
    bl leaf
    pop {pc}
    .size caller_b, . - caller_b

    .type leaf, %function
    .thumb_func
leaf:
    movs r0, #3
1:  subs r0, #1
    bne 1b
    bx lr
    .size leaf, . - leaf

    .type via_pointer, %function
    .thumb_func
via_pointer:
    movs r0, #7
    bx lr
    .size via_pointer, . - via_pointer

    .type tail_caller, %function
    .thumb_func
tail_caller:
    movs r0, #5
    b tail_target
    .size tail_caller, . - tail_caller

    .type tail_target, %function
    .thumb_func
tail_target:
    adds r0, #1
    bx lr
    .size tail_target, . - tail_target

    .type irq_handler, %function
    .thumb_func
irq_handler:
    movs r0, #1
    bx lr
    .size irq_handler, . - irq_handler
