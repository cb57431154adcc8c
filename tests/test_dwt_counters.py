"""M4-DWT-2 counter classification: which profiling counter each cost reason feeds.

One test per reason with the parts the pipeline gives for it, then whole programs: every
settled instruction satisfies the architectural identity cost = 1 + CPI + LSU + EXC + SLEEP -
FOLD, so over a run cycles = instructions + CPI + LSU + EXC + SLEEP - FOLD.
"""

from __future__ import annotations

import io

import pytest
from conftest import FIRMWARE, build_firmware, run_results

from cmsim.board import load_board
from cmsim.engine import Engine
from cmsim.image import load_image
from cmsim.machine import Machine
from cmsim.timing import cortex_m0plus as M0P
from cmsim.timing import cortex_m3 as M3
from cmsim.timing import cortex_m4 as T
from cmsim.timing import cortex_m33 as M33
from cmsim.timing.dwt_counters import REASON_COUNTER, Counts, count_events, identity_holds

# (reason, load/store?, the instruction's parts, expected increments); each number follows
# from the rule in the comment.
CASES = [
    # ALU op: 1 cycle, nothing beyond the first
    (T.BASE, False, [(T.BASE, 1)], Counts()),
    # LDM of 3 registers: 1 + N = 4 (M4-LS-MULTI), 3 beyond the first are the LSU's
    (T.BASE, True, [(T.BASE, 4)], Counts(lsu=3)),
    # a VDIV-like fixed cost of 14 is a multi-cycle instruction: 13 CPI
    (T.BASE, False, [(T.BASE, 14)], Counts(cpi=13)),
    # condition-failed instruction: 1 cycle (M4-IT-SKIP)
    (T.FAILED, True, [(T.FAILED, 1)], Counts()),
    # UDIV of 7 cycles (M4-DIV-1): 6 beyond the first
    (T.DIVIDE, False, [(T.DIVIDE, 7)], Counts(cpi=6)),
    # B taken: 1 + refill 1 (M4-BR-1)
    (T.REFILL, False, [(T.BASE, 1), (T.REFILL, 1)], Counts(cpi=1)),
    # LDR PC: base 2 + refill 2, all LSU: CMEmu-HW ldr_pc and pop_pc (CC2652, every
    # placement) read CPICNT 0 over a load to PC, LSUCNT every cycle beyond the first
    (T.REFILL, True, [(T.BASE, 2), (T.REFILL, 2)], Counts(lsu=3)),
    # POP {r0, PC} to a misaligned 32-bit target: 3 + refill 4 + 1 (M4-BR-F1), all LSU
    (
        T.MISALIGNED_TARGET,
        True,
        [(T.BASE, 3), (T.REFILL, 4), (T.MISALIGNED_TARGET, 1)],
        Counts(lsu=7),
    ),
    # BX LR after LR was written: execute-time branch, +1 (M4-BR-LR)
    (T.LR_DIRTY, False, [(T.BASE, 1), (T.REFILL, 1), (T.LR_DIRTY, 1)], Counts(cpi=2)),
    # taken branch to a misaligned 32-bit target: +1 (M4-BR-F1)
    (
        T.MISALIGNED_TARGET,
        False,
        [(T.BASE, 1), (T.REFILL, 1), (T.MISALIGNED_TARGET, 1)],
        Counts(cpi=2),
    ),
    # not-taken conditional branch bubble (M4-BR-NT)
    (T.NOT_TAKEN, False, [(T.BASE, 1), (T.NOT_TAKEN, 1)], Counts(cpi=1)),
    # pipelined LDR: 2 - 1 = 1 cycle, no extra cycle (M4-LS-PIPE)
    (T.PIPELINED, True, [(T.BASE, 2), (T.PIPELINED, -1)], Counts()),
    # STR followed by a load: 1 + 1 (M4-LS-STLD)
    (T.STORE_LOAD, True, [(T.BASE, 1), (T.STORE_LOAD, 1)], Counts(lsu=1)),
    # NOP absorbed into an unpipelined load's data phase: 1 - 1 = 0 cycles (M4-LS-ABS), the
    # load's LSU cycle taken back, no fold: CMEmu-HW cbz_deps (CC2652) reads LSUCNT 0 and
    # FOLDCNT 0 over `ldr.w r5, [r1]; nop.n` (2 cycles)
    (T.ABSORBED, False, [(T.BASE, 1), (T.ABSORBED, -1)], Counts(lsu=-1)),
    # folded IT: 1 - 1 = 0 cycles (M4-IT-FOLD)
    (T.FOLDED, False, [(T.BASE, 1), (T.FOLDED, -1)], Counts(fold=1)),
    # LDR waiting for its base register: 2 + 1 (M4-LS-AGU), the wait held in decode is CPI:
    # CMEmu-HW ldr_ldm_ldmdb_ldrd_deps (CC2652, code and data in SRAM), `ldr.n r5, [r7];
    # adds.n r7, r2; ldr.n r5, [r7]`: CPICNT 2, LSUCNT 3 where `adds.n r4, r2` reads 1 and 4
    (T.AGU, True, [(T.BASE, 2), (T.AGU, 1)], Counts(cpi=1, lsu=1)),
    # LDR whose address an LDM loaded: 2 + 1 (M4-LS-AGU, loaded_address_stall), the access's
    # own wait, LSU: CMEmu-HW ldm_narrow (CC2652, #0, #1, #2, #4) has its CPICNT and LSUCNT
    # arrays byte-exact so, over chains of `ldm.n r5, {r5}` and `ldr.n r5, [r5]`
    (T.LOADED_ADDRESS, True, [(T.BASE, 2), (T.LOADED_ADDRESS, 1)], Counts(lsu=2)),
    # unaligned LDR: 2 + 1 (M4-LS-UNAL), pipelined away its data phase
    (T.UNALIGNED, True, [(T.BASE, 2), (T.UNALIGNED, 1), (T.PIPELINED, -1)], Counts(lsu=1)),
    # flash LDR with 5 wait states (M4-MEM-DATA)
    (T.WAIT_STATES, True, [(T.BASE, 2), (T.WAIT_STATES, 5)], Counts(lsu=6)),
    # CMEmu-HW ldr_str_timing (CC2652, code and data in SRAM): `ldr.n; str.n` pairs, 4 cycles
    # each, LSUCNT +2 and CPICNT +0 per pair: the access waiting for a code read is LSU.
    (T.BUS_WAIT, True, [(T.BASE, 1), (T.BUS_WAIT, 1)], Counts(lsu=1)),
    # STR to a device with 2 wait states (M4-LS-WB)
    (T.DEVICE_STORE, True, [(T.BASE, 1), (T.DEVICE_STORE, 2)], Counts(lsu=2)),
    # STR whose write wait states delay the next access (M4-MEM-1)
    (T.STORE_WAIT, True, [(T.BASE, 1), (T.STORE_WAIT, 3)], Counts(lsu=3)),
    (T.WRITE_BUFFER_OFF, True, [(T.BASE, 1), (T.WRITE_BUFFER_OFF, 1)], Counts(lsu=1)),
    (T.BITBAND, True, [(T.BASE, 1), (T.BITBAND, 3)], Counts(lsu=3)),
    # DMB after a store: 1 + 1 (§2.8)
    (T.BARRIER_DRAIN, False, [(T.BASE, 1), (T.BARRIER_DRAIN, 1)], Counts(cpi=1)),
    # ADD waiting 5 cycles for its successor's flash line (M4-MEM-FETCH)
    (T.FETCH, False, [(T.BASE, 1), (T.FETCH, 5)], Counts(cpi=5)),
    # LDR waiting for the next fetch: on a load/store the stall is LSU, as the chip counts it
    # (CMEmu-HW b_seq, CC2652: LDR CYCCNT; LDR CYCCNT from SRAM reads CPICNT 0, LSUCNT 1)
    (T.FETCH, True, [(T.BASE, 2), (T.PIPELINED, -1), (T.FETCH, 3)], Counts(lsu=3)),
    # handler's first instruction after a 12-cycle entry (M4-EXC-ENTRY)
    (T.EXC_ENTRY, False, [(T.EXC_ENTRY, 12), (T.BASE, 1)], Counts(exc=12)),
    # BX LR returning: 10 cycles to the next instruction (M4-EXC-EXIT), 1 is its own
    (T.EXC_RETURN, False, [(T.EXC_RETURN, 10)], Counts(exc=9)),
    # WFI: 1 + 40 cycles asleep (§2.8)
    (T.ASLEEP, False, [(T.BASE, 1), (T.ASLEEP, 40)], Counts(sleep=40)),
    # third unaligned 32-bit instruction in a run: +1 (M4-FE-1)
    (T.WIDE_RUN, False, [(T.BASE, 1), (T.WIDE_RUN, 1)], Counts(cpi=1)),
    # restored snapshot: a load's unrecorded wait states
    (T.EXTRA, True, [(T.BASE, 2), (T.EXTRA, 5)], Counts(lsu=6)),
    # restored snapshot: a barrier's unrecorded drain
    (T.EXTRA, False, [(T.BASE, 1), (T.EXTRA, 1)], Counts(cpi=1)),
    # other cores' reasons (timing/cortex_m33.py, cortex_m3.py, cortex_m0plus.py)
    (M33.TAKEN, False, [(T.BASE, 1), (M33.TAKEN, 1)], Counts(cpi=1)),
    (M33.LOAD_USE, True, [(T.BASE, 1), (M33.LOAD_USE, 1)], Counts(lsu=1)),
    (M33.RESULT_USE, False, [(T.BASE, 1), (M33.RESULT_USE, 1)], Counts(cpi=1)),
    (M33.PAIRED, False, [(T.BASE, 1), (M33.PAIRED, -1)], Counts(fold=1)),
    (M33.MULS_2, False, [(T.BASE, 1), (M33.MULS_2, 1)], Counts(cpi=1)),
    (M3.MULTIPLY, False, [(T.BASE, 1), (M3.MULTIPLY, 4)], Counts(cpi=4)),
    (
        M3.WRITEBACK_LOAD,
        True,
        [(T.BASE, 2), (T.PIPELINED, -1), (M3.WRITEBACK_LOAD, 1)],
        Counts(lsu=1),
    ),
    (M0P.TAKEN, False, [(T.BASE, 1), (M0P.TAKEN, 1)], Counts(cpi=1)),
]
OTHER_CORES = {
    M33.TAKEN,
    M33.LOAD_USE,
    M33.RESULT_USE,
    M33.PAIRED,
    M33.MULS_2,
    M3.MULTIPLY,
    M3.WRITEBACK_LOAD,
    M0P.TAKEN,
}


