"""Generates firmware/tests/microbench.S from the benchmark bodies of spec section 12.

Usage: python3 tests/bench/gen_microbench.py firmware/tests/microbench.S
"""

import sys

BENCH = []  # (name, pre, body, loop)


def b(name, body, pre="", loop=False, post=""):
    BENCH.append((name, pre, body, loop, post))


b("EMPTY", "")  # section 12.1: the empty body reads 4, i.e. 0 after the harness correction
b("MB-01", "adds r5, r5, #1\n" * 8)
b(
    "MB-02",
    """add.w r5, r6, r7, lsl #3
eor.w r9, r5, r6, ror #7
orr.w r10, r9, #0xFF00
bic.w r11, r10, r5, asr #2""",
)
b(
    "MB-03",
    """movw r5, #0x1234
movt r5, #0x5678
mov r6, r5
mvns r7, r6""",
)
b("MB-04", "mul r5, r5, r6\n" * 8)
b(
    "MB-05",
    """mla r5, r6, r7, r5
mls r9, r6, r7, r9
mla r5, r5, r7, r6
mls r9, r5, r9, r7""",
)
mb06 = """umull r5, r1, r7, r9
smull r10, r11, r7, r9
umlal r5, r1, r10, r11
smlal r10, r11, r5, r1"""
b("MB-06a", mb06, pre="movs r7, #1\nmov r9, #1")
b("MB-06b", mb06, pre="ldr r7, =0xFFFF1234\nldr r9, =0x89ABCDEF")
b("MB-07", "smlad r5, r6, r7, r5\n" * 8)
b(
    "MB-08",
    """smladx r5, r6, r7, r5
smuad r9, r6, r7
smlabb r10, r6, r7, r10
smlald r11, r12, r6, r7
smulbb r1, r6, r7
smlawb r5, r6, r7, r5""",
)
b(
    "MB-09",
    """sxtb16 r5, r6
sxtb16 r7, r6, ror #8
uxtb16 r9, r6, ror #8
sxth.w r10, r6, ror #16""",
)
b(
    "MB-10",
    """sxtab16 r5, r5, r6
sxtab16 r5, r5, r6, ror #8
uxtab r7, r7, r6
uxtah r9, r9, r6""",
)
b(
    "MB-11",
    """ssat r5, #8, r6
usat r7, #8, r6
ssat16 r9, #8, r6
ssat r10, #16, r6, asr #4""",
)
b(
    "MB-12",
    """qadd r5, r6, r7
qsub r9, r6, r7
qadd8 r10, r6, r7
qdadd r11, r6, r7""",
)
b(
    "MB-13",
    """pkhbt r5, r6, r7, lsl #16
pkhtb r9, r6, r7, asr #16""",
)
b(
    "MB-14",
    """uadd8 r5, r6, r7
sel r9, r6, r7
usad8 r10, r6, r7
usada8 r11, r6, r7, r11""",
)
b(
    "MB-15",
    """ubfx r5, r6, #4, #8
bfi r7, r6, #8, #4
clz r9, r6
rev r10, r6
rbit r11, r6""",
)
for name, op, n, m in [
    ("MB-16", "udiv", 100, 7),
    ("MB-17", "udiv", 0xFFFFFFFF, 1),
    ("MB-18", "udiv", 5, 100),
    ("MB-19", "udiv", 1234, 0),
    ("MB-20", "sdiv", 0xFFFFFC18, 10),
    ("MB-21", "sdiv", 16, 0xFFFFFFFE),
    ("MB-22", "sdiv", 0x80000000, 0xFFFFFFFF),
]:
    b(name, f"{op} r5, r6, r7", pre=f"ldr r6, ={n:#x}\nldr r7, ={m:#x}")
