"""The C fast path's driver (native/fastpath.c does the hot part): C hooks record each block's
run-time facts and memoise its timing by (block, entry state, facts); on a miss C calls back here,
and `NativePath` times the block with the same rules as the reference path (`Pipeline`), once.
It also answers C's other callbacks (translation, instruction limit, exception boundaries, traps,
observers), reads the block in progress for clock reads, and explains blocks for annotate.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from unicorn import arm_const as U

from cmsim import decode as D
from cmsim import native as native_mod
from cmsim.decode import PC
from cmsim.errors import CmsimError
from cmsim.machine import Stop
from cmsim.timing.cores import lacks
from cmsim.timing.cortex_m4 import Pipeline, max_cycles

if TYPE_CHECKING:
    from cmsim.engine import Engine

_UC_REGS = [getattr(U, f"UC_ARM_REG_R{i}") for i in range(13)] + [
    U.UC_ARM_REG_SP,
    U.UC_ARM_REG_LR,
    U.UC_ARM_REG_PC,
]


class InsideItBlock(CmsimError):
    """An exception or fault would be taken inside an IT block (not modelled)."""

    exit_code = 134


MAX_STATES = 20_000  # distinct block-entry states kept before the memo is cleared (memory bound)
PENDING_BOUND = 40  # cycles the instruction pending before a block may still add, per wait+1


class _InProgress(NamedTuple):
    """The block the C fast path is recording: key (address << 32 | size), entry state id,
    start cycle and the facts recorded so far (None when no block is in progress)."""

    key: int
    state: int
    now: int
    recorded: tuple | None


class NativePath:
    """The C fast path (native/fastpath.c): C hooks record facts and memoise block timings;
    this class answers its callbacks by running the same rules (`Pipeline`) over one block."""

    def __init__(self, engine: Engine, lib):
        self.engine = engine
        self.lib = lib
        # state id -> (sequencer snapshot, IT queue, fetch state); the caches live in C
        self.states: list[tuple] = [
            (engine.pipeline.snapshot(), (), engine.memory.fetch_snapshot(0))
        ]
        self.state_ids: dict[tuple, int] = {self.states[0]: 0}
        self._callbacks = (
            native_mod.TRANSLATE(self._translate),
            native_mod.SETTLE(self._settle),
            native_mod.LIMIT(self._limit),
            native_mod.OBSERVE(self._observe),
            native_mod.CHECK(self._check),
            native_mod.FAULT(self._fault),
        )
        self._stop_before: int | None = None  # a partial settle ends before this address
        self._stop_after: int | None = None  # ... or after this one
        # block -> {address: upper bound of the cycles from the block's start to the boundary
        # before it}: most boundaries of a block near an exception are surely too early
        self._prefix_bounds: dict[tuple[int, int], dict[int, int]] = {}
        self._anchor: tuple = ((None, None), 0, 0)  # last timed boundary: block run, prefix, end
        self._clock_cache: tuple | None = None
        self._observe_enabled = False
        self._observed_block: tuple | None = None
        self._emitting = False
        self._final: int | None = None  # total after run() ended
        self._cache_buffer = (ctypes.c_int64 * 256)()
        self._data_caches: set[int] = set()
        self.memo_hits = self.memo_misses = self.cache_mismatches = 0
        # Explaining (annotate): the sink of settled instructions in [start, end) as
        # (instrs, cost, parts, times), and per tag the explanation of one memoised result
        # (C counts its hits) with the hits already handed to the sink.
        self._explain: tuple[Callable, int, int] | None = None
        self._tagged: list[list[tuple]] = []
        self._explaining = True  # False: outside the region being explained (set_explaining)
        # Switches inside the block in progress: (address of the marker store, on), and
        # whether explaining was on when the block began
        self._switches: list[tuple[int, bool]] = []
        self._switched_from = True
        self._tag_flushed: list[int] = []

    @classmethod
    def create(cls, engine: Engine) -> NativePath | None:
        lib = native_mod.new_context(10, engine.max_instructions)  # the table grows in C
        if lib is None:
            return None
        self = cls(engine, lib)
        board = engine.machine.board
        for index, region in enumerate(board.regions):
            # An access's timing depends on its region, its alignment and (through the cache
            # answers, which C replays) its D-cache lines: the offset in the line sets how many.
            cached = region.read_ws and region.dcache_lines
            low_mask = (region.line_bytes - 1) | 3 if cached else 3
            for start in (region.base, *region.aliases):
                end = min(start + region.size, 0xFFFFFFFF)
                line_bytes = region.line_bytes or 1
                if lib.fp_add_region(start, end, index, low_mask, region.base, line_bytes) != 0:
                    return None
        for cache in engine.memory.caches:
            if lib.fp_add_cache(cache.capacity) != cache.ident:
                return None
        self._data_caches = {c.ident for c in engine.memory._dcache.values()}
        # Every instruction wherever it runs (exception points can be anywhere, and code may be
        # copied to RAM at run time), with one hook over all addresses (begin > end): Unicorn
        # checks every code hook's range on every instruction, while a miss in the C table
        # costs a few nanoseconds. The table fills at translation time (`_translate`).
        ranges = [(1, 0)]
        flat = (ctypes.c_uint64 * (2 * len(ranges)))(*[x for r in ranges for x in r])
        self.install_callbacks()
        if lib.fp_attach(engine.uc._uch, flat, len(ranges)) != 0:
            return None
        return self

    def __del__(self) -> None:
        # The engine (and its Unicorn object) is gone: give the C context's memory back.
        self.lib.release()

    def install_callbacks(self) -> None:
        """Give C the Python callbacks (the observer one only when someone observes)."""
        observe = self._callbacks[3] if self.engine._observers else None
        self._observe_enabled = observe is not None
        self.lib.fp_set_callbacks(
            self._callbacks[0],
            self._callbacks[1],
            self._callbacks[2],
            ctypes.cast(observe, ctypes.c_void_p) if observe else None,
            self._callbacks[4],
            self._callbacks[5],
        )

    def _add_info(self, address: int, cond: int, dynamic: bool = True) -> None:
        ins = self.engine.decode(address)
        mem = ins.mem if ins.memory else None
        kind = 1 if mem is not None else (2 if ins.klass == D.DIV else 0)
        if ins.sets_mask:
            kind = 3
        if not dynamic:
            kind = 4  # K_NONE: no facts, only traps
        base = index = -1
        if mem is not None:
            base = _UC_REGS[mem.base] if mem.base != PC else -1
            index = _UC_REGS[mem.index] if mem.index >= 0 else -1
        self.lib.fp_add_info(
            address,
            kind,
            cond,
            int(mem is not None and mem.base == PC),
            int(ins.klass == D.TB),
            int(ins.descending),
            mem.shift if mem else 0,
            base,
            index,
            mem.disp if mem else 0,
            int(mem.subtract) if mem else 0,
            ins.nregs,
            int(ins.signed),
            _UC_REGS[ins.div_regs[0]],
            _UC_REGS[ins.div_regs[1]],
            int(ins.fp) | 2 * lacks(self.engine.core, ins) | ins.align << 8 | ins.align_trp << 16,
        )

    # -- callbacks from C ------------------------------------------------------------------
    def _translate(self, address: int, size: int) -> int:
        """Instructions of a block, and (high word) an upper bound of its cycles plus those of
        the instruction pending before it."""
        try:
            instrs = self.engine._instrs(address, size)
            for where, cond, dynamic in self.engine._register_dynamic(instrs):
                self._add_info(where, cond, dynamic)
            wait = self.engine._max_wait
            bound = PENDING_BOUND * (wait + 1)
            prefix = self._prefix_bounds[(address, size)] = {}
            for ins in instrs:
                prefix[ins.address] = bound
                bound += max_cycles(ins, wait)
            return len(instrs) | bound << 32
        except Exception as exc:  # never let an exception cross the C boundary
            self.engine.machine.stop(Stop(error=CmsimError(f"fast path: {exc}")))
            return 0

    def _fault(self, pc: int, code: int, access: int) -> None:
        """C found a fault before the instruction at `pc` (a trap): take it from Python."""
        try:
            fault = self.engine.trap_fault(code, pc, access)
            self.engine.machine.interrupt(lambda: self.engine.on_fault(fault))
        except Exception as exc:  # never let an exception cross the C boundary
            self.engine.machine.stop(Stop(error=CmsimError(f"fast path: {exc}")))

    def _limit(self, address: int, reason: int) -> None:
        if reason == native_mod.STOP_INTERRUPT:
            self.engine.machine.interrupted = True
        self.engine._limit(address)

    def _observe(self, address: int, cycle: int, previous: int, skipped: int) -> None:
        engine = self.engine
        if skipped:
            engine._on_skipped(previous, skipped)
        for fn in engine._observers:
            fn(address, cycle)

    def take_skipped(self, force: bool) -> None:
        """Hand the edges C skipped since its last report to the observer (see QuietEdges)."""
        previous = ctypes.c_uint64()
        skipped = self.lib.fp_take_batch(ctypes.byref(previous), int(force))
        if skipped:
            self.engine._on_skipped(previous.value, skipped)

    def explain_blocks(self, sink: Callable, start: int, end: int) -> None:
        """Explain the instructions in [start, end) that blocks settle: sink(ins, cost, parts,
        times) for each, `times` executions at once. A block's explanation is computed when it
        is timed in Python (a memo miss) and memoised with its result; C counts the hits."""
        self._explain = (sink, start, end)

    def set_explaining(self, on: bool, at_marker: bool = True) -> None:
        """Explain the instructions settled from now on (on) or not (annotate --region: only
        inside the region). Called from a marker store in the block in progress: that block is
        timed in Python, outside the memo, and explained from the store on with the new
        setting, as the reference path does (the store settles after the marker)."""
        if at_marker:
            if not self._switches:
                self._switched_from = self._explaining
            self._switches.append((self.lib.fp_pc(), on))
            self.lib.fp_force_miss()
        self._explaining = on
        self.lib.fp_set_explaining(int(on))

    def flush_explained(self) -> None:
        """Hand the sink the memoised explanations of the memo hits since the last flush."""
        if self._explain is None:
            return
        sink = self._explain[0]
        for tag, explained in enumerate(self._tagged, 1):
            hits = self.lib.fp_tag_hits(tag)
            new = hits - self._tag_flushed[tag - 1]
            if new:
                self._tag_flushed[tag - 1] = hits
                for ins, cost, parts in explained:
                    sink(ins, cost, parts, new)

    def _explain_settled(self, explained: list[tuple], tag: bool, out) -> None:
        """Hand one block execution's explanation to the sink (the part inside the region when
        a marker switched explaining in it); tag it for C to count its memo hits."""
        switches, self._switches = self._switches, []
        forced = bool(switches)  # C times this execution outside the memo
        on = self._switched_from if forced else self._explaining
        for ins, cost, parts in explained:
            while switches and ins.address == switches[0][0]:
                on = switches.pop(0)[1]  # the marker store and what follows it
            if on:
                self._explain[0](ins, cost, parts, 1)
        if explained and tag and not forced:  # C memoises this result: it counts the hits
            self._tagged.append(explained)
            self._tag_flushed.append(0)
            out[7] = len(self._tagged)

    def _settle(self, address, size, state, facts, nfacts, out) -> None:
        explained: list[tuple] | None = None
        pipeline = self.engine.pipeline
        outside = pipeline.explain  # the explainer of instructions settled outside blocks
        if self._explain is not None:
            explained = []
            _sink, start, end = self._explain

            def capture(step, cost, parts) -> None:
                if start <= step.ins.address < end:
                    explained.append((step.ins, cost, tuple(parts)))

            pipeline.explain = capture
        try:
            partial = nfacts < 0
            n = -nfacts - 1 if partial else nfacts
            recorded = [(f.pc, f.executed, f.address, f.div) for f in facts[:n]]
            stop_after = None
            if partial and self._stop_before is not None:
                pass  # an exception comes in: the block ends before that address
            elif partial and self._stop_after is not None:
                stop_after = self._stop_after  # a fault after this instruction ran
            elif partial and recorded:
                pc = self.engine.uc.reg_read(U.UC_ARM_REG_PC) & ~1
                if pc == recorded[-1][0]:
                    stop_after = pc  # faulted in its last dynamic instruction
            first, end, exit_state, count, _step, events = self._time_block(
                address, size, state, recorded, stop_after, stop_before=self._stop_before
            )
            out[0], out[1], out[2], out[3] = first, end, exit_state, count
            out[4], out[5], out[6] = events
            out[7] = 0
            if explained is not None:
                self._explain_settled(explained, tag=not partial, out=out)
        except Exception as exc:  # never let an exception cross the C boundary
            self.engine.machine.stop(Stop(error=CmsimError(f"fast path: {exc}")))
            for k in range(8):
                out[k] = 0
        finally:
            pipeline.explain = outside

    # -- the rules over one block --------------------------------------------------------------
    def _time_block(
        self, address, size, state, recorded, stop_after, intern=True, stop_before=None
    ):
        """Issue one block's instructions from a state; return (first issue cycle, last issue
        cycle, exit state id, instructions issued, last Step, CPI/LSU/FOLD events of the
        instructions it settled), times relative to the entry."""
        engine = self.engine
        pipeline = engine.pipeline
        snapshot, it_queue, fetch = self.states[state]
        explain = pipeline.explain
        if not intern:
            pipeline.explain = None  # a clock read settles nothing
        pipeline.restore(snapshot, engine.decode, 0)
        engine.memory.restore_fetch(fetch, 0)
        self._load_caches()
        log: list | None = [] if intern else None
        ops: list[tuple] = []
        engine.memory.log_to(log)
        # The block's events, memoised with its timing (they depend on the same key)
        events = pipeline.tally = [0, 0, 0]
        try:
            first, count, queue = self._issue_block(
                address, size, it_queue, recorded, stop_after, stop_before, log, ops
            )
        finally:
            engine.memory.log_to(None)
            pipeline.tally = engine.events
            pipeline.explain = explain
        if not intern:  # a clock read: the exit state is not needed
            return first, pipeline.time, -1, count, pipeline.pending, events
        self._report_ops(ops)
        exit_state = self._intern(tuple(queue))
        return first, pipeline.time, exit_state, count, pipeline.pending, events

    def _intern(self, it_queue: tuple) -> int:
        """State id of the sequencer and fetch state as they are now (not the caches: C
        keeps those)."""
        engine = self.engine
        pipeline = engine.pipeline
        key = (pipeline.snapshot(), it_queue, engine.memory.fetch_snapshot(pipeline.time))
        exit_state = self.state_ids.get(key)
        if exit_state is None:
            if len(self.states) >= MAX_STATES:  # bound memory: start the memo afresh
                self.lib.fp_clear_memo()
                self.states.clear()
                self.state_ids.clear()
            exit_state = self.state_ids[key] = len(self.states)
            self.states.append(key)
        return exit_state

    def _load_caches(self) -> None:
        """Give the Python caches C's contents (C keeps them between blocks)."""
        buffer = self._cache_buffer
        for cache in self.engine.memory.caches:
            n = self.lib.fp_cache_get(cache.ident, buffer)
            cache.lines = buffer[:n]

    def _store_caches(self) -> None:
        """Give C the Python caches' contents (exception entry reads vectors through them)."""
        for cache in self.engine.memory.caches:
            lines = cache.lines
            self.lib.fp_cache_set(cache.ident, (ctypes.c_int64 * len(lines))(*lines), len(lines))

    def _report_ops(self, ops: list[tuple]) -> None:
        """Tell C the block's cache operations: it replays them on its caches and memoises them
        with the block (they depend only on the block, its entry state and its facts)."""
        flat = (ctypes.c_int64 * (5 * len(ops)))(*[x for op in ops for x in op])
        self.lib.fp_set_ops(flat, len(ops))

    def _issue_block(self, address, size, it_queue, recorded, stop_after, stop_before, log, ops):
        """Issue one block's instructions through the Pipeline, after `stop_after` or before
        `stop_before` at the latest; (first issue cycle, instructions issued, IT queue at the
        exit). With a `log`, the cache operations go to
        `ops` as (cache, kind, fact, line, hit), data lines relative to their fact's first line."""
        engine = self.engine
        pipeline = engine.pipeline
        memory = engine.memory
        queue = list(it_queue)
        k, count, first = 0, 0, None
        for ins in engine._instrs(address, size):
            if ins.address == stop_before:
                break
            fact = None
            in_it = bool(queue) and queue[0][0] == ins.address
            if in_it:
                queue.pop(0)
                if k < len(recorded) and recorded[k][0] == ins.address:
                    fact = recorded[k]
                    k += 1
                executed = fact is not None and bool(fact[1])
            elif ins.address in engine._dynamic:
                if k >= len(recorded):
                    break  # the run stopped before this instruction
                fact = recorded[k]
                if fact[0] != ins.address:
                    raise CmsimError(f"fact for 0x{fact[0]:08x} at 0x{ins.address:08x}")
                k += 1
                executed = bool(fact[1])
            else:
                executed = True
            access = fact[2] if fact is not None and executed and ins.memory else None
            if access is not None:
                memory.write_buffer_off = bool(fact[3])  # as it was when C recorded the access
            div = fact[3] if fact is not None and executed and ins.klass == D.DIV else 0
            t = pipeline.issue(ins, executed, access, div, in_it)
            if log:
                base = memory.data_line(access) if access is not None else None
                for cache, kind, line, hit in log:
                    if cache in self._data_caches and base is not None:
                        ops.append((cache, kind, k - 1, line - base, int(hit)))
                    else:
                        ops.append((cache, kind, -1, line, int(hit)))
                log.clear()
            if first is None:
                first = t
            count += 1
            if ins.klass == D.IT:
                queue = engine._covered(ins)
            if stop_after is not None and ins.address == stop_after:
                break
        return (first or 0), count, queue

    # -- exceptions ----------------------------------------------------------------------------
    def _check(self, address: int) -> int:
        """At the boundary before `address` in the block being recorded: take an exception?"""
        try:
            engine = self.engine
            current = self._in_progress()
            prefix = self._prefix_bounds[(current.key >> 32, current.key & 0xFFFFFFFF)][address]
            latest = current.now + prefix
            anchor = self._anchor
            if anchor[0] == (current.key, current.now):
                # The last boundary timed in this block ended at anchor[2]; its pending
                # instruction may still gain a store->load cycle or write wait states.
                latest = min(latest, anchor[2] + 1 + engine._max_wait + prefix - anchor[1])
            if latest < engine._deadline and not engine.nvic.pending:
                return 0  # surely too early (a pending exception waits only for a mask)
            self._time_in_progress(current, stop_before=address)
            end = current.now + engine.pipeline.total_if_finished()
            self._anchor = ((current.key, current.now), prefix, end)
            return int(engine.boundary(end, address))
        except Exception as exc:  # never let an exception cross the C boundary
            self.engine.machine.stop(Stop(error=CmsimError(f"fast path: {exc}")))
            return 1

    def settle(self, stop_before: int | None, stop_after: int | None = None) -> Pipeline:
        """Settle the block in progress (up to `stop_before`, up to and with `stop_after`, or
        all of it) and return the sequencer in the state it leaves, at its absolute time."""
        self._stop_before = stop_before
        self._stop_after = stop_after
        try:
            partial = stop_before is not None or stop_after is not None
            self.lib.fp_finish(1 if partial else 0)
        finally:
            self._stop_before = self._stop_after = None
        totals = self._totals()
        snapshot, queue, fetch = self.states[totals[1]]
        engine = self.engine
        if queue:
            raise InsideItBlock("exception inside an IT block")
        engine.pipeline.restore(snapshot, engine.decode, totals[0])
        engine.memory.restore_fetch(fetch, totals[0])
        self._load_caches()
        return engine.pipeline

    def resume_from_pipeline(self) -> None:
        """Blocks go on from the sequencer's state (after an exception entry or return)."""
        pipeline = self.engine.pipeline
        self._store_caches()
        self.lib.fp_set_clock(pipeline.time, self._intern(()))

    def current_step(self, pc: int) -> tuple[int, object]:
        """Issue cycle and Step of the instruction at `pc` in the block being recorded."""
        current = self._in_progress()
        if current.recorded is None:
            return current.now, None
        key = (current, pc)
        if self._clock_cache is not None and self._clock_cache[0] == key:
            return self._clock_cache[1]
        first, last, _exit, _count, step, events = self._time_in_progress(current, stop_after=pc)
        result = (current.now + last, step)
        self._clock_cache = (key, result, events)
        if self._observe_enabled and self._observed_block != (current.key, current.now):
            # Observers must see this block start before whatever reads the clock inside it
            # (region markers); C then skips the block's event when it settles it.
            self._observed_block = (current.key, current.now)
            previous = ctypes.c_uint64()
            skipped = self.lib.fp_take_batch(ctypes.byref(previous), 0)
            self.lib.fp_mark_observed()
            self._emitting = True  # observers see the count before this block
            try:
                self._observe(current.key >> 32, current.now + first, previous.value, skipped)
            finally:
                self._emitting = False
        return result

    def events_so_far(self, pc: int) -> tuple[int, int, int]:
        """Running CPI, LSU, FOLD totals at the issue of the instruction at `pc` (M4-DWT-2):
        the settled blocks' (C), those settled outside blocks, and the block in progress's."""
        settled = self._totals()[6:9]
        outside = self.engine.events
        totals = [a + b for a, b in zip(settled, outside, strict=True)]
        current = self._in_progress()
        if current.recorded is not None and self._final is None:
            self.current_step(pc)
            totals = [a + b for a, b in zip(totals, self._clock_cache[2], strict=True)]
        return tuple(totals)

    def cycles_so_far(self, stop_pc: int | None) -> int:
        """Total cycles if the run ended now (after the instruction at `stop_pc` when a hook
        stopped the machine inside the block in progress)."""
        if self._final is not None:
            return self._final
        engine = self.engine
        current = self._in_progress()
        if current.recorded is None:
            snapshot, _queue, _fetch = self.states[current.state]
            engine.pipeline.restore(snapshot, engine.decode, current.now)
            return engine.pipeline.total_if_finished()
        if stop_pc is None:
            stop_pc = engine.uc.reg_read(U.UC_ARM_REG_PC) & ~1
        self._time_in_progress(current, stop_after=stop_pc)
        return current.now + engine.pipeline.total_if_finished()

    def instructions(self) -> int:
        """Settled instructions plus those of the block in progress (up to the PC)."""
        settled = self._totals()[2]
        current = self._in_progress()
        if current.recorded is None or self._emitting:
            return settled
        pc = self.engine._stop_pc
        if pc is None:
            pc = self.engine.uc.reg_read(U.UC_ARM_REG_PC) & ~1
        return settled + self._time_in_progress(current, stop_after=pc)[3]

    def _totals(self) -> list[int]:
        """C's totals: cycle, state id, instructions, memo hits, misses, cache mismatches, and
        the CPI, LSU, FOLD events of the blocks settled."""
        totals = (ctypes.c_int64 * 9)()
        self.lib.fp_totals(totals)
        return list(totals)

    def _in_progress(self) -> _InProgress:
        """The block C is recording now."""
        block, state, now = ctypes.c_uint64(), ctypes.c_int64(), ctypes.c_int64()
        facts = ctypes.POINTER(native_mod.Fact)()
        n = self.lib.fp_current(
            ctypes.byref(block), ctypes.byref(state), ctypes.byref(now), ctypes.byref(facts)
        )
        recorded = None
        if n >= 0:
            recorded = tuple((f.pc, f.executed, f.address, f.div) for f in facts[:n])
        return _InProgress(block.value, state.value, now.value, recorded)

    def _time_in_progress(self, current: _InProgress, stop_after=None, stop_before=None):
        """`_time_block` over the block in progress, without an exit state."""
        return self._time_block(
            current.key >> 32,
            current.key & 0xFFFFFFFF,
            current.state,
            list(current.recorded or ()),
            stop_after,
            intern=False,
            stop_before=stop_before,
        )

    def run(self, entry: int | None):
        engine = self.engine
        lib = self.lib
        self._final = None
        error = None
        try:
            exit_code = engine.machine.run(start=entry)
        except CmsimError as exc:
            error = exc
        lib.fp_finish(1 if error is not None else 0)
        self.flush_explained()
        if self.engine._quiet is not None:
            self.take_skipped(force=False)  # observers see the whole run before it returns
        totals = self._totals()
        now, state = totals[0], totals[1]
        self.memo_hits, self.memo_misses = totals[3], totals[4]
        self.cache_mismatches = totals[5]  # C and Python caches disagreed (never expected)
        snapshot, _queue, _memory = self.states[state]
        engine.pipeline.restore(snapshot, engine.decode, now)
        engine.pipeline.finish()
        self._final = engine.pipeline.time
        for fn in engine._finish_observers:
            fn(engine.cycles)
        if error is not None:
            raise error
        return engine.result(exit_code)
