"""Stall reasons of `cmsim annotate`: the pipeline's explanation of each instruction's cost.

firmware/tests/annotate_reasons.S has one function per reason; each test checks the exact
parts of the instruction under test. The last tests check on whole programs that the parts of
every settled instruction sum to its cost and that explaining does not change the timing.
"""

from __future__ import annotations

import io
import json

import pytest
from conftest import build_firmware
from test_trace import run_cli

from cmsim.board import load_board
from cmsim.engine import Engine
from cmsim.image import load_image
from cmsim.machine import Machine
from cmsim.profile import Annotation, Annotator, InstructionStats, Profiler, find_function
from cmsim.timing import cortex_m4 as T


def annotate(board: str, function: str) -> Annotation:
    elf = build_firmware(board) / "annotate_reasons.elf"
    machine = Machine(load_image(elf), load_board(board), stdout=io.BytesIO())
    engine = Engine(machine, path="reference")
    annotator = Annotator(engine, find_function(machine.image, function))
    return annotator.finish(engine.run())


def instruction(annotation: Annotation, text: str) -> InstructionStats:
    """The instruction whose disassembly starts with `text` (exactly one)."""
    (found,) = [i for i in annotation.instructions if i.text.startswith(text)]
    return found


def test_taken_branch_refill():
    b = instruction(annotate("m4-ideal", "refill"), "b #")
    assert (b.count, b.cycles) == (1, 2)
    assert b.reasons == {T.BASE: 1, T.REFILL: 1}


def test_agu_stall_load_use_and_pipelining():
    annotation = annotate("m4-ideal", "agu")
    ldr_r2 = instruction(annotation, "ldr r2, [r1]")
    assert ldr_r2.cycles == 3
    assert ldr_r2.reasons == {T.BASE: 2, T.AGU: 1}  # and no pipelining: r2 feeds the next load
    ldr_r3 = instruction(annotation, "ldr r3, [r2]")  # load-use: no stall
    assert ldr_r3.cycles == 1
    assert ldr_r3.reasons == {T.BASE: 2, T.PIPELINED: -1}


def test_store_followed_by_a_load():
    store = instruction(annotate("m4-ideal", "store_load"), "str r1, [r0]")
    assert store.cycles == 2
    assert store.reasons == {T.BASE: 1, T.STORE_LOAD: 1}


def test_divide_cost_from_its_operands():
    udiv = instruction(annotate("m4-ideal", "divide"), "udiv")
    assert udiv.cycles == 7
    assert udiv.reasons == {T.DIVIDE: 7}


def test_flash_wait_states_on_stm32f4():
    ldr = instruction(annotate("stm32f4", "flash_data"), "ldr r1, [r0]")
    assert ldr.cycles == 7
    assert ldr.reasons == {T.BASE: 2, T.WAIT_STATES: 5}  # D-cache miss
    branch = instruction(annotate("stm32f4", "fetch_stall"), "b.w")
    assert branch.cycles == 7
    assert branch.reasons == {T.BASE: 1, T.REFILL: 1, T.FETCH: 5}  # target line: demand read
    assert instruction(annotate("m4-ideal", "fetch_stall"), "b.w").reasons == {
        T.BASE: 1,
        T.REFILL: 1,
    }


@pytest.mark.parametrize("board", ["m4-ideal", "stm32f4"])
@pytest.mark.parametrize("program", ["annotate_reasons", "microbench", "exceptions", "systick"])
def test_parts_sum_to_every_cost_and_timing_is_unchanged(board, program):
    elf = build_firmware(board) / f"{program}.elf"
    plain = Engine(Machine(load_image(elf), load_board(board), stdout=io.BytesIO()))
    expected = plain.run().cycles
    engine = Engine(
        Machine(load_image(elf), load_board(board), stdout=io.BytesIO()), path="reference"
    )
    settled = []

    def explain(step: T.Step, cost: int, parts: list[T.Part]) -> None:
        settled.append((step.ins.text, step.t, cost, list(parts)))

    engine.pipeline.explain = explain
    result = engine.run()
    assert result.cycles == expected
    for text, _t, cost, parts in settled:
        assert sum(cycles for _reason, cycles in parts) == cost, (text, parts)
        assert all(cycles for _reason, cycles in parts), (text, parts)  # no empty parts
    assert settled[0][1] + sum(cost for _text, _t, cost, _parts in settled) == result.cycles
    assert len(settled) == result.instructions
    seen = {reason for _text, _t, _cost, parts in settled for reason, _cycles in parts}
    if program == "exceptions":
        assert {T.EXC_ENTRY, T.EXC_RETURN} <= seen
    if program == "microbench":  # the microbenchmarks exercise every core rule's part
        core = {T.BASE, T.FAILED, T.DIVIDE, T.REFILL, T.LR_DIRTY, T.MISALIGNED_TARGET}
        core |= {T.NOT_TAKEN, T.PIPELINED, T.STORE_LOAD, T.ABSORBED, T.FOLDED, T.AGU}
        core |= {T.UNALIGNED, T.BARRIER_DRAIN, T.LOADED_ADDRESS}
        memory = {T.WAIT_STATES, T.FETCH} if board == "stm32f4" else set()
        assert seen == core | memory


