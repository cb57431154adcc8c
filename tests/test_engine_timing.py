"""The timing engine: fast path == reference path, CYCCNT sees the model's cycles, observers,
ALU-only property (cycles == instructions on m4-ideal)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import FIRMWARE, build_firmware
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unicorn.arm_const import UC_ARM_REG_PC

from cmsim.board import load_board
from cmsim.engine import Engine
from cmsim.errors import CmsimError
from cmsim.image import load_image
from cmsim.machine import Machine

FIRMWARE_NAMES = sorted(p.stem for p in (FIRMWARE / "tests").iterdir() if p.suffix in (".c", ".S"))


def timed_run(
    elf: Path, board: str, path: str, max_instructions: int = 400_000, native: bool | None = None
):
    machine = Machine(load_image(elf), load_board(board))
    engine = Engine(machine, path=path, max_instructions=max_instructions, native=native)
    blocks: list[tuple[int, int]] = []
    finished: list[int] = []
    engine.add_block_observer(lambda a, t: blocks.append((a, t)), finished.append)
    try:
        result = engine.run()
        outcome = (result.exit_code, result.output)
    except CmsimError as exc:  # fault and limit firmwares: compare where the model stopped
        outcome = (type(exc).__name__, str(exc))
    return engine, outcome, blocks, finished


@pytest.mark.parametrize("board", ["m4-ideal", "stm32f4"])
@pytest.mark.parametrize("name", FIRMWARE_NAMES)
def test_fast_path_equals_reference_path(name, board):
    """Every firmware: the C fast path gives the reference path's
    cycles, instruction count, output, block sequence and cycle at every block start. Long
    firmwares (matmul) are compared up to the instruction limit, which all paths apply at the
    same block."""
    elf = build_firmware(board) / f"{name}.elf"
    ref, ref_outcome, ref_blocks, ref_done = timed_run(elf, board, "reference")
    fast, fast_outcome, fast_blocks, fast_done = timed_run(elf, board, "fast", native=True)
    assert fast_outcome == ref_outcome
    assert (fast.cycles, fast.instructions) == (ref.cycles, ref.instructions)
    assert fast_blocks == ref_blocks
    assert fast_done == ref_done == [ref.cycles]


@pytest.mark.parametrize("board", ["m4-ideal", "stm32f4"])
def test_c_fast_path_is_used_and_memoises(board):
    elf = build_firmware(board) / "microbench.elf"
    machine = Machine(load_image(elf), load_board(board))
    engine = Engine(machine, path="fast")
    assert engine._native is not None, "C fast path not built (is a C compiler installed?)"
    engine.run()
    assert engine._native.memo_hits > engine._native.memo_misses > 0
    assert engine._native.cache_mismatches == 0


def test_c_divide_formula_matches_the_python_rule():
    from cmsim.native import load
    from cmsim.timing.cortex_m4 import sdiv_cycles, udiv_cycles

    lib = load()
    assert lib is not None

    @settings(max_examples=2000, deadline=None)
    @given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
    def check(n, m):
        assert lib.fp_div_cycles(0, n, m) == udiv_cycles(n, m)
        assert lib.fp_div_cycles(1, n, m) == sdiv_cycles(n, m)

    check()
    for n, m in [(0x80000000, 0xFFFFFFFF), (16, 0xFFFFFFFE), (0x80000000, 0xFFFFFFFD), (1, 1)]:
        assert lib.fp_div_cycles(1, n, m) == sdiv_cycles(n, m)


def test_block_observer_sees_blocks_in_time_order(elf):
    engine, _outcome, blocks, finished = timed_run(elf("cyccnt"), "m4-ideal", "fast")
    cycles = [t for _a, t in blocks]
    assert blocks and cycles == sorted(cycles)
    assert blocks[0][0] == load_image(elf("cyccnt")).entry & ~1 or blocks[0][1] == 0
    assert finished == [engine.cycles] and engine.cycles > cycles[-1]


def test_cyccnt_reads_the_cycles_the_model_charges(elf):
    """M4-DWT-1: the delta a firmware reads around a region == the model's issue-cycle delta."""
    image = load_image(elf("microbench"))
    start = image.symbols["bench_mb_24"] & ~1
    machine = Machine(image, load_board("m4-ideal"))
    engine = Engine(machine, path="reference")
    issued: dict[int, list[int]] = {}
    original = engine.pipeline.issue

    def spy(ins, executed, address, div, in_it):
        t = original(ins, executed, address, div, in_it)
        issued.setdefault(ins.address, []).append(t)
        return t

    engine.pipeline.issue = spy
    result = engine.run()
    printed = dict(line.split() for line in result.output.decode().splitlines())
    # T0 = first "ldr r0, [r3]" of the benchmark, T1 = the "ldr r1, [r3]" after the body
    t0 = next(a for a in range(start, start + 64, 2) if engine.decode(a).text == "ldr r0, [r3]")
    t1 = next(a for a in range(t0 + 2, t0 + 80, 2) if engine.decode(a).text == "ldr r1, [r3]")
    model_delta = issued[t1][0] - issued[t0][0]
    assert int(printed["MB-24"]) + 4 == model_delta == 9 + 4


