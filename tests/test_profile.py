"""The profiler: call tracking, exclusive/inclusive attribution, regions, annotation.

How the expectations stay valid when the Cortex-M4 timing model replaces 1 cycle per
instruction:

- Call counts and *instruction* counts (exclusive, inclusive, per call edge) are written by
  hand from the assembly firmwares (firmware/tests/calls_*.S), where every function's executed
  instructions are fixed. They do not depend on the timing model.
- *Cycles* are never written as numbers. They are compared with an independent reference: a
  per-instruction code hook that records every instruction's issue cycle from the engine
  (`engine.issue_cycle()`, the clock the DWT counter reads) and charges each instruction the
  cycles until the next one issues (M4-ACC-1). Exclusive cycles per function and region
  bounds must match that timeline exactly, whatever each instruction costs.
- Inclusive cycles are checked through identities that hold under any cost model (a
  non-recursive function's inclusive = its exclusive + its callees' inclusive per edge;
  recursion counts the outermost activation only).
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
from conftest import program_elves
from unicorn import UC_HOOK_CODE

from cmsim.board import load_board
from cmsim.engine import Engine, RunResult
from cmsim.errors import CmsimError
from cmsim.image import load_image
from cmsim.machine import Machine
from cmsim.profile import UNKNOWN, Annotator, Profile, Profiler, find_function

ASM_FIRMWARES = ("calls_graph", "calls_recursion", "calls_regions", "calls_unwind")


def profiled_run(path: Path, record_events: bool = False) -> tuple[RunResult, Profile]:
    machine = Machine(load_image(path), load_board("m4-ideal"), stdout=io.BytesIO())
    engine = Engine(machine, max_instructions=50_000_000)
    profiler = Profiler.attach(engine, record_events=record_events)
    result = engine.run()
    return result, profiler.finish(result)


class Timeline:
    """The reference: every executed instruction's address and issue cycle, in order."""

    def __init__(self, path: Path):
        self.image = load_image(path)
        machine = Machine(self.image, load_board("m4-ideal"), stdout=io.BytesIO())
        engine = Engine(machine, max_instructions=50_000_000)
        self.steps: list[tuple[int, int]] = []

        def on_code(_uc: object, address: int, _size: int, _data: object) -> None:
            self.steps.append((address, engine.issue_cycle()))

        machine.uc.hook_add(UC_HOOK_CODE, on_code)
        self.result = engine.run()

    def costs(self) -> list[tuple[int, int]]:
        """(address, cycles until the next instruction issues) per executed instruction."""
        ends = [cycle for _address, cycle in self.steps[1:]] + [self.result.cycles]
        return [
            (address, end - start) for (address, start), end in zip(self.steps, ends, strict=True)
        ]

    def per_function(self) -> tuple[Counter, Counter]:
        cycles: Counter = Counter()
        instructions: Counter = Counter()
        for address, cost in self.costs():
            name = self.image.function_name(address) or UNKNOWN
            cycles[name] += cost
            instructions[name] += 1
        return cycles, instructions

    def issue_cycle_at(self, symbol: str) -> int:
        """Issue cycle of the (single) execution of the instruction at a label."""
        address = self.image.symbol(symbol) & ~1
        cycles = [cycle for step, cycle in self.steps if step == address]
        assert len(cycles) == 1, f"{symbol} ran {len(cycles)} times"
        return cycles[0]


def summary(profile: Profile) -> dict[str, tuple[int, int, int]]:
    """name -> (calls, exclusive instructions, inclusive instructions)."""
    return {f.name: (f.calls, f.instructions, f.inclusive_instructions) for f in profile.functions}


