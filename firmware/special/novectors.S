@ A bare program with no vector table, linked to run from SRAM: cmsim must start it at the
@ ELF entry with the stack at the top of SRAM, and it exits 7 through semihosting.
    .syntax unified
    .thumb
    .text
    .global _start
    .thumb_func
_start:
    mov     r4, sp              @ keep SP to report it: exit code 7 only if SP was set
    movs    r0, #0x20           @ SYS_EXIT_EXTENDED
    adr     r1, args
    ldr     r2, =0x20040000     @ top of m4-ideal SRAM
    cmp     r4, r2
    beq     1f
    movs    r3, #1
    str     r3, [r1, #4]
1:  bkpt    0xab
    b       .
    .balign 4
args:
    .word   0x20026, 7