def test_cyccnt_firmware_prints_model_cycles(elf):
    for path in ("fast", "reference"):
        machine = Machine(load_image(elf("cyccnt")), load_board("m4-ideal"))
        result = Engine(machine, path=path).run()
        printed = int(result.output.decode().split("cycles: ")[1])
        assert 0 < printed < result.cycles


def test_board_changes_the_cycle_count(elf):
    ideal = timed_run(build_firmware("stm32f4") / "cyccnt.elf", "m4-ideal", "fast")[0].cycles
    art = timed_run(build_firmware("stm32f4") / "cyccnt.elf", "stm32f4", "fast")[0].cycles
    noart = timed_run(build_firmware("stm32f4") / "cyccnt.elf", "stm32f4-noart", "fast")[0].cycles
    assert ideal < art < noart


def test_unknown_path_is_rejected(elf):
    machine = Machine(load_image(elf("hello")), load_board("m4-ideal"))
    with pytest.raises(ValueError, match="path must be one of"):
        Engine(machine, path="turbo")


# -- property: straight-line ALU code costs one cycle per instruction on m4-ideal (M4-DP-1) ----

REGS = ["r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12"]
LOW = ["r2", "r3", "r4", "r5", "r6", "r7"]
ALU_FORMS = [
    lambda d, a, b: f"adds {d}, {a}, #3" if d in LOW and a in LOW else f"add.w {d}, {a}, #3",
    lambda d, a, b: f"eor.w {d}, {a}, {b}, ror #7",
    lambda d, a, b: f"orr.w {d}, {a}, #0xFF00",
    lambda d, a, b: f"mul {d}, {a}, {b}",
    lambda d, a, b: f"mla {d}, {a}, {b}, {d}",
    lambda d, a, b: f"smlad {d}, {a}, {b}, {d}",
    lambda d, a, b: f"sxtb16 {d}, {a}, ror #8",
    lambda d, a, b: f"ubfx {d}, {a}, #4, #8",
    lambda d, a, b: f"clz {d}, {a}",
    lambda d, a, b: f"qadd8 {d}, {a}, {b}",
    lambda d, a, b: f"ssat {d}, #8, {a}",
    lambda d, a, b: f"pkhbt {d}, {a}, {b}, lsl #16",
    lambda d, a, b: f"movw {d}, #0x1234",
    lambda d, a, b: f"mov {d}, {a}",
    lambda d, a, b: f"cmp {a}, {b}",
    lambda d, a, b: f"lsls {d}, {a}, #2" if d in LOW and a in LOW else f"lsl.w {d}, {a}, #2",
    lambda d, a, b: f"umull {d}, {b}, {a}, {b}" if d != b else f"umull {d}, r12, {a}, r11",
]

instruction = st.tuples(
    st.integers(0, len(ALU_FORMS) - 1),
    st.sampled_from(REGS),
    st.sampled_from(REGS),
    st.sampled_from(REGS),
).map(lambda t: ALU_FORMS[t[0]](t[1], t[2], t[3]))

SRAM_CODE = 0x20010000


def assemble(lines: list[str], tmp: Path) -> bytes:
    source = tmp / "seq.S"
    # Exit through semihosting after the sequence: r0 = SYS_EXIT, r1 = ADP_Stopped_ApplicationExit
    source.write_text(
        ".syntax unified\n.thumb\n.cpu cortex-m4\n"
        "movs r0, #0x18\nmovw r1, #0x0026\nmovt r1, #0x2\n" + "\n".join(lines) + "\nbkpt 0xab\n"
    )
    obj, binary = tmp / "seq.o", tmp / "seq.bin"
    subprocess.run(["arm-none-eabi-as", "-o", obj, source], check=True)
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", obj, binary], check=True)
    return binary.read_bytes()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(instruction, min_size=1, max_size=40))