def edges(profile: Profile) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(caller, callee) -> (calls, tail calls, instructions)."""
    return {(e.caller, e.callee): (e.calls, e.tail_calls, e.instructions) for e in profile.edges}


# -- known call graphs ---------------------------------------------------------------------


def test_call_graph_counts(elf):
    _result, profile = profiled_run(elf("calls_graph"))
    functions = summary(profile)
    # calls, exclusive instructions, inclusive instructions (see the table in calls_graph.S)
    assert functions["main"] == (1, 8, 8 + 11 + 20 + 2 + 4)
    assert functions["caller_a"] == (1, 3, 3 + 8)
    assert functions["caller_b"] == (1, 4, 4 + 16)
    assert functions["leaf"] == (3, 24, 24)  # called from two places, three times
    assert functions["via_pointer"] == (1, 2, 2)  # BLX r3
    assert functions["tail_caller"] == (1, 2, 4)  # the tail call nests in its caller
    assert functions["tail_target"] == (1, 2, 2)
    assert "irq_handler" not in functions
    graph = edges(profile)
    assert graph[("Reset_Handler", "main")] == (1, 0, 45)
    assert graph[("caller_a", "leaf")] == (1, 0, 8)
    assert graph[("caller_b", "leaf")] == (2, 0, 16)
    assert graph[("main", "via_pointer")] == (1, 0, 2)
    assert graph[("main", "tail_caller")] == (1, 0, 4)
    assert graph[("tail_caller", "tail_target")] == (1, 1, 2)
    assert [e.caller for e in profile.callers("leaf")] == ["caller_b", "caller_a"]
    assert {e.callee for e in profile.callees("main")} == {
        "caller_a",
        "caller_b",
        "via_pointer",
        "tail_caller",
    }


def test_compiled_tail_call_and_recursion(elf):
    _result, profile = profiled_run(elf("calls_mixed"))
    via_tail, classify = profile.function("via_tail"), profile.function("classify")
    tail = profile.edge("via_tail", "classify")
    assert tail.calls == tail.tail_calls == via_tail.calls == 15  # `return classify(x + 1)`
    assert via_tail.inclusive_cycles == via_tail.exclusive_cycles + tail.cycles
    assert classify.calls == 30  # 15 through the pointer table, 15 by the tail call
    fib = profile.function("fib")
    assert fib.calls == 233  # fib(12) makes 2 * fib(13) - 1 calls
    assert fib.inclusive_cycles == profile.edge("main", "fib").cycles


def test_recursion_counts_outermost_activation_once(elf):
    result, profile = profiled_run(elf("calls_recursion"))
    assert result.exit_code == 24
    functions = summary(profile)
    assert functions["main"] == (1, 8, 8 + 30 + 12)
    # fact(4): activations n = 4, 3, 2 run 8 instructions, n = 1 runs 6. Inclusive counts the
    # outermost activation only: 30, not 30 + 22 + 14 + 6.
    assert functions["fact"] == (4, 30, 30)
    graph = edges(profile)
    assert graph[("main", "fact")] == (1, 0, 30)
    assert graph[("fact", "fact")] == (3, 0, 22)  # the outermost recursive call: n = 3
    # is_even(3) -> is_odd(2) -> is_even(1) -> is_odd(0) by tail calls, 3 instructions each.
    # Re-entering is_even, already in the tail-call chain, unwinds to it (no deeper frame)
    # and counts as its second call.
    assert functions["is_even"] == (2, 6, 12)
    assert functions["is_odd"] == (2, 6, 6)
    assert graph[("is_even", "is_odd")] == (2, 2, 6)
    stats = {f.name: f for f in profile.functions}
    assert stats["fact"].inclusive_cycles == stats["fact"].exclusive_cycles
    assert stats["is_even"].inclusive_cycles == (
        stats["is_even"].exclusive_cycles + stats["is_odd"].exclusive_cycles
    )
    assert profile.edge("main", "fact").cycles == stats["fact"].inclusive_cycles


def test_returns_to_unrecorded_addresses_unwind_to_the_function(elf):
    _result, profile = profiled_run(elf("calls_unwind"))
    functions = summary(profile)
    assert functions["main"] == (1, 6, 6 + 3 + 7)
    assert functions["skip_word"] == (1, 3, 3)  # returned to LR + 4
    # deep1 and deep2 end with a BL to the function that follows: calls, not tail calls.
    assert functions["deep1"] == (1, 2, 7)
    assert functions["deep2"] == (1, 2, 5)
    assert functions["escape"] == (1, 3, 3)  # jumped back into main, ending three frames
    graph = edges(profile)
    assert graph[("deep1", "deep2")] == (1, 0, 5)
    assert graph[("deep2", "escape")] == (1, 0, 3)
    assert ("Reset_Handler", "main", "deep1", "deep2", "escape") in profile.stacks
    assert profile.stacks[("Reset_Handler", "main")] == profile.function("main").exclusive_cycles


@pytest.mark.parametrize(
    "name", [*ASM_FIRMWARES, "calls_compute", "calls_mixed", "hello", "cyccnt"]
)
def test_exclusive_cycles_match_the_per_instruction_reference(elf, name):
    timeline = Timeline(elf(name))
    cycles, instructions = timeline.per_function()
    result, profile = profiled_run(elf(name))
    assert result.cycles == timeline.result.cycles
    assert {f.name: f.exclusive_cycles for f in profile.functions if f.exclusive_cycles} == dict(
        cycles
    )
    # Unicorn runs no code hook for a condition-failed instruction in an IT block, so the
    # reference sees fewer instructions where the code has IT blocks (calls_mixed's clamp);
    # the engine and the profiler count them (each has an issue cycle, M4-ACC-1).
    for stats in profile.functions:
        assert stats.instructions >= instructions[stats.name]
        if name != "calls_mixed":
            assert stats.instructions == instructions[stats.name]


def test_inclusive_is_exclusive_plus_callees_for_non_recursive_functions(elf):
    for name in (*ASM_FIRMWARES, "calls_compute", "calls_mixed", "hello"):
        _result, profile = profiled_run(elf(name))
        recursive = {e.caller for e in profile.edges if e.caller == e.callee}
        recursive |= {"is_even", "is_odd"}  # mutual tail recursion
        for stats in profile.functions:
            if stats.name in recursive:
                continue
            out = sum(e.cycles for e in profile.callees(stats.name))
            assert stats.inclusive_cycles == stats.exclusive_cycles + out, (name, stats.name)
            out_instructions = sum(e.instructions for e in profile.callees(stats.name))
            assert stats.inclusive_instructions == stats.instructions + out_instructions


def test_the_top_frame_is_always_the_function_of_the_running_code(elf):
    """The invariant exclusive attribution rests on, checked after every block event."""
    for name in (*ASM_FIRMWARES, "calls_mixed", "hello"):
        image = load_image(elf(name))
        engine = Engine(Machine(image, load_board("m4-ideal"), stdout=io.BytesIO()))
        profiler = Profiler.attach(engine)
        tops: list[tuple[str, str]] = []  # (top frame's function, function of the block)
        engine.add_block_observer(  # runs after the profiler's observer
            lambda address, _cycle, p=profiler, i=image, t=tops: t.append(
                (p._stack[-1][0].name, i.function_name(address) or UNKNOWN)
            )
        )
        profiler.finish(engine.run())
        assert tops and all(top == running for top, running in tops), name


def _all_elves(firmware_dir: Path) -> list[Path]:
    return program_elves(firmware_dir)


def test_exclusive_cycles_sum_to_the_total_on_every_firmware(firmware_dir):
    """Every ELF in firmware/build/m4-ideal (and special/): faults and limits included."""
    checked = 0
    for path in _all_elves(firmware_dir):
        machine = Machine(load_image(path), load_board("m4-ideal"), stdout=io.BytesIO())
        engine = Engine(machine, max_instructions=200_000)
        profiler = Profiler.attach(engine)
        try:
            total = engine.run().cycles
        except CmsimError:
            total = engine.issue_cycle()  # the cycle at which the run stopped
        profile = profiler.finish(total)
        assert sum(f.exclusive_cycles for f in profile.functions) == total, path.name
        assert sum(profile.stacks.values()) == total, path.name
        assert all(
            f.exclusive_cycles >= 0 and f.inclusive_cycles >= 0 for f in profile.functions
        ), path.name
        checked += 1
    assert checked >= 10


class _CountingProfiler(Profiler):
    """Counts the batches of skipped (quiet) edges the fast path hands over."""

    batches = 0

    def on_skipped(self, last_block: int, instructions: int) -> None:
        self.batches += 1
        super().on_skipped(last_block, instructions)


def _profile_on(path: Path, engine_path: str) -> tuple[Profile, str, int]:
    """The profile of a run (up to its fault or instruction limit), the error, the batches."""
    machine = Machine(load_image(path), load_board("m4-ideal"), stdout=io.BytesIO())
    engine = Engine(machine, path=engine_path, max_instructions=200_000)
    profiler = _CountingProfiler.attach(engine, record_events=True)
    error = ""
    try:
        total = engine.run().cycles
    except CmsimError as exc:
        error = str(exc)
        total = engine.issue_cycle()  # the cycle at which the run stopped
    return profiler.finish(total), error, profiler.batches


def test_batched_edges_give_the_profile_of_every_block_event(firmware_dir):
    """The fast path skips the profiler's events on quiet edges (same function, no call or
    return) and hands them over in batches; the reference path reports every block. Both
    give the same profile (functions, edges, regions, stacks, trace events) on every
    firmware, exceptions and faults included."""
    batched = 0
    for path in _all_elves(firmware_dir):
        *fast, batches = _profile_on(path, "fast")
        *reference, none = _profile_on(path, "reference")
        assert none == 0
        batched += batches > 0
        assert fast == reference, path.name
    assert batched >= 10, "the fast path batched quiet edges on most firmwares"


def test_instructions_sum_to_the_engine_count(elf, firmware_dir):
    for path in _all_elves(firmware_dir):
        if path.stem.startswith(("fault", "spin", "unknown_semihost")):
            continue  # these stop mid-block; the engine counts what it executed differently
        result, profile = profiled_run(path)
        assert profile.total_instructions == result.instructions, path.name
        assert sum(f.instructions for f in profile.functions) == result.instructions, path.name


def test_bare_assembly_running_from_sram(firmware_dir):
    """novectors.elf: bare code in SRAM whose only symbol, _start, has no .size: the whole
    run is _start's (before hand-written assembly got extents, it all went to [unknown])."""
    result, profile = profiled_run(firmware_dir / "special" / "novectors.elf")
    assert result.exit_code == 7
    [start] = profile.functions
    assert (start.name, start.calls, start.sized) == ("_start", 1, False)
    assert start.exclusive_cycles == start.inclusive_cycles == result.cycles
    assert start.instructions == result.instructions