b("MB-23", "ldr r5, [r2, #4]")
b(
    "MB-24",
    """ldr r5, [r2, #0]
ldr r6, [r2, #4]
ldr r7, [r2, #8]
ldr r1, [r2, #12]
ldr r5, [r2, #16]
ldr r6, [r2, #20]
ldr r7, [r2, #24]
ldr r1, [r2, #28]""",
)
b(
    "MB-25",
    """ldrb r5, [r2, #1]
ldrsb r6, [r2, #2]
ldrh r7, [r2, #4]
ldrsh r1, [r2, #6]""",
)
b(
    "MB-26",
    """ldr r5, [r2, r9]
ldr r6, [r2, r10]
ldr r7, [r2, r11]
ldr r1, [r2, r12]""",
)
b(
    "MB-27",
    """ldr r5, [r2], #4
ldr r6, [r7], #4
ldr r9, [r2], #4
ldr r10, [r7], #4""",
    pre="add r7, r2, #32",
)
b(
    "MB-28",
    """ldr r5, [r2], #4
ldr r6, [r2], #4
ldr r7, [r2], #4""",
)
b(
    "MB-29",
    """ldr r5, [r2]
ldr r6, [r5]
ldr r7, [r6]""",
)
b(
    "MB-30",
    """adds r5, r2, #4
ldr r6, [r5]""",
)
b(
    "MB-31",
    """adds r5, r2, #4
adds r7, r7, #1
ldr r6, [r5]""",
)
b(
    "MB-32",
    """mul r5, r10, r10
ldr r6, [r2, r5]""",
)
b(
    "MB-33",
    """adds r5, r2, #8
str r6, [r5]""",
)
b(
    "MB-34",
    """adds r5, r5, #1
str r5, [r2, #16]""",
)
b(
    "MB-35",
    """ldr r5, [r2, #4]
adds r6, r5, #1
ldr r7, [r2, #8]
smlad r9, r7, r7, r9""",
)
b(
    "MB-36",
    """ldr r5, [r2, #4]
str r5, [r2, #16]""",
)
b(
    "MB-37",
    """str r5, [r2, #16]
ldr r6, [r2, #20]""",
)
b(
    "MB-38",
    """str r5, [r2, #16]
str r6, [r2, #20]
str r7, [r2, #24]
str r9, [r2, #28]""",
)
b(
    "MB-39",
    """str r5, [r2, #16]
ldm r2, {r6, r7}""",
)
b(
    "MB-40",
    """str r5, [r2, #16]
stm r2, {r6, r7}""",
)
b(
    "MB-41",
    """str r5, [r2, r9]
adds r6, r6, #1
adds r7, r7, #1""",
)
b(
    "MB-42",
    """str r5, [r2, r9]
nop
adds r6, r6, #1""",
)
b(
    "MB-43",
    """ldr r5, [r2, #4]
nop
nop""",
)
b("MB-44", "nop\n" * 4)
b("MB-45", "ldrd r5, r6, [r2, #8]")
b(
    "MB-46",
    """ldrd r5, r6, [r2, #8]
strd r5, r6, [r2, #16]""",
)
b("MB-47", "ldm r2, {r5, r6, r7, r9}")
b("MB-48", "stm r2, {r5, r6, r7, r9}")
b(
    "MB-49",
    """push {r5, r6, r7, r9}
adds r1, r1, #1
pop {r5, r6, r7, r9}""",
)
b("MB-50", "ldr r5, [r9]", pre="add r9, r2, #2")
b("MB-51", "ldr r5, [r9]", pre="add r9, r2, #1")
b("MB-52", "ldrh r5, [r9]", pre="add r9, r2, #1")
b(
    "MB-53",
    """ldr r5, [r9]
ldr r6, [r9, #4]""",
    pre="add r9, r2, #2",
)
b(
    "MB-54",
    """ldr r5, =0x12345678
ldr r6, [r2, #4]""",
)
# Spec text uses =0x11111111 / =0x22222222, which GNU as turns into MOV.W (both are Thumb-2
# modified immediates), so no literal load would be measured. Values that need the pool:
b(
    "MB-55",
    """ldr r5, =0x11223344
ldr r6, =0x55667788""",
)
b(
    "MB-80",
    """str r5, [r2], #4
str r6, [r2], #4""",
)
b(
    "MB-81",
    """str r5, [r2], #4
str r6, [r7], #4""",
    pre="add r7, r2, #32",
)
b(
    "MB-56",
    """b.n 1f
adds r5, r5, #1
1: adds r6, r6, #1""",
)
b(
    "MB-57",
    """b.n 1f
adds r5, r5, #1
adds r6, r6, #1
1: add.w r7, r7, #1""",
)
b("MB-58", "bl mb_leaf")
b("MB-59", "blx r9", pre="ldr r9, =mb_ret_only")
b("MB-60", "bl mb_f_pp")
b(
    "MB-61",
    """ldr.w pc, [r9]
adds r5, r5, #1
.thumb_func
mb61_tgt:
adds r7, r7, #1""",
    pre="ldr r9, =mb61_ptr",
    post="""    .balign 4
mb61_ptr: .word mb61_tgt
""",
)
b(
    "MB-62",
    """bx r9
adds r5, r5, #1
.thumb_func
mb62_tgt:
adds r7, r7, #1""",
    pre="ldr r9, =mb62_tgt",
)
b(
    "MB-63",
    """cbz r5, 1f
adds r6, r6, #1
1: adds r7, r7, #1""",
    pre="movs r5, #0",
)
b(
    "MB-64",
    """cbz r5, 1f
adds r6, r6, #1
1: adds r7, r7, #1""",
)
b(
    "MB-65",
    """cmp r5, r5
beq.n 1f
adds r6, r6, #1
1: adds r7, r7, #1""",
)
b(
    "MB-66",
    """cmp r5, r6
beq.n 1f
adds r7, r7, #1
adds r1, r1, #1
1: adds r6, r6, #1""",
)
b(
    "MB-67",
    """cmp r5, r6
beq.n 1f
add.w r7, r7, #1
add.w r1, r1, #1
1: adds r6, r6, #1""",
)
b(
    "MB-68",
    """tbb [pc, r5]
2:
.byte (3f - 2b) / 2
.byte (4f - 2b) / 2
3: adds r6, r6, #1
4: adds r7, r7, #1""",
    pre="movs r5, #1",
)
b(
    "MB-69",
    """1: subs r5, r5, #1
bne.n 1b""",
    pre="mov r5, r8",
    loop=True,
)
b(
    "MB-70",
    """1: ldr r6, [r9], #4
cmp r6, #0
ble.n 2f
adds r7, r7, #1
2: subs r5, r5, #1
bne.n 1b""",
    pre="add r9, r2, #4\nmov r5, r8",
    loop=True,
)
b(
    "MB-71",
    """cmp r5, r5
ite eq
addeq r6, r6, #1
addne r7, r7, #1""",
)
b(
    "MB-72",
    """cmp r5, r5
ite eq
ldreq r7, [r2, #4]
addne r1, r1, #1""",
)
b(
    "MB-73",
    """cmp r5, r6
itt eq
ldreq r7, [r2, #4]
addeq r1, r1, #1""",
)
b(
    "MB-74",
    """cmp.w r5, r6
it ne
addne r7, r7, #1""",
)
b(
    "MB-75",
    """cmp r5, r6
ldr r7, [r2, #4]
it ne
addne r1, r1, #1""",
)
b(
    "MB-76",
    """cmp r5, r6
it eq
udiveq r1, r6, r7""",
)
dot = """ldr r6, [r9], #4
ldr r7, [r10], #4
sxtb16 r12, r6
sxtb16 r6, r6, ror #8
sxtb16 r1, r7
sxtb16 r7, r7, ror #8
smlad r11, r12, r1, r11
smlad r11, r6, r7, r11
subs r5, r5, #1
bne.n 1b"""
dotpre = "mov r9, r2\nadd r10, r2, #128\nmov r5, r8\nmov r11, #0"
b("MB-77", "1: " + dot, pre=dotpre, loop=True)
b("MB-78", "nop\n1: " + dot, pre=dotpre, loop=True)
b(
    "MB-79",
    """vmla.f32 s0, s1, s2
vadd.f32 s3, s4, s5
vldr s6, [r2, #4]""",
)
# Rules without a section-12 benchmark (spec 12.11 asks for unit tests of these).
# M4-LS-LDM1: a one-register LDM without writeback needs the base in the list on ARMv7-M
# (T1 `ldm r5, {r5}`; the 32-bit form with one register is UNPREDICTABLE and Unicorn faults),
# so each load's address depends on the previous one: 2, then 3 each (an LDM's data reaches the
# next address a cycle late, M4-LS-AGU; CMEmu-HW ldm_narrow). With writeback: 2 each.
b("LDM1", ".inst.n 0xCD20\n" * 3, pre="mov r5, r2")  # ldm r5, {r5}
b("LDM1-WB", ".inst.n 0xCA20\n" * 3)  # ldm r2!, {r5}
b(
    "DMB",
    """str r5, [r2, #16]
dmb""",
)
b("ISB", "isb")
b("BXLR-DIRTY", "bl mb_leaf_dirty")
b(
    "IT-BR",
    """cmp r5, r5
it eq
beq.w 1f
adds r6, r6, #1
1: adds r7, r7, #1""",
)
b(
    "IT-BR-FAIL",
    """cmp r5, r6
it eq
beq.w 1f
adds r6, r6, #1
1: adds r7, r7, #1""",
)
b(
    "WB-DEVICE",
    """str r5, [r3, #0x14]
ldr r6, [r2, #4]""",
)
b("UNAL-STORE", "str r5, [r9]", pre="add r9, r2, #1")
b(
    "SYSTICK",
    "adds r5, r5, #1\n" * 8,
    pre="""ldr r0, =0xE000E010
ldr r1, =0xFFFFFF
str r1, [r0, #4]
movs r1, #0
str r1, [r0, #8]
movs r1, #5
str r1, [r0]
ldr r3, =0xE000E018""",
)
# Silicon checks of issue 13 (STM32F407, published measurements of hand-written assembly).
# M4-LS-PIPE: a load that writes back SP (not one that loads SP) still pipelines: pair = 3.
b(
    "PIPE-SPWB",
    """ldr r8, [sp], #4
ldr r6, [r12]""",
    pre="sub sp, sp, #4\nmov r12, r2",
)
# M4-BR-NT: a not-taken bne whose fall-through is a 16-bit POP {..., PC}: only the POP is
# fetched for execution, so what lies after it in memory (32-bit or 16-bit) does not count.
b("BR-NT-POP-W", "bl mb_nt_pop_wide")
b("BR-NT-POP-N", "bl mb_nt_pop_narrow")
# MP-03/MP-04: nop.w x8 loop, loop head 16-byte aligned (three 16-byte flash lines).
b("MP-03", "1: " + "nop.w\n" * 8 + "subs r5, r5, #1\nbne.n 1b", pre="mov r5, r8", loop=True)