def test_alu_sequences_cost_one_cycle_each(elf, tmp_path_factory, lines):
    code = assemble(lines, tmp_path_factory.mktemp("seq"))
    machine = Machine(load_image(elf("hello")), load_board("m4-ideal"))
    machine.uc.mem_write(SRAM_CODE, code)
    result = Engine(machine, path="reference").run(entry=SRAM_CODE)
    # 3 set-up instructions + the sequence + BKPT, each 1 cycle
    assert result.instructions == len(lines) + 4
    assert result.cycles == result.instructions


def test_callers_driving_machine_run_see_the_same_counters_on_every_path(elf):
    """A harness runs the machine itself (machine.run) and stops it from a code hook: every
    path reports the same instruction count and issue cycle there, run after run."""
    from unicorn import UC_HOOK_CODE

    from cmsim.machine import Stop

    seen = {}
    for path, native in (("reference", None), ("fast", True)):
        image = load_image(elf("microbench"))
        machine = Machine(image, load_board("m4-ideal"))
        engine = Engine(machine, path=path, native=native)
        target = image.symbols["common_state"] & ~1
        stops: list[tuple[int, int]] = []
        resumed = [False]

        def on_code(
            _uc,
            _address,
            _size,
            _data,
            engine=engine,
            machine=machine,
            stops=stops,
            resumed=resumed,
        ):
            if resumed[0]:  # the run restarts on the instruction it stopped at: let it execute
                resumed[0] = False
                return
            stops.append((engine.instructions, engine.issue_cycle()))
            machine.stop(Stop(exit_code=0))

        machine.uc.hook_add(UC_HOOK_CODE, on_code, None, target, target)
        machine.reset()
        for _ in range(3):  # the first three calls of common_state
            pc = machine.uc.reg_read(UC_ARM_REG_PC)
            machine._stop = None
            machine.run(start=pc)
            resumed[0] = True
            engine.max_instructions = engine.instructions + 100_000
        seen[(path, native)] = stops
    assert len(set(map(tuple, seen.values()))) == 1, seen


def test_c_cache_replay_matches_python_lru():
    """The C fast path's caches (fastpath.c) give LruLines' answers and order on random
    touch/query sequences, for full and small capacities."""
    import ctypes
    import random

    from cmsim.memory import LruLines
    from cmsim.native import new_context

    lib = new_context(10, 1)
    assert lib is not None
    rng = random.Random(7)
    buffer = (ctypes.c_int64 * 256)()
    for capacity in (1, 2, 8, 64):
        ident = lib.fp_add_cache(capacity)
        assert ident >= 0
        python = LruLines(capacity)
        for _ in range(3000):
            line = rng.randrange(2 * capacity + 3) + 0x800000
            if rng.random() < 0.3:
                assert lib.fp_cache_query(ident, line) == (line in python)
            else:
                assert lib.fp_cache_touch(ident, line) == python.touch(line)
        n = lib.fp_cache_get(ident, buffer)
        assert tuple(buffer[:n]) == python.lines
    lib.release()


def test_c_caches_agree_with_python_on_stm32f4():
    """On a firmware that uses the ART caches, every cache answer C replays equals the one the
    Python model gave, and every block's operations are the same for the same memo key."""
    elf = build_firmware("stm32f4") / "microbench.elf"
    engine = Engine(Machine(load_image(elf), load_board("stm32f4")), path="fast")
    engine.run()
    assert engine._native is not None
    assert engine._native.cache_mismatches == 0


@pytest.mark.parametrize("board", ["m4-ideal", "stm32f4"])
def test_code_copied_to_sram_at_run_time_is_timed_alike_on_both_paths(board):
    """firmware/tests/ramcode_copy.S copies position-independent code from .rodata to a .bss
    buffer and calls it there (issue 13, finding 1: the fast path used to time such code
    statically: divides, IT conditions and access addresses were not recorded). Every call's
    CYCCNT delta and the functional result must equal the reference path's."""
    from conftest import run_results

    ref, _ = run_results(board, "ramcode_copy", "reference", 7)
    fast, engine = run_results(board, "ramcode_copy", "fast", 7)
    assert engine._native is not None
    assert fast == ref
    assert ref[6] != 0
    code = load_image(build_firmware(board) / "ramcode_copy.elf").symbols["ram_code"]
    assert code & ~3 in engine._dynamic  # the blob's PUSH, found when it first ran