@pytest.mark.parametrize(("reason", "load_store", "parts", "expected"), CASES)
def test_each_reason_feeds_its_counter(reason, load_store, parts, expected):
    assert reason in dict(parts)
    counts = count_events(load_store, parts)
    assert counts == expected
    assert identity_holds(sum(cycles for _r, cycles in parts), counts)


def test_every_reason_is_classified_and_tested():
    reasons = {
        value
        for name, value in vars(T).items()
        if name.isupper() and isinstance(value, str) and name not in ("PPB_BLOCK",)
    }
    reasons |= OTHER_CORES
    assert reasons == set(REASON_COUNTER)
    assert {case[0] for case in CASES} == reasons


def test_identity_fails_for_a_wrong_count():
    assert not identity_holds(3, Counts(cpi=1))  # 1 + 1 != 3
    assert identity_holds(3, Counts(cpi=1, lsu=1))


def test_an_unknown_reason_is_an_error():
    with pytest.raises(KeyError):
        count_events(False, [("made up", 1)])


@pytest.mark.parametrize("board", ["m4-ideal", "stm32f4"])
@pytest.mark.parametrize("program", ["microbench", "exceptions", "systick", "annotate_reasons"])
def test_identity_over_whole_programs(board, program):
    """Every settled instruction satisfies the identity, so the whole run does: cycles =
    instructions + CPI + LSU + EXC + SLEEP - FOLD. CYCCNT stops while asleep (M4-DWT-1), so
    its delta is that less SLEEP."""
    elf = build_firmware(board) / f"{program}.elf"
    engine = Engine(
        Machine(load_image(elf), load_board(board), stdout=io.BytesIO()), path="reference"
    )
    total = Counts()
    wrong = []
    first = []

    def explain(step: T.Step, cost: int, parts: list[T.Part]) -> None:
        nonlocal total
        counts = count_events(step.ins.memory, parts)
        if not identity_holds(cost, counts):
            wrong.append((step.ins.text, parts))
        total += counts
        first.append(step.t) if not first else None

    engine.pipeline.explain = explain
    result = engine.run()
    assert wrong == []
    n = result.instructions
    assert (
        result.cycles - first[0] == n + total.cpi + total.lsu + total.exc + total.sleep - total.fold
    )
    if program == "exceptions":  # it has SVCs, SysTick interrupts and a WFI
        assert total.exc > 0
        assert total.sleep == engine.machine.peripherals.cycles_asleep > 0
    if program == "microbench":
        assert total.fold > 0 and total.lsu > 0 and total.cpi > 0