def fname(name):
    return "bench_" + name.replace("-", "_").lower()


out = []
w = out.append
w("""@ Microbenchmarks of shared/timing/cortex-m4.md section 12, in the section 12.1 harness.
@ GENERATED by tests/bench/gen_microbench.py: edit the table there, not this file.
@ main prints one line per measurement: "<ID>[@N] <cycles of BODY>".
    .syntax unified
    .thumb
    .cpu cortex-m4
    .fpu fpv4-sp-d16

    .bss
    .balign 8
buf:    .space 256

    .section .rodata.mb_evict, "a"
    .balign 16
evict_table: .space 16 * 8

    .text
@ Common state (section 12.1): buf re-initialised, r2 = buf, r3 = &CYCCNT, r5-r7 = 3, 5, 7,
@ r1 = 0, r9-r12 = 16, 4, 0, 8. Clobbers r0.
    .balign 4
    .thumb_func
common_state:
    ldr r2, =buf
    str r2, [r2]
    movs r1, #1
1:  add r0, r1, #0x100
    str r0, [r2, r1, lsl #2]
    adds r1, r1, #1
    cmp r1, #64
    bne 1b
    ldr r3, =0xE0001004
    movs r5, #3
    movs r6, #5
    movs r7, #7
    movs r1, #0
    mov r9, #16
    mov r10, #4
    mov r11, #0
    mov r12, #8
    bx lr
    .ltorg

.macro MEASURE
    .balign 4
    ldr r0, [r3]        @ T0
    adds r4, r4, #1     @ G1
.endm

.macro DONE
    adds r4, r4, #1     @ G2
    ldr r1, [r3]        @ T1
    subs r0, r1, r0
    subs r0, r0, #4
    pop {r4-r11, pc}
.endm

@ Helpers of the branch benchmarks.
    .balign 4
    .thumb_func
mb_leaf:
    adds r5, r5, #1
    bx lr
    .balign 4
    .thumb_func
mb_ret_only:
    bx lr
    .balign 4
    .thumb_func
mb_f_pp:
    push {r5, lr}
    adds r5, r5, #1
    pop {r5, pc}
    .balign 4
    .thumb_func
mb_leaf_dirty:
    mov r1, lr
    mov lr, r1
    bx lr
    .balign 4
    .thumb_func
mb_nt_pop_wide:
    push {r5, lr}
    cmp r5, r5
    bne.n 1f
    pop {r5, pc}
1:  add.w r5, r5, #1        @ never executed: 32-bit after the POP
    pop {r5, pc}
    .balign 4
    .thumb_func
mb_nt_pop_narrow:
    push {r5, lr}
    cmp r5, r5
    bne.n 1f
    pop {r5, pc}
1:  adds r5, r5, #1         @ never executed: 16-bit after the POP
    pop {r5, pc}
""")
for name, pre, body, _loop, post in BENCH:
    f = fname(name)
    w(f"@ {name}\n    .balign 4\n    .global {f}\n    .thumb_func\n    .type {f}, %function\n{f}:")
    w("    push {r4-r11, lr}\n    mov r8, r0\n    bl common_state")
    for line in pre.splitlines():
        w("    " + line)
    if name == "MP-03":
        w("    .balign 16\n" + "    nop\n" * 6)
    w("    MEASURE")
    if name == "SYSTICK":  # SysTick counts down: swap the harness subtraction (M4-SYST-1)
        body_lines = body.splitlines()
        for line in body_lines:
            w("    " + line)
        w("    adds r4, r4, #1\n    ldr r1, [r3]\n    subs r0, r0, r1\n    subs r0, r0, #4")
        w("    pop {r4-r11, pc}\n    .ltorg\n")
        continue
    for line in body.splitlines():
        label = line.startswith(".") or (":" in line and not line[0].isdigit())
        w(line if label else "    " + line)
    w("    DONE\n" + post + "    .ltorg\n")