def test_annotation_reasons_sum_to_cycles():
    for function in ("main", "refill", "agu", "store_load", "divide", "flash_data"):
        for stats in annotate("stm32f4", function).instructions:
            assert sum(stats.reasons.values()) == stats.cycles, stats


def test_annotate_shows_reasons(capfd, monkeypatch):
    elf = str(build_firmware("m4-ideal") / "annotate_reasons.elf")
    monkeypatch.setenv("COLUMNS", "160")
    code, out, _ = run_cli(capfd, "annotate", elf, "agu")
    assert code == 0
    line = next(line for line in out.splitlines() if "ldr r2, [r1]" in line)
    assert line.split()[1:4] == ["1", "3", "3.00"]
    assert line.rstrip().endswith("ldr r2, [r1]         AGU stall +1 (M4-LS-AGU)")
    monkeypatch.setenv("COLUMNS", "80")  # narrow: the reasons go under the instruction
    code, out, _ = run_cli(capfd, "annotate", elf, "agu")
    lines = out.splitlines()
    index = next(i for i, line in enumerate(lines) if "ldr r2, [r1]" in line)
    assert lines[index + 1].strip() == "AGU stall +1 (M4-LS-AGU)"
    assert all(len(line) <= 80 for line in lines)
    code, out, _ = run_cli(capfd, "annotate", elf, "divide", "--json")
    udiv = next(i for i in json.loads(out)["instructions"] if i["text"].startswith("udiv"))
    assert udiv["reasons"] == {"divide (M4-DIV-1)": 7}


def test_format_reasons_per_execution():
    from cmsim.cli import format_reasons

    stats = InstructionStats(0, 2, "bne", count=4, cycles=15)
    stats.reasons = {T.BASE: 4, T.REFILL: 3, T.NOT_TAKEN: 4, T.PIPELINED: -4}
    assert format_reasons(stats) == [
        "branch refill +0.75 (M4-BR-1)",
        "not-taken bubble +1 (M4-BR-NT)",
        "pipelined load -1 (M4-LS-PIPE)",
    ]
    stats = InstructionStats(0, 4, "udiv", count=1000, cycles=7001)
    stats.reasons = {T.DIVIDE: 7000, T.FETCH: 1}
    assert format_reasons(stats) == ["divide 7 (M4-DIV-1)", "fetch stall +<0.01 (M4-MEM-FETCH)"]
    assert format_reasons(InstructionStats(0, 2, "nop")) == []


@pytest.mark.parametrize("board", ["m4-ideal", "stm32f4"])
def test_annotation_matches_the_profile_across_exceptions(board):
    """Entry cycles and the fetch after an exception go to the next instruction, as the profile
    charges them, so every function's annotated cycles equal its exclusive cycles."""
    elf = build_firmware(board) / "exceptions.elf"
    for function in load_image(elf).functions:
        machine = Machine(load_image(elf), load_board(board), stdout=io.BytesIO())
        engine = Engine(machine, path="reference")
        profiler = Profiler.attach(engine)
        annotator = Annotator(engine, function)
        result = engine.run()
        profile, annotation = profiler.finish(result), annotator.finish(result)
        stats = [f for f in profile.functions if f.name == function.name]
        assert annotation.cycles == (stats[0].exclusive_cycles if stats else 0), function.name
        for i in annotation.instructions:
            assert sum(i.reasons.values()) == i.cycles, (function.name, i)