# -- the counters as registers (firmware/tests/dwt_counters.S) --------------------------------

PATHS = ("reference", "fast")


def run_counters_firmware(board: str, path: str) -> tuple[list[int], Engine]:
    """Run firmware/tests/dwt_counters.S; return its `results` words."""
    return run_results(board, "dwt_counters", path, 10)


@pytest.mark.parametrize("path", PATHS)
def test_counters_read_by_firmware_on_m4_ideal(path):
    r, _engine = run_counters_firmware("m4-ideal", path)
    # CPICNT: the reading LDR's second cycle is LSU; UDIV 1000 / 3 takes 5 + (9 - 1) // 4 = 7
    # (M4-DIV-1): 6 beyond the first; MUL 1 (M4-MUL-1); B taken 1 + refill 1 (M4-BR-1).
    assert r[0] == 6 + 0 + 1
    # LSUCNT: LDR from the PPB then SRAM, not pipelined (M4-MEM-BLOCK): 1; two LDRs pipelined
    # into the next access (M4-LS-PIPE): 0, 0; LDR pipelined into the STR: 0; STR then LDR
    # (M4-LS-STLD): 1; LDR before an LDM, not pipelined: 1; LDM of 3 is 1 + 3 (M4-LS-MULTI): 3.
    assert r[1] == 1 + 0 + 0 + 0 + 1 + 1 + 3
    # FOLDCNT: an IT after a 16-bit CMP folds (M4-IT-FOLD)
    assert r[2] == 1
    # FOLDCNT: a NOP after an unpipelined load is absorbed (M4-LS-ABS) but not counted: the
    # chip counts only folded ITs (CMEmu-HW cbz_deps on the CC2652: `ldr.w; nop.n`, FOLDCNT 0)
    assert r[3] == 0
    # EXCCNT: entry 12 (M4-EXC-ENTRY), return by BX LR 10 (M4-EXC-EXIT) less its own cycle
    assert r[4] == 12 + (10 - 1)
    # SLEEPCNT: SysTick pends 100 cycles after enabling (RVR 99, M4-SYST-1); LDR (2) + WFI (1)
    # end 3 cycles after that: the core sleeps 97 (§2.8)
    assert r[5] == 100 - 3
    # A write sets CPICNT to 250; two 7-cycle UDIVs add 12; it wraps at 256
    assert r[6] == (250 + 12) % 256 == 6
    # Disabled, CPICNT does not count the UDIV; enabled again, it does (7 - 1)
    assert r[7] == 0
    assert r[8] == 6
    # A write sets FOLDCNT: the next instruction reads it
    assert r[9] == 5