# -- regions -------------------------------------------------------------------------------


def test_regions_match_marker_positions_in_the_timeline(elf):
    timeline = Timeline(elf("calls_regions"))
    _result, profile = profiled_run(elf("calls_regions"), record_events=True)
    regions = {r.name: r for r in profile.regions}
    assert {name: r.count for name, r in regions.items()} == {"outer": 1, "inner": 1}
    for name in ("outer", "inner"):
        start, stop = (
            timeline.issue_cycle_at(f"{name}_start"),
            timeline.issue_cycle_at(f"{name}_stop"),
        )
        assert regions[name].cycles == stop - start
        event = next(e for e in profile.events if e.kind == "region" and e.name == name)
        assert (event.start, event.end) == (start, stop)
    # Collapsed stacks put each region under the function that opened it.
    paths = set(profile.stacks)
    assert ("Reset_Handler", "main", "[outer]", "work") in paths
    assert ("Reset_Handler", "main", "[outer]", "[inner]", "work") in paths
    work = profile.function("work")
    assert profile.stacks[("Reset_Handler", "main", "[outer]", "work")] == (
        work.exclusive_cycles // 2
    )


def test_c_marker_header_marks_layers(elf):
    _result, profile = profiled_run(elf("calls_compute"))
    regions = {r.name: r for r in profile.regions}
    assert set(regions) == {"conv", "fc"}
    conv = profile.function("conv3x3")
    # The region holds the call (BL) and the end marker's four set-up instructions as well.
    assert conv.inclusive_cycles < regions["conv"].cycles < conv.inclusive_cycles + 32
    fc = profile.function("fully_connected")
    assert fc.inclusive_cycles < regions["fc"].cycles < fc.inclusive_cycles + 32
    assert profile.unmatched_region_ends == 0