def _annotations(elf, board: str, path: str, functions) -> tuple[list, int]:
    """Per function of `functions`: (address, count, cycles, reasons) of each instruction, from
    one run on `path` per function; and the run's cycles."""
    found = []
    cycles = set()
    for function in functions:
        machine = Machine(load_image(elf), load_board(board), stdout=io.BytesIO())
        engine = Engine(machine, path=path)
        annotator = Annotator(engine, function)
        result = engine.run()
        cycles.add(result.cycles)
        found.append(
            [
                (i.address, i.count, i.cycles, i.reasons)
                for i in annotator.finish(result).instructions
            ]
        )
    assert len(cycles) == 1
    return found, cycles.pop()


@pytest.mark.parametrize("board", ["m4-ideal", "stm32f4"])
@pytest.mark.parametrize("program", ["annotate_reasons", "exceptions"])
def test_fast_path_annotation_equals_the_reference_paths(board, program):
    """The fast path explains a block once per memo key and counts its hits in C: every
    function's counts, cycles and reasons equal the reference path's, which explains every
    execution (exceptions.elf: entries, returns and tail chains inside blocks)."""
    elf = build_firmware(board) / f"{program}.elf"
    functions = load_image(elf).functions
    fast = _annotations(elf, board, "fast", functions)
    assert fast == _annotations(elf, board, "reference", functions)
    assert any(count > 1 for f in fast[0] for _a, count, _c, _r in f)  # loops: memo hits


def test_annotate_an_address_range_with_the_output_on_stderr(capfd):
    elf = str(build_firmware("m4-ideal") / "calls_compute.elf")
    function = find_function(load_image(elf), "dot")
    span = f"0x{function.start:08x}-0x{function.end:08x}"
    code, out, _ = run_cli(capfd, "annotate", elf, "dot", "--json")
    assert code == 0
    by_name = json.loads(out)
    code, out, _ = run_cli(capfd, "annotate", elf, span, "--json")
    by_range = json.loads(out)
    assert by_range["function"] == span
    assert by_range["instructions"] == by_name["instructions"]
    assert by_range["exclusive_cycles"] == by_name["exclusive_cycles"] > 0
    code, out, err = run_cli(
        capfd, "annotate", str(build_firmware("m4-ideal") / "hello.elf"), "main"
    )
    assert "Hello from Cortex-M4!" in err and "Hello" not in out  # stdout: the table alone
    code, out, err = run_cli(
        capfd, "annotate", str(build_firmware("m4-ideal") / "hello.elf"), "main", "--quiet"
    )
    assert "Hello" not in out + err
    code, _out, err = run_cli(capfd, "annotate", elf, "0x08000100-0x08000100")
    assert code == 2 and "bad address range" in err


def test_annotate_a_region(capfd):
    """--region: what runs while the region is open. "inner" holds one call of work(), "outer"
    two; on the fast path the region switches at block granularity (the blocks holding the
    markers, main's), so work()'s rows equal the reference path's, which switches at the
    marker's store."""
    elf = build_firmware("m4-ideal") / "calls_regions.elf"
    work = find_function(load_image(elf), "work")
    for region, calls in (("inner", 1), ("outer", 2)):
        code, out, _ = run_cli(capfd, "annotate", str(elf), "--region", region, "--json")
        assert code == 0
        found = json.loads(out)
        assert found["region"] == region and found["count"] == 1
        rows = [i for i in found["instructions"] if i["text"].startswith("work: ")]
        assert rows[0]["count"] == calls
        assert abs(found["cycles"] - found["region_cycles"]) <= 12  # a marker or two apart
        engine = Engine(
            Machine(load_image(elf), load_board("m4-ideal"), stdout=io.BytesIO()),
            path="reference",
        )
        annotator = Annotator(engine, None, region)
        reference = annotator.finish(engine.run()).instructions
        expected = [i for i in reference if work.start <= i.address < work.end]
        assert [(int(i["address"], 16), i["count"], i["cycles"], i["reasons"]) for i in rows] == [
            (i.address, i.count, i.cycles, i.reasons) for i in expected
        ]
    code, out, _ = run_cli(capfd, "annotate", str(elf), "--region", "outer")
    assert out.startswith("region outer: 1 times, ")
    code, _out, err = run_cli(capfd, "annotate", str(elf))
    assert code == 2 and "annotate takes a FUNCTION" in err
    code, out, err = run_cli(capfd, "annotate", str(elf), "--region", "inside")
    assert code == 2 and out == ""
    assert "never opened a region named 'inside' (its regions: " in err and "outer" in err