def test_counters_fast_equals_reference_on_stm32f4():
    """Flash wait states: both paths read the same values; the entry's vector read from flash
    waits 5 states (M4-EXC-WS), which EXCCNT counts; the sequences' code and data hit the
    caches, so the other counts are m4-ideal's."""
    ref, _ = run_counters_firmware("stm32f4", "reference")
    fast, _ = run_counters_firmware("stm32f4", "fast")
    assert fast == ref
    ideal, _ = run_counters_firmware("m4-ideal", "reference")
    assert ref[4] == 12 + 5 + (10 - 1)
    assert ref[:4] + ref[5:] == ideal[:4] + ideal[5:]


def counted_run(elf, board: str, path: str) -> tuple[tuple, int, int, bool]:
    """A run with every counter enabled from the start: its event totals (CPI, LSU, FOLD,
    EXC, SLEEP), cycles, instructions and whether it ended normally."""
    from cmsim.errors import CmsimError
    from cmsim.peripherals import DEMCR, DWT_CTRL

    machine = Machine(load_image(elf), load_board(board), stdout=io.BytesIO())
    engine = Engine(machine, path=path, max_instructions=100_000)
    machine.peripherals.write(DEMCR, 1 << 24)
    machine.peripherals.write(DWT_CTRL, 0x1F << 17)
    try:
        engine.run()
        normal = True
    except CmsimError:
        normal = False
    return machine.peripherals.event_totals(False), engine.cycles, engine.instructions, normal