def test_cycle_counter_loads_read_their_own_issue_cycle(elf):
    """The PC-sync hook that times markers also times CYCCNT loads (M4-DWT-1): cyccnt.elf
    prints the difference of two CYCCNT loads, which must equal the difference of their issue
    cycles in the per-instruction timeline."""
    timeline = Timeline(elf("cyccnt"))
    image = timeline.image
    machine = Machine(image, load_board("m4-ideal"), stdout=io.BytesIO())
    # A plain run: the timeline's code hook on every instruction would sync the PC itself.
    printed = int(Engine(machine).run().output.decode().split("cycles: ")[1])
    main = find_function(image, "main")
    code = bytes(machine.uc.mem_read(main.start, main.end - main.start))
    from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs

    cs = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
    cs.detail = True
    loads = []  # the loads of CYCCNT: ldr rX, [rY, #4] where rY holds DWT_CTRL's address
    for insn in cs.disasm(code, main.start):
        if insn.mnemonic.startswith("ldr") and insn.op_str.endswith(", #4]"):
            loads.append(insn.address)
    assert len(loads) == 2, [hex(a) for a in loads]
    issue = {address: cycle for address, cycle in timeline.steps if address in loads}
    assert printed == issue[loads[1]] - issue[loads[0]]


# -- exceptions --------------------------------------------------------------------------