# MP-01: a literal load whose D-cache line was evicted, against the same load again.
w(
    """@ MP-01: MB-54's probe run warm, after evicting the literal's D-cache line, and again.
    .balign 4
    .thumb_func
mp01_probe:
    MEASURE
    ldr r5, =0x12345678
    ldr r6, [r2, #4]
    adds r4, r4, #1
    ldr r1, [r3]
    subs r0, r1, r0
    subs r0, r0, #4
    bx lr
    .ltorg

    .balign 4
    .global bench_mp_01
    .thumb_func
bench_mp_01:
    push {r4-r11, lr}
    bl common_state
    bl mp01_probe           @ warm: I-cache and the literal's D-cache line
    ldr r0, =evict_table    @ read 8 other flash lines: the 8-line D-cache forgets the literal
    ldr r1, [r0, #0]
    ldr r1, [r0, #16]
    ldr r1, [r0, #32]
    ldr r1, [r0, #48]
    ldr r1, [r0, #64]
    ldr r1, [r0, #80]
    ldr r1, [r0, #96]
    ldr r1, [r0, #112]
    bl mp01_probe           @ miss
    mov r8, r0
    bl mp01_probe           @ hit
    subs r0, r8, r0         @ miss - hit
    pop {r4-r11, pc}
    .ltorg

@ The MP-03 loop copied to SRAM by the start-up code (.data), called through a register.
    .section .data.ramcode, "awx", %progbits
    .balign 4096            @ own 4 KiB page: no store of the program lands on a page holding
                            @ code (Unicorn restarts an instruction that writes to such a page)
    .global bench_sram_loop
    .thumb_func
bench_sram_loop:
    push {r4-r11, lr}
    mov r8, r0
    ldr r0, =common_state
    blx r0
    mov r5, r8
    .balign 16
"""
    + "    nop\n" * 6
    + """    MEASURE
1:"""
    + "    nop.w\n" * 8
    + """    subs r5, r5, #1
    bne.n 1b
    DONE
    .ltorg
    .balign 4096

    .text
@ M4-DWT-1: two back-to-back CYCCNT loads read a delta of 1.
    .balign 4
    .thumb_func
bench_cyc2:
    ldr r3, =0xE0001004
    ldr r0, [r3]
    ldr r1, [r3]
    subs r0, r1, r0
    bx lr
    .ltorg

    .balign 4
    .thumb_func
dwt_enable:
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

.macro REPORT label, func, arg=0, times=1
    .pushsection .rodata.mb_names, "a"
9000:
    .asciz "\\label "
    .popsection
    ldr r0, =9000b
    bl sh_puts
    .rept \\times
    ldr r0, =\\arg
    bl \\func
    .endr
    bl sh_put_int
    movs r0, #10
    bl sh_putc
.endm

    .balign 4
    .global main
    .thumb_func
main:
    push {r4, lr}
    bl dwt_enable
    ldr r0, =0xE000ED88     @ CPACR: CP10 and CP11 full access, the FPU on (MB-79), as CMSIS
    ldr r1, [r0]            @ SystemInit does; with it off an FPU instruction is a NOCP fault
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
"""
)
for name, _pre, _body, loop, _post in BENCH:
    f = fname(name)
    if loop:
        for n in (10, 20):
            w(f'    REPORT "{name}@{n}", {f}, {n}')
            if name in ("MB-69", "MP-03"):
                w(f'    REPORT "{name}@{n}warm", {f}, {n}, 2')
        w("    b 1f\n    .ltorg\n1:")
    else:
        w(f'    REPORT "{name}", {f}')
    if name in ("MB-30", "MB-60", "MB-79"):
        w("    b 1f\n    .ltorg\n1:")
w('    REPORT "MP-01", bench_mp_01')
w('    REPORT "CYC2", bench_cyc2')
for n in (10, 20):
    w(f'    REPORT "SRAM@{n}", bench_sram_loop, {n}')
    w(f'    REPORT "SRAM@{n}warm", bench_sram_loop, {n}, 2')
w("    movs r0, #0\n    pop {r4, pc}\n    .ltorg\n")
TEXT = "\n".join(out)

if __name__ == "__main__":
    with open(sys.argv[1], "w") as stream:
        stream.write(TEXT)