FIRMWARE_NAMES = sorted(p.stem for p in (FIRMWARE / "tests").iterdir() if p.suffix in (".c", ".S"))


@pytest.mark.parametrize("board", ["m4-ideal", "stm32f4"])
@pytest.mark.parametrize("name", FIRMWARE_NAMES)
def test_event_totals_fast_equals_reference(name, board):
    """Every firmware, counting from the start: both paths count the same events, and a run
    that ends normally satisfies cycles = instructions + CPI + LSU + EXC + SLEEP - FOLD."""
    elf = build_firmware(board) / f"{name}.elf"
    ref = counted_run(elf, board, "reference")
    fast = counted_run(elf, board, "fast")
    assert fast == ref
    (cpi, lsu, fold, exc, sleep), cycles, instructions, normal = ref
    if normal:
        assert cycles == instructions + cpi + lsu + exc + sleep - fold


def test_unaligned_wide_run_penalty_is_cpi_on_both_paths(tmp_path):
    """M4-FE-1 (board option): the penalty is a fetch effect, CPI even on a load; the fast
    path, which restores the pending instruction from a snapshot without its parts, keeps it
    apart from the load's own extra cycles."""
    from importlib import resources

    text = resources.files("cmsim.boards").joinpath("m4-ideal.toml").read_text()
    text = text.replace('name = "m4-ideal"', 'name = "m4-ideal-fe1"')
    board = tmp_path / "m4-ideal-fe1.toml"
    board.write_text(text + "\n[options.fetch]\nunaligned_wide_run_penalty = true\n")
    elf = build_firmware("m4-ideal") / "unaligned_runs.elf"
    plain = counted_run(elf, "m4-ideal", "reference")
    ref = counted_run(elf, str(board), "reference")
    assert counted_run(elf, str(board), "fast") == ref
    # two charged runs (test_unaligned_runs): three ADD.W, four LDR.W (the 4th charged)
    (cpi, lsu, fold, exc, sleep), cycles, _instructions, _normal = ref
    assert (cpi, lsu, fold, exc, sleep) == (plain[0][0] + 2, *plain[0][1:])
    assert cycles == plain[1] + 2