def test_exception_entry_and_return_from_a_synthetic_stream(elf):
    """Drive the profiler with the events an exception would produce, on real code."""
    image = load_image(elf("calls_graph"))
    profiler = Profiler(
        image, lambda address, size: image.read(address, size) or b"", clock_hz=168_000_000
    )
    leaf = image.symbol("leaf") & ~1
    handler = image.symbol("irq_handler") & ~1
    main = image.symbol("main") & ~1
    profiler.on_block(main, 0)  # main's first block: push, bl caller_a (2 instructions)
    profiler.on_block(image.symbol("caller_a") & ~1, 2)  # push, bl leaf (2)
    profiler.on_block(leaf, 4)  # movs, subs, bne (taken)
    profiler.on_block(leaf + 2, 7)  # subs, bne: interrupted after subs, before bne
    profiler.exception_entry(8, handler, instructions=2 + 2 + 3 + 1)
    profiler.on_block(handler, 20)  # 12 cycles of entry overhead, charged to the handler
    profiler.exception_exit(30)  # the exit overhead is the handler's too
    profiler.on_block(leaf + 4, 30)  # resumes the interrupted block at bne
    profile = profiler.finish(31)
    stats = {f.name: f for f in profile.functions}
    assert stats["irq_handler"].calls == 1
    assert stats["irq_handler"].exclusive_cycles == 30 - 8
    assert stats["irq_handler"].instructions == 2
    assert stats["leaf"].exclusive_cycles == (8 - 4) + (31 - 30)
    assert stats["leaf"].inclusive_cycles == 31 - 4
    assert stats["leaf"].instructions == 3 + 1 + 1  # movs subs bne; subs; bne after return
    assert profile.edge("leaf", "irq_handler").calls == 1
    assert profile.stacks[("main", "caller_a", "leaf", "irq_handler")] == 30 - 8


# -- annotate ------------------------------------------------------------------------------


def test_annotation_matches_the_profile(elf):
    path = elf("calls_graph")
    machine = Machine(load_image(path), load_board("m4-ideal"), stdout=io.BytesIO())
    engine = Engine(machine, path="reference")
    profiler = Profiler.attach(engine)
    annotator = Annotator(engine, find_function(machine.image, "leaf"))
    result = engine.run()
    profile, annotation = profiler.finish(result), annotator.finish(result)
    counts = [(i.text.split()[0], i.count) for i in annotation.instructions]
    assert counts == [("movs", 3), ("subs", 9), ("bne", 9), ("bx", 3)]
    leaf = profile.function("leaf")
    assert annotation.cycles == leaf.exclusive_cycles
    assert annotation.executed == leaf.instructions
    assert all(sum(i.reasons.values()) == i.cycles for i in annotation.instructions)


def test_annotation_of_a_hot_function_matches_the_reference(elf):
    path = elf("calls_compute")
    timeline = Timeline(path)
    dot = find_function(timeline.image, "dot")
    expected: Counter = Counter()
    for address, cost in timeline.costs():
        if dot.start <= address < dot.end:
            expected[address] += cost
    machine = Machine(load_image(path), load_board("m4-ideal"), stdout=io.BytesIO())
    engine = Engine(machine, path="reference")
    annotator = Annotator(engine, dot)
    annotation = annotator.finish(engine.run())
    assert {i.address: i.cycles for i in annotation.instructions if i.count} == dict(expected)


def test_find_function_suggests_near_names(elf):
    image = load_image(elf("calls_graph"))
    with pytest.raises(CmsimError, match="no function 'leaff'.*did you mean leaf"):
        find_function(image, "leaff")


def test_assembly_without_size_is_profiled_and_annotated(elf):
    # firmware/tests/nosize.S (no .size directives): executed instructions per function are
    # fixed by the source: main 5, add_loop 1 + 10 x 3 + 1 = 32, shift_twice 3.
    path = elf("nosize")
    _, profile = profiled_run(path)
    counts = {s.name: (s.instructions, s.sized) for s in profile.functions}
    assert counts["main"] == (5, False)
    assert counts["add_loop"] == (32, False)
    assert counts["shift_twice"] == (3, False)
    assert UNKNOWN not in counts
    assert profile.function("add_loop").label == "add_loop (no .size)"
    function = find_function(load_image(path), "add_loop")
    assert (function.start, function.end) == (
        load_image(path).symbol("add_loop") & ~1,
        load_image(path).symbol("shift_twice") & ~1,
    )
