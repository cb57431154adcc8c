"""Unit tests of the pure timing rules, the decoder's classification and the memory model."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cmsim import decode as D
from cmsim.board import load_board
from cmsim.decode import Decoder
from cmsim.memory import LruLines, MemoryModel, word_fetch
from cmsim.timing.cortex_m4 import (
    Step,
    agu_stall,
    loaded_address_stall,
    not_taken_bubble,
    pipelines,
    sdiv_cycles,
    target_misaligned,
    udiv_cycles,
    unaligned_extra,
    unbuffered_store_pipelined,
)


@pytest.mark.parametrize(
    "signed,n,m,expected",
    [
        (False, 100, 7, 6),
        (False, 0xFFFFFFFF, 1, 12),
        (False, 5, 100, 3),
        (False, 1234, 0, 2),
        (True, 0xFFFFFC18, 10, 6),
        (True, 16, 0xFFFFFFFE, 6),
        (True, 0x80000000, 0xFFFFFFFF, 12),
        (False, 0, 5, 2),
        (True, 0x80000000, 0xFFFFFFFD, 12),  # INT_MIN / -3: d = 31 - 1 - 1
    ],
)
def test_divide_formula_m4_div_1(signed, n, m, expected):
    assert (sdiv_cycles if signed else udiv_cycles)(n, m) == expected


def decode_asm(tmp_path: Path, source: str) -> list[D.Instr]:
    src = tmp_path / "x.S"
    src.write_text(".syntax unified\n.thumb\n.cpu cortex-m4\n.fpu fpv4-sp-d16\n" + source + "\n")
    subprocess.run(["arm-none-eabi-as", "-o", tmp_path / "x.o", src], check=True)
    subprocess.run(
        ["arm-none-eabi-objcopy", "-O", "binary", tmp_path / "x.o", tmp_path / "x.bin"], check=True
    )
    code = (tmp_path / "x.bin").read_bytes() + b"\0" * 4
    decode = Decoder(lambda a, n: code[a - 0x1000 : a - 0x1000 + n])
    out, a = [], 0x1000
    while a - 0x1000 < len(code) - 4:
        ins = decode(a)
        out.append(ins)
        a += ins.size
    return out


def test_decoder_classes_by_instruction_id(tmp_path):
    text = """
    ldr r5, [r2], #4
    str r5, [r2, r9]
    str r5, [r2, #4]
    ldrd r5, r6, [r2]
    pop {r4, r5, pc}
    push {r4, lr}
    ldr.w pc, [r9]
    tbh [r2, r5, lsl #1]
    bx lr
    blx r9
    bl 1f
1:  cbz r5, 2f
    nop.w
2:  udiv r5, r6, r7
    vmla.f32 s0, s1, s2
    vldr d0, [r2]
    itete eq
    moveq r1, r2
    movne r1, r3
    moveq r1, r4
    movne r1, r5
    """
    got = [(i.klass, i.nregs) for i in decode_asm(tmp_path, text)]
    assert got == [
        (D.LOAD, 0),
        (D.STORE_REG, 0),
        (D.STORE, 0),
        (D.LOAD_DOUBLE, 2),
        (D.POP_PC, 3),
        (D.STORE_MULTI, 2),
        (D.LDR_PC, 0),
        (D.TB, 0),
        (D.BX, 0),
        (D.BX, 0),
        (D.BL, 0),
        (D.CBZ, 0),
        (D.NOP, 0),
        (D.DIV, 0),
        (D.FIXED, 0),
        (D.VLOAD, 0),
        (D.IT, 0),
        (D.ALU, 0),
        (D.ALU, 0),
        (D.ALU, 0),
        (D.ALU, 0),
    ]
    instrs = decode_asm(tmp_path, text)
    assert instrs[0].writeback and instrs[0].mem.disp == 0  # post-index: address = base
    assert instrs[-5].it_conds == (1, 2, 1, 2)  # EQ, NE, EQ, NE in Capstone numbering
    assert instrs[15].cost == 3  # VLDR.64


def test_addresses_a_load_loaded_m4_ls_agu(tmp_path):
    """M4-LS-AGU: an access whose address a 16-bit LDM or a writeback load loaded waits one cycle
    (CMEmu-HW ldm_narrow, ldr_ldm_ldmdb_ldrd_deps); a plain LDR or LDRD, or a 32-bit LDM without
    writeback, forwards in time, and no load gives the ordinary AGU stall. M4-LS-LDM1:
    `ldm r5, {r5}` (its own base) is an LDM."""
    text = """
    ldm r5, {r5}
    ldm r6, {r0}
    ldr r3, [r5]
    ldr r5, [r7, #8]!
    ldr r5, [r5]
    ldrd r4, r5, [r6]
    ldm r5, {r4, r5}
    pop {r5, pc}
    ldr r3, [r4]
    """
    instrs = decode_asm(tmp_path, text)
    ldm_own, ldm_one, ldr, ldr_wb, ldr_chain, ldrd, ldm_two, pop_pc, ldr_r4 = instrs
    assert ldm_own.klass == D.LOAD_MULTI and ldm_one.klass == D.LOAD  # M4-LS-LDM1
    assert loaded_address_stall(ldm_own, ldr) == 1  # r5 loaded by an LDM: 3, not 2
    assert loaded_address_stall(ldm_two, ldr) == 1  # r5: the last beat's register
    assert loaded_address_stall(ldm_two, ldr_r4) == 0  # r4, the first beat's, is in time
    assert loaded_address_stall(ldr_wb, ldr) == 1  # loaded by a writeback load
    assert loaded_address_stall(ldr_chain, ldr) == 0  # plain LDR: `linked_list` chains cost 2
    assert loaded_address_stall(ldrd, ldr) == 0
    assert loaded_address_stall(ldr_wb, ldr_chain) == 1
    assert loaded_address_stall(ldm_own, ldrd) == 0  # ldrd's base r6 was not loaded
    assert loaded_address_stall(pop_pc, ldr) == 0  # a branch: its refill outlasts the data
    assert agu_stall(ldm_own, ldr) == 0  # the ordinary AGU rule excludes loads
    # a 32-bit LDM forwards its last beat in time unless it writes back its base
    # (ldr_ldm_ldmdb_ldrd_deps: `ldm.w r5, {r4, r5}; ldr.n r3, [r5]` 2, `ldm.w r5!, {r6, r7};
    # ldr.n r3, [r7]` 3)
    wide, wide_db, wide_wb, pop, ldr_r7 = decode_asm(
        tmp_path,
        "ldm.w r5, {r4, r5}\nldmdb r6, {r4, r5}\nldm.w r5!, {r6, r7}\npop {r4, r5}\n"
        "ldr r3, [r7]\n",
    )
    assert (wide.size, wide_db.size, wide_wb.size, ldm_two.size) == (4, 4, 4, 2)
    assert loaded_address_stall(wide, ldr) == 0
    assert loaded_address_stall(wide_db, ldr) == 0
    assert loaded_address_stall(wide_wb, ldr_r7) == 1
    assert loaded_address_stall(pop, ldr) == 1  # POP writes back SP


def test_a_store_on_another_bus_overlaps_a_load_m4_mem_block(tmp_path):
    """M4-MEM-BLOCK: accesses to different blocks do not pipeline, except a store on another
    named bus than the load before it (CC2652: a flash load over D-Code, an SRAM store over the
    System bus; CMEmu-HW ldr_str_timing 6 per pair, not 7). Unnamed buses keep the rule."""
    ldr, store, load = decode_asm(tmp_path, "ldr r0, [r5]\nstr r1, [r6]\nldr r2, [r6]\n")
    assert pipelines(ldr, "flash", store, "sram", "flash", "system")
    assert not pipelines(ldr, "flash", store, "sram")  # boards that name no bus (stm32f4)
    assert not pipelines(ldr, "gpram", store, "sram", "", "system")  # GPRAM: 4 per pair
    assert not pipelines(ldr, "flash", load, "sram", "flash", "system")  # loads: no evidence
    assert pipelines(ldr, "sram", store, "sram", "system", "system")


def test_an_unbuffered_store_pipelines_after_another_when_queued_m4_ls_wb(tmp_path):
    """M4-LS-WB: with the write buffer off an immediate-offset store whose code was queued when
    the store before it issued overlaps that store's write and frees the bus for a code read
    (CMEmu-HW str_imm: `str.n` runs 2 per store, `str.w` runs, each word just in time, 3)."""
    imm, imm2, reg, wb = decode_asm(
        tmp_path, "str r5, [r6]\nstr r5, [r6, #4]\nstr r5, [r6, r7]\nstr r5, [r6], #4\n"
    )

    def step(ins, t=10, unbuffered=True):
        return Step(ins, True, t, unbuffered=unbuffered, device_store=True)

    assert unbuffered_store_pipelined(step(imm), step(imm2, 12), code_ready=9)
    assert unbuffered_store_pipelined(step(imm), step(imm2, 12), code_ready=None)
    assert not unbuffered_store_pipelined(step(imm), step(imm2, 12), code_ready=11)  # late code
    assert not unbuffered_store_pipelined(step(reg), step(imm2, 12), None)  # register offset
    assert not unbuffered_store_pipelined(step(imm), step(reg, 12), None)
    assert not unbuffered_store_pipelined(step(imm), step(wb, 12), None)  # writeback
    assert not unbuffered_store_pipelined(step(imm, unbuffered=False), step(imm2, 12), None)
    assert not unbuffered_store_pipelined(None, step(imm2, 12), None)


@pytest.mark.parametrize(("loads_pc", "wait"), [(False, 2), (True, 1)])
def test_a_load_to_pc_stops_the_code_reads_it_waits_for_m4_mem_bus(loads_pc, wait):
    """M4-MEM-BUS, registered reads (CC2652 SRAM): a 3-beat POP right after `ldr.w [CYCCNT]`
    loses one beat to the read asked as it issues and, as an LDM, a second one to the next word's
    read; as `pop {..., pc}` the fetch unit asks for nothing more once it has issued (CMEmu-HW
    pop_pc: `pop.w {r0, r8, pc}` 11 between CYCCNT reads, as `pop.n {r0, r1, pc}`)."""
    sram = next(r for r in load_board("cc2652").regions if r.name == "sram")
    words = word_fetch(sram)
    t = words.stall(0x20000224, 4, 0, restart=True)  # ldr.w [CYCCNT] after an ISB
    t += 2
    t += words.stall(0x20000228, 4, t, restart=False, after_load=True)  # the POP
    assert words.claim(t, 3, loads_pc=loads_pc) == wait


def test_unaligned_and_branch_fetch_rules(tmp_path):
    ldr, ldrh, ldrb = decode_asm(tmp_path, "ldr r5, [r9]\nldrh r5, [r9]\nldrb r5, [r9]")
    assert [unaligned_extra(ldr, a) for a in (0x100, 0x101, 0x102, 0x103)] == [0, 2, 1, 2]
    assert [unaligned_extra(ldrh, a) for a in (0x100, 0x101)] == [0, 1]
    assert unaligned_extra(ldrb, 0x101) == 0
    wide, narrow = decode_asm(tmp_path, "add.w r7, r7, #1\nadds r7, r7, #1")
    assert target_misaligned(wide) == 0  # at 0x1000
    assert target_misaligned(narrow) == 0
    assert not_taken_bubble((2, 2)) == 0 and not_taken_bubble((4, 2)) == 1


def test_lru_lines():
    cache = LruLines(2)
    assert not cache.touch(1) and not cache.touch(2) and cache.touch(1)
    assert not cache.touch(3)  # evicts 2, the least recently used
    assert 1 in cache and 2 not in cache


def test_fetch_model_prefetch_without_cache():
    """M4-MEM-FETCH: prefetch on, caches off: 32-bit straight-line code, 6 cycles per line of 4."""
    board = load_board("stm32f4")
    memory = MemoryModel(board)
    flash = next(r for r in board.regions if r.kind == "flash")
    memory._icache.clear()  # ART prefetch only
    t, total = 0, 0
    for k in range(12):  # three 16-byte lines of 4-byte instructions
        stall = memory.fetch_stall(flash.base + 4 * k, 4, t)
        t += stall + 1
        total += stall
    assert total == 5 + 2 + 2  # demand read of the first line, then 2 per prefetched line
    assert t == 12 + 9


def test_fetch_model_demand_reads_without_art():
    memory = MemoryModel(load_board("stm32f4-noart"))
    stalls = [memory.fetch_stall(0x08000000 + 2 * k, 2, k) for k in range(16)]
    assert stalls == [5] + [0] * 7 + [5] + [0] * 7  # one demand read per 16-byte line


def test_data_cache_and_wait_states():
    art = MemoryModel(load_board("stm32f4"))
    assert art.read_wait(0x08001000, 4, 1) == 5  # miss fills the line
    assert art.read_wait(0x08001004, 4, 1) == 0  # same line: hit
    assert art.read_wait(0x00001008, 4, 1) == 0  # the alias at 0 is the same line
    noart = MemoryModel(load_board("stm32f4-noart"))
    assert noart.read_wait(0x08001000, 8, 2) == 10  # every beat waits without a D-cache
    assert art.read_wait(0x20000000, 4, 1) == 0  # SRAM
    assert art.place(0x2001C000).block == "sram2" and art.place(0x20000000).block == "sram1"
    assert art.is_device(0xE0001004) and not art.is_device(0x20000000)


@pytest.mark.parametrize("board", ["m4-ideal", "stm32f4"])
@pytest.mark.parametrize("path", ["reference", "fast"])
def test_bit_band_store_and_values(board, path):
    """firmware/tests/bitband.S: set and clear single bits through the alias of a word in SRAM
    (every Cortex-M4 board maps the windows), and time a store to the alias (M4-MEM-BB: a locked
    read-modify-write, 3 more than the same store to the target; CMEmu-HW bitbanding/ldr_str on
    the CC2652: str.w to an alias 7 against 4). Harness: LDR CYCCNT 2 + ADDS 1 + STR + ADDS 1."""
    from conftest import run_results

    values, _ = run_results(board, "bitband", path, 6)
    assert values[:4] == [0x80000021, 1, 0, 0x80000020]
    assert values[4:] == [2 + 1 + (1 + 3) + 1, 2 + 1 + 1 + 1]


@pytest.mark.parametrize("path", ["reference", "fast"])
def test_write_buffer_off_makes_a_store_wait_m4_ls_wb(path):
    """firmware/tests/write_buffer.S: ACTLR.DISDEFWBUF set by the firmware; a store followed by a
    non-store costs 1 more (M4-LS-WB; the CC2652 tests all run with the buffer off). Harness:
    LDR CYCCNT 2 + ADDS 1 + body + ADDS 1."""
    from conftest import run_results

    values, _ = run_results("m4-ideal", "write_buffer", path, 3)
    assert values == [2 + 1 + (1 + 1) + 1, 2 + 1 + (2 + 1) + 1, 2 + 1 + (1 + 2 + 1) + 1]
