"""Runs a machine and times it with the Cortex-M4 timing model and the board's memory model.

Every path feeds the same rule sequencer (`timing.cortex_m4.Pipeline`) the same instruction
stream with the same run-time facts, so they give identical cycle counts (tests check it on
every firmware):

- **reference**: a Python code hook on every instruction (UC_HOOK_CODE) reads what each
  instruction needs at run time (IT condition, access address, divide operands) and issues it.
- **fast** (native/fastpath.c, driven from `cmsim.fastpath`): a C block hook and a C code hook
  record each block execution's facts (for the dynamic instructions: memory accesses, divides,
  IT blocks, BKPT/SVC/WFI, registered when a block is first translated). A block's timing is
  memoised in C by (block, sequencer + memory-model state it starts from, facts): a hit adds
  the cycles without running Python; a miss calls back into Python, which issues the block's
  instructions through the Pipeline once and returns cycles and exit state. Static effects
  (base costs, pairing inside the block, IT folding, branch classes) are thereby computed once
  per block and entry state; dynamic ones (taken edges, divide operands, failed IT
  instructions, address-dependent block/alignment/wait states, caches) enter through the facts
  and the state.

Without a C compiler (or with `native=False`) the fast path falls back to the reference hooks.

This module holds the Engine (the run, the reference path, the clock, exception and fault
timing); `cmsim.fastpath` the hot path's driver.

The machine's clock protocol (`issue_cycle`, `next_issue_cycle`, `read_cycle`) serves DWT CYCCNT,
SysTick and region markers with the model's cycles (M4-DWT-1); `issue_cycle()` gives the issue
cycle of the instruction executing now, from any hook or MMIO callback.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass, field

from capstone import arm_const as A
from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE, UcError
from unicorn import arm_const as U

from cmsim import decode as D
from cmsim import exceptions as X
from cmsim import native as native_mod
from cmsim.decode import PC, Decoder, Instr, thumb_width
from cmsim.errors import CmsimError, Interrupted, LimitReached
from cmsim.fastpath import _UC_REGS, InsideItBlock, NativePath
from cmsim.machine import Machine, Stop
from cmsim.memory import MemoryModel
from cmsim.peripherals import ACTLR_DISDEFWBUF
from cmsim.timing.cores import lacks, pipeline_class
from cmsim.timing.cortex_m4 import (
    EXCEPTION_ENTRY,
    Pipeline,
    always_writes_pc,
    base_cost,
    exception_return_cycles,
    sdiv_cycles,
    udiv_cycles,
)

DEFAULT_MAX_INSTRUCTIONS = 2_000_000_000
DEFAULT_HANDLER = "Default_Handler"  # the startup's catch-all (CMSIS and firmware/common)
# Capstone ids of instructions that fault as undefined (0: Capstone could not decode it)
UNDEFINED_IDS = frozenset({0, A.ARM_INS_UDF})
SPIN_NARROW, SPIN_WIDE = b"\xfe\xe7", b"\xff\xf7\xfe\xbf"  # b . (16- and 32-bit)
PATHS = ("fast", "reference")


# Classes whose cost or behaviour needs run-time facts (fast path: hooked one by one).
DYNAMIC_CLASSES = D.MEMORY_CLASS | {D.DIV, D.IT, D.BKPT, D.SVC, D.WFI}

BlockObserver = Callable[[int, int], None]
SkipObserver = Callable[[int, int], None]  # (last skipped block, their instructions)
# on_exception(kind, cycle, address, instructions): "entry" (the cycle the entry starts, the
# handler) or "return" (the cycle the next context or chained handler starts, where it starts),
# with the instructions executed so far.
ExceptionObserver = Callable[[str, int, int, int], None]


def condition_passed(cond: int, cpsr: int) -> bool:
    """ARM condition (Capstone numbering, EQ = 1 ... AL = 15) against the NZCV flags."""
    n, z, c, v = (cpsr >> 31) & 1, (cpsr >> 30) & 1, (cpsr >> 29) & 1, (cpsr >> 28) & 1
    base = (cond - 1) >> 1
    if base == 0:
        result = z == 1
    elif base == 1:
        result = c == 1
    elif base == 2:
        result = n == 1
    elif base == 3:
        result = v == 1
    elif base == 4:
        result = c == 1 and z == 0
    elif base == 5:
        result = n == v
    elif base == 6:
        result = z == 0 and n == v
    else:
        return True
    return result if (cond - 1) & 1 == 0 else not result


@dataclass
class RunResult:
    """What a run produced."""

    exit_code: int
    instructions: int
    cycles: int
    host_seconds: float
    output: bytes = field(repr=False)
    clock_hz: int
    exceptions: int = 0  # exception entries (interrupts, SVC; tail-chained ones included)

    @property
    def instructions_per_second(self) -> float:
        return self.instructions / self.host_seconds if self.host_seconds > 0 else 0.0

    @property
    def simulated_seconds(self) -> float:
        return self.cycles / self.clock_hz


class QuietEdges:
    """Edges (previous block -> block) on which a block observer need not be called.

    The observer declares an edge quiet once (`add`); the C fast path then skips the event of
    every block reached by it, and before the next block it reports (and at the end of a run)
    calls on_skipped(last skipped block, sum of the skipped edges' declared instructions). So a
    profiler pays Python only where the call stack may change. On the reference path, or once
    a second observer is added, `enabled` is False and every block is reported.
    """

    def __init__(self, native: NativePath | None):
        self._native = native
        self.enabled = native is not None

    def add(self, previous: int, address: int, instructions: int) -> None:
        """Declare previous -> address quiet; it stands for `instructions` (> 0) instructions of
        the previous block."""
        if self.enabled:
            self._native.lib.fp_add_quiet(previous, address, instructions)

    def sync(self) -> None:
        """Deliver the skipped edges now and report the next block whatever its edge (before
        the observer's state changes other than by a block event, e.g. an exception entry)."""
        if self.enabled:
            self._native.take_skipped(force=True)

    def stop(self) -> None:
        """Deliver the skipped edges and report every block from now on."""
        if self.enabled:
            self._native.take_skipped(force=False)
            self._native.lib.fp_set_batching(0)
            self.enabled = False


@dataclass
class _Block:
    """Translation-time facts of one Unicorn block."""

    instrs: tuple[Instr, ...]
    prefix: tuple[Instr, ...]  # static instructions before the first dynamic one
    after: dict[int, tuple[Instr, ...]]  # dynamic address -> static run that follows it


class Engine:
    """Times a machine's run; `path` picks the fast (block) or reference (per-instruction) path."""

    def __init__(
        self,
        machine: Machine,
        max_instructions: int = DEFAULT_MAX_INSTRUCTIONS,
        path: str = "fast",
        native: bool | None = None,
    ):
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        self.machine = machine
        self._native: NativePath | None = None
        self._max_instructions = max_instructions
        self.path = path
        self.uc = machine.uc
        self.memory = MemoryModel(machine.board)
        self.decode = Decoder(lambda a, n: self.uc.mem_read(a, n))
        self.core = machine.board.core_spec
        self.pipeline = pipeline_class(self.core)(self.memory, self._next_sizes)
        fetch = machine.board.options.get("fetch", {})
        self.pipeline.wide_run_penalty = bool(fetch.get("unaligned_wide_run_penalty", False))
        # Running CPI, LSU, FOLD totals of the settled instructions (M4-DWT-2); the C path
        # keeps those of the blocks it settles and these are the ones settled outside blocks.
        self.events = [0, 0, 0]
        self.pipeline.tally = self.events
        self._instructions = 0
        self._stop_pc: int | None = None  # PC when a hook stopped the machine
        self._observers: list[BlockObserver] = []
        self._quiet: QuietEdges | None = None  # the sole observer's batched edges
        self._on_skipped: SkipObserver | None = None
        self._finish_observers: list[Callable[[int], None]] = []
        self._it_conds: list[tuple[int, int]] = []  # (address, condition) of IT-covered instrs
        self._current = None  # the Step of the instruction executing now (for the clock)
        self._new_block: int | None = None  # block whose first instruction is not issued yet
        self._next_size_cache: dict[int, tuple[int, int]] = {}
        self._block_lengths: dict[tuple[int, int], int] = {}
        self.nvic = machine.peripherals.nvic
        self.nvic.on_change = self._exceptions_changed
        self.nvic.on_traps = self._traps_changed
        self._traps = (False, False, False)  # FPU on (CPACR), CCR.UNALIGN_TRP, CCR.DIV_0_TRP
        self._deadline = X.NEVER  # earliest cycle an exception may be due (M4-EXC-POINT)
        self._exception_observers: list[ExceptionObserver] = []
        self.exceptions_taken = 0
        regions = machine.board.regions
        self._max_wait = max(
            (max(r.read_ws, r.write_ws, r.fetch_ws, r.fetch_word_cycles) for r in regions),
            default=0,
        )
        machine.clock = self
        machine.peripherals.on_actlr = self._actlr_written
        if path == "fast" and native is not False:
            self._dynamic: dict[int, int] = {}  # dynamic address -> IT condition (0: none)
            self._fp_registered: set[int] = set()  # FPU instructions known to C (NOCP traps)
            self._native = NativePath.create(self)
            if native and self._native is None:
                raise CmsimError("the C fast path needs a C compiler (cc)")
        self._traps_changed()
        if self._native is None:
            # Per instruction, counting costs the reference path time: only while it matters
            self.pipeline.tally = None
            machine.peripherals.on_profile_enable = self._count_events
            self.uc.hook_add(UC_HOOK_BLOCK, self._on_block_reference)
            self.uc.hook_add(UC_HOOK_CODE, self._on_code_reference)

    # -- counters (live during a run, also for callers that drive machine.run themselves) ----
    @property
    def max_instructions(self) -> int:
        """Instruction limit: a block that would exceed it is not run (LimitReached)."""
        return self._max_instructions

    @max_instructions.setter
    def max_instructions(self, value: int) -> None:
        self._max_instructions = value
        if self._native is not None:
            self._native.lib.fp_set_max(value)

    @property
    def cycles(self) -> int:
        """Cycles so far: the run's total once it ended; between runs driven by a caller
        (machine.run stopped from a hook) the total as if the run had ended there."""
        if self._native is not None:
            return self._native.cycles_so_far(self._stop_pc)
        return self.pipeline.total_if_finished()

    @property
    def instructions(self) -> int:
        """Instructions executed so far (the C path counts the block in progress too)."""
        if self._native is not None:
            return self._native.instructions()
        return self._instructions

    @instructions.setter
    def instructions(self, value: int) -> None:
        self._instructions = value

    def progress(self) -> tuple[int, int]:
        """(instructions, cycles) settled so far, for a progress display: safe to call from
        another thread while the engine runs (it reads counters, it times nothing)."""
        if self._native is not None:
            totals = (ctypes.c_int64 * 9)()
            self._native.lib.fp_totals(totals)
            return totals[2], totals[0]
        return self._instructions, self.pipeline.time

    # -- observers (profiler contract) -------------------------------------------------------
    def add_block_observer(
        self,
        on_block: BlockObserver,
        on_finish: Callable[[int], None] | None = None,
        on_skipped: SkipObserver | None = None,
    ) -> QuietEdges:
        """Call on_block(block_address, cycle_at_block_start) for every executed block, in order;
        on_finish(total_cycles) when the run ends.

        With `on_skipped`, the observer may declare edges quiet through the returned QuietEdges
        and is then not called for blocks reached by them (see QuietEdges)."""
        if self._quiet is not None:  # batching is for a sole observer: report every block now
            self._quiet.stop()
        self._observers.append(on_block)
        quiet = QuietEdges(self._native if len(self._observers) == 1 else None)
        if on_skipped is not None and quiet.enabled:
            self._quiet = quiet
            self._on_skipped = on_skipped
            self._native.lib.fp_set_batching(1)
        else:
            quiet.enabled = False
        if self._native is not None:
            self._native.install_callbacks()
        if on_finish is not None:
            self._finish_observers.append(on_finish)
        return quiet

    def add_exception_observer(self, on_exception: ExceptionObserver) -> None:
        """Call on_exception(kind, cycle, address, instructions) on exception entry and return
        (see ExceptionObserver)."""
        self._exception_observers.append(on_exception)

    def _notify(self, t: int) -> None:
        address = self._new_block
        self._new_block = None
        for fn in self._observers:
            fn(address, t)

    # -- the clock the peripherals see (M4-DWT-1) ---------------------------------------------
    def _step_now(self):
        """(issue cycle, Step) of the instruction executing now, from any hook or MMIO callback
        (the C path's code hook saw its address last; the reference path's is in `_current`)."""
        if self._native is not None:
            return self._native.current_step(self._native.lib.fp_pc())
        step = self._current
        return (self.pipeline.time, None) if step is None else (step.t, step)

    def issue_cycle(self) -> int:
        """Issue cycle of the instruction executing now."""
        return self._step_now()[0]

    def read_cycle(self) -> int:
        """The cycle the load executing now reads a peripheral register in: its issue cycle
        after any wait in decode for its address register (M4-LS-AGU; CMEmu-HW `str`: after
        `adds.n r1, r7; adds.n r1, r7`, `ldr.w r3, [r0, r1]` reads CYCCNT one cycle later and
        CPICNT one higher than after no `adds.n`)."""
        t, step = self._step_now()
        return t if step is None else t + step.agu

    def on_run(self) -> None:
        """The machine starts (or resumes) running."""
        self._stop_pc = None
        if self._native is not None:
            self._native._final = None
            self._native.lib.fp_resume()
            self._native.lib.fp_catch_sigint(1)  # Ctrl-C reaches the C block hook

    def on_run_end(self) -> None:
        """The machine stopped running (Ctrl-C goes back to Python's handler)."""
        if self._native is not None and self._native.lib.fp_catch_sigint(0):
            self.machine.interrupted = True

    def on_stop(self) -> None:
        """The machine is being stopped from a hook: observers see the block in progress now
        (the C path otherwise reports a block when the next one starts)."""
        self._stop_pc = self.uc.reg_read(U.UC_ARM_REG_PC) & ~1
        if self._native is not None and self._observers:
            self._step_now()

    def next_issue_cycle(self) -> int:
        """Issue cycle of the next instruction, for a write by the current one. Writes that reach
        the cycle counters go to the PPB (Device memory, M4-LS-WB): their cost does not depend
        on the next instruction, so it is exact here."""
        t, step = self._step_now()
        if step is None:
            return t
        return t + base_cost(step.ins) + step.extra

    def _actlr_written(self, value: int) -> None:
        """M4-LS-WB: ACTLR.DISDEFWBUF switches the write buffer (stores issued from now on)."""
        off = bool(value & ACTLR_DISDEFWBUF)
        self.memory.write_buffer_off = off
        if self._native is not None:
            self._native.lib.fp_set_write_buffer_off(int(off))

    def _count_events(self, on: bool) -> None:
        """Reference path: count CPI, LSU, FOLD events from now on (or stop: no counter
        counts, so their values do not depend on the events until one is enabled again)."""
        self.pipeline.tally = self.events if on else None

    def profile_events(self, after: bool) -> tuple[int, int, int]:
        """Running (CPI, LSU, FOLD) totals at the issue of the instruction executing now (the
        instructions before it are settled, M4-ACC-1), or with `after` at the next one's: its
        own counts added, from its cost as if nothing followed (a PPB store's, as for
        next_issue_cycle)."""
        if self._native is not None:
            totals = self._native.events_so_far(self._native.lib.fp_pc())
        else:
            totals = tuple(self.events)
        if not after:
            return totals
        _t, step = self._step_now()
        if step is None:
            return totals
        own = self.pipeline.events_if_last(step)
        return (totals[0] + own.cpi, totals[1] + own.lsu, totals[2] + own.fold)

    # -- shared: issuing one instruction with its run-time facts ------------------------------
    def _skip_failed(self, address: int) -> None:
        """Issue the IT-covered instructions Unicorn skipped before `address` (M4-IT-SKIP).

        Unicorn does not call hooks for an IT-block instruction whose condition fails, so the
        next hooked address tells which covered instructions were skipped.
        """
        pending = self._it_conds
        while pending and pending[0][0] != address:
            skipped, _cond = pending.pop(0)
            ins = self.decode(skipped)
            self.pipeline.issue(ins, False, None, 0, True)
            self.instructions += 1

    def _issue(self, ins: Instr) -> bool:
        """Issue the instruction at the PC with its run-time facts; False when it traps
        instead (a fault taken before it executes: NOCP, UNALIGNED, DIVBYZERO)."""
        uc = self.uc
        if self._it_conds:
            self._skip_failed(ins.address)
        in_it = bool(self._it_conds)
        executed = True
        if in_it:
            _address, cond = self._it_conds.pop(0)
            executed = condition_passed(cond, uc.reg_read(U.UC_ARM_REG_CPSR))
        address = None
        div = 0
        if executed:
            if self.core.arch != "v7em" and lacks(self.core, ins):
                return self._trap(native_mod.TRAP_UNDEFINED, ins.address, 0)
            mem = ins.mem
            if mem is not None:
                if mem.base == PC:
                    address = ((ins.address + 4) & ~3) + mem.disp
                    if ins.klass == D.TB:
                        address = ins.address + 4
                else:
                    address = uc.reg_read(_UC_REGS[mem.base]) + mem.disp
                if mem.index >= 0:
                    offset = uc.reg_read(_UC_REGS[mem.index]) << mem.shift
                    address += -offset if mem.subtract else offset
                if ins.descending:
                    address -= 4 * ins.nregs
                address &= 0xFFFFFFFF
            elif ins.klass == D.DIV:
                n = uc.reg_read(_UC_REGS[ins.div_regs[0]])
                m = uc.reg_read(_UC_REGS[ins.div_regs[1]])
                div = sdiv_cycles(n, m) if ins.signed else udiv_cycles(n, m)
                if m == 0 and self._traps[2]:
                    return self._trap(native_mod.TRAP_DIVBYZERO, ins.address, 0)
            if ins.fp and not self._traps[0]:
                return self._trap(native_mod.TRAP_NOCP, ins.address, 0)
            if address is not None and address & (ins.align | self._align_trp & ins.align_trp):
                return self._trap(native_mod.TRAP_UNALIGNED, ins.address, address)
        pipeline = self.pipeline
        t = pipeline.issue(ins, executed, address, div, in_it)
        self._current = pipeline.pending
        if ins.klass == D.IT:
            self._it_conds = self._covered(ins)
        if self._new_block is not None:
            self._notify(t)
        return True

    def _covered(self, it: Instr) -> list[tuple[int, int]]:
        """(address, condition) of the instructions an IT covers."""
        covered = []
        a = it.address + it.size
        for cond in it.it_conds:
            covered.append((a, cond))
            a += self.decode(a).size
        return covered

    def _next_sizes(self, ins: Instr) -> tuple[int, int]:
        """Widths of the two instructions after `ins` in fall-through order (M4-BR-NT)."""
        found = self._next_size_cache.get(ins.address)
        if found is None:
            a = ins.address + ins.size
            first = thumb_width(bytes(self.uc.mem_read(a, 2)))
            if always_writes_pc(self.decode(a)):
                second = first  # nothing after a branch is fetched for execution next
            else:
                second = thumb_width(bytes(self.uc.mem_read(a + first, 2)))
            found = self._next_size_cache[ins.address] = (first, second)
        return found

    def _limit(self, address: int) -> None:
        where = self.machine.image.function_name(address)
        if self.machine.interrupted:  # Ctrl-C: stop before this block
            self.machine.stop(Stop(error=Interrupted(address, where)))
            return
        self.machine.stop(Stop(error=LimitReached(self.max_instructions, address, where)))

    # -- reference path ----------------------------------------------------------------------
    def _on_block_reference(self, _uc: object, address: int, size: int, _data: object) -> None:
        if self._it_conds:
            self._skip_failed(address)
        count = self._block_lengths.get((address, size))
        if count is None:
            count = self._block_lengths[(address, size)] = len(self._instrs(address, size))
        if self.machine.interrupted or self.instructions + count > self.max_instructions:
            self._limit(address)
            return
        self._new_block = address

    def _on_code_reference(self, _uc: object, address: int, _size: int, _data: object) -> None:
        if self.machine._stop is not None or self.machine.interrupting:
            return  # stopped by the instruction limit: Unicorn may still enter the block
        if self._deadline != X.NEVER:
            if self._it_conds:
                self._skip_failed(address)
            end = self.pipeline.total_if_finished()
            if not self._it_conds and self.boundary(end, address):
                return  # an exception comes in before this instruction
        ins = self.decode(address)
        if ins.id in UNDEFINED_IDS:
            return  # Unicorn raises UNDEFINSTR next, before it executes (Fault.timing "before")
        if ins.sets_mask and self.nvic.pending:
            self._deadline = 0  # a mask may open: look again after this instruction
        if self._issue(ins):
            self.instructions += 1  # after: observers of a block see the count before it

    # -- exceptions (shared/timing/cortex-m4.md section 7) ------------------------------------
    def _masks(self) -> tuple[int, int]:
        return self.uc.reg_read(U.UC_ARM_REG_PRIMASK), self.uc.reg_read(U.UC_ARM_REG_BASEPRI)

    def _set_deadline(self, deadline: int) -> None:
        self._deadline = deadline
        if self._native is not None:
            rearm = deadline == X.NEVER and bool(self.nvic.pending)
            self._native.lib.fp_set_deadline(min(deadline, X.NEVER), int(rearm))

    def _exceptions_changed(self) -> None:
        """An NVIC, SCB or SysTick write: look for a due exception from the next boundary."""
        self._set_deadline(0)

    def boundary(self, end: int, address: int) -> bool:
        """At the boundary before the instruction at `address`, the previous one ending at cycle
        `end`: take an exception there when one is due (M4-EXC-POINT); True when taking it."""
        number = self.nvic.choose(end, *self._masks())
        if number is None:
            self._set_deadline(self.nvic.deadline(end, *self._masks()))
            return False
        self.machine.interrupt(lambda: self._enter(address, address))
        return True

    def on_svc(self, next_address: int) -> None:
        """SVC executed: it enters its handler like an interrupt (section 7)."""
        self.nvic.pend(X.SVC, 0)
        self.machine.interrupt(lambda: self._enter(next_address, None))

    def on_exception_return(self, exc_return: int) -> None:
        """A branch to an EXC_RETURN value."""
        self.machine.interrupt(lambda: self._return(exc_return))

    def _timing_at_stop(self, stop_before: int | None) -> Pipeline:
        """The sequencer with every instruction executed so far issued (the C path settles the
        block in progress: all of it, or up to `stop_before`)."""
        if self._native is not None:
            return self._native.settle(stop_before)
        return self.pipeline

    def _timing_resumes(self) -> None:
        if self._native is not None:
            self._native.resume_from_pipeline()

    def on_wfi(self, next_address: int) -> None:
        """§2.8 WFI/WFE (Unicorn halts after it): the core sleeps until an exception that could
        preempt (were PRIMASK clear) pends, then takes it if the masks allow."""
        pipeline = self._timing_at_stop(None)
        end = pipeline.total_if_finished()
        primask, basepri = self._masks()
        wake = self.nvic.deadline(end, 0, basepri)
        if wake >= X.NEVER:
            where = next_address if pipeline.pending is None else pipeline.pending.ins.address
            raise self.machine.fault("WFI with no interrupt that can wake the core", where)
        pipeline.wake_at(wake)
        self.machine.peripherals.slept(pipeline.time - end)  # SLEEPCNT's events too
        if self.nvic.choose(pipeline.time, primask, basepri) is None:
            self._exception_done(pipeline)  # woken, masked: go on after the WFI
        else:
            self._take(pipeline, next_address)

    def _enter(self, return_address: int, stop_before: int | None) -> None:
        """An exception comes in after the instructions executed so far."""
        self._take(self._timing_at_stop(stop_before), return_address)

    def _take(
        self,
        pipeline: Pipeline,
        return_address: int,
        number: int | None = None,
        extra: int = 0,
        fault: X.Fault | None = None,
    ) -> None:
        """M4-EXC-ENTRY (+ M4-EXC-LATE, M4-EXC-WS): stack, vector, handler's first issue; a
        fault gives its `number` and `extra` cycles before the entry (Fault.timing)."""
        end = pipeline.total_if_finished()
        primask, basepri = self._masks()
        if number is None:
            # A higher-priority exception arriving during the entry is the one taken
            # (M4-EXC-LATE).
            number = self.nvic.choose(end + EXCEPTION_ENTRY, primask, basepri)
        if number is None:  # SVC that cannot preempt: escalates to HardFault (FORCED)
            fault = X.Fault(
                "SVC cannot preempt (masked, or an equal or higher priority handler runs)",
                X.HARDFAULT,
                X.HFSR_FORCED,
                return_address - 2,
                timing="after",
            )
            number = self._fault_number(fault)
            self.nvic.pending.pop(X.SVC, None)
            self.nvic.record_fault(fault, number)
        if self.uc.reg_read(U.UC_ARM_REG_CONTROL) & X.CONTROL_FPCA:
            # The handler would clobber the FP registers the hardware stacks (lazily); timing
            # and results would both be wrong, so say so instead.
            raise self.machine.fault(
                "exception with an active FP context: FP context stacking (M4-EXC-ENTRY-FP) "
                "is not modelled",
                return_address - 2 if number == X.SVC else return_address,
            )
        nested = bool(self.nvic.active)
        try:
            exc_return = X.push_frame(self.uc, return_address, number, nested)
        except UcError:  # the stack is not in writable memory: the core would lock up
            sp = self.uc.reg_read(U.UC_ARM_REG_SP)
            note = f"; stacking its exception frame at SP 0x{sp:08x} failed (lockup)"
            if fault is not None:
                raise self.machine.fault_error(fault, suffix=note) from None
            raise self.machine.fault(f"exception {number}{note[1:]}", return_address) from None
        handler, waits = self._vector(number)
        waits += self.memory.write_wait(self.uc.reg_read(U.UC_ARM_REG_SP), X.FRAME_WORDS)
        self.nvic.activate(number)
        self.uc.reg_write(U.UC_ARM_REG_LR, exc_return)
        self.uc.reg_write(U.UC_ARM_REG_PC, handler | 1)
        pipeline.enter_exception(extra + EXCEPTION_ENTRY + waits)
        self.machine.peripherals.exception_cycles += extra + EXCEPTION_ENTRY + waits  # EXCCNT
        self._exception_done(pipeline, ("entry", end, handler))

    def _vector(self, number: int) -> tuple[int, int]:
        """Handler address of an exception and the wait states of reading it (M4-EXC-WS)."""
        address = self.nvic.registers[X.VTOR] + 4 * number
        try:
            handler = self.machine.read_word(address)
        except UcError as exc:  # an unmapped vector table
            raise self.machine.fault(f"no vector for exception {number}", address) from exc
        if not handler & 1:
            raise self.machine.fault(f"bad vector 0x{handler:08x} for exception {number}", address)
        return handler & ~1, self.memory.read_wait(address, 4, 1)

    def _return(self, exc_return: int) -> None:
        """M4-EXC-EXIT, or M4-EXC-TAIL when another exception is due at the return."""
        pipeline = self._timing_at_stop(None)
        ret = pipeline.pending
        if ret is None or not self.nvic.active:
            where = exc_return & ~1 if ret is None else ret.ins.address
            raise self.machine.fault(
                f"exception return (branch to 0x{exc_return:08x}) outside a handler", where
            )
        self.nvic.complete()
        t_exit = pipeline.time + exception_return_cycles(ret.ins, tail_chain=False)
        number = self.nvic.choose(t_exit, *self._masks())
        if number is None:
            try:
                resume = X.pop_frame(self.uc, exc_return)
            except CmsimError as exc:  # an EXC_RETURN value cmsim does not model
                raise self.machine.fault(str(exc), ret.ins.address) from None
            except UcError:  # the frame is not in readable memory
                sp = self.uc.reg_read(U.UC_ARM_REG_SP)
                raise self.machine.fault(
                    f"exception return: unstacking the frame at SP 0x{sp:08x} failed (lockup)",
                    ret.ins.address,
                ) from None
            self.uc.reg_write(U.UC_ARM_REG_PC, resume | 1)
            cycles = exception_return_cycles(ret.ins, tail_chain=False)
            pipeline.return_from_exception(cycles)
            # EXCCNT: the return instruction's own first cycle is not overhead (M4-DWT-2)
            self.machine.peripherals.exception_cycles += cycles - 1
            self._exception_done(pipeline, ("return", pipeline.time, resume))
            return
        handler, waits = self._vector(number)
        self.nvic.activate(number)
        xpsr = self.uc.reg_read(U.UC_ARM_REG_XPSR)
        self.uc.reg_write(U.UC_ARM_REG_XPSR, (xpsr & ~0x1FF) | number)
        self.uc.reg_write(U.UC_ARM_REG_LR, exc_return)
        self.uc.reg_write(U.UC_ARM_REG_PC, handler | 1)
        cycles = exception_return_cycles(ret.ins, tail_chain=True) + waits
        pipeline.return_from_exception(cycles)
        self.machine.peripherals.exception_cycles += cycles - 1  # as for a return
        chained = pipeline.time
        self._exception_done(pipeline, ("return", chained, handler), ("entry", chained, handler))

    def _exception_done(self, pipeline: Pipeline, *events: tuple) -> None:
        """Timing resumes after an entry or return; observers see its events."""
        self._current = None  # the clock reads the next issue cycle until one issues
        self._timing_resumes()
        self._set_deadline(self.nvic.deadline(pipeline.time, *self._masks()))
        count = self.instructions
        for event in events:
            self.exceptions_taken += event[0] == "entry"
            for fn in self._exception_observers:
                fn(*event, count)

    # -- faults (ARMv7-M B1.5.14; the entry is M4-EXC-ENTRY, see Fault.timing) ---------------
    def _traps_changed(self) -> None:
        """CPACR or CCR was written: which instructions fault from now on."""
        nvic = self.nvic
        ccr = nvic.registers[X.CCR]
        self._traps = (
            nvic.fpu_enabled,
            bool(ccr & X.CCR_UNALIGN_TRP),
            bool(ccr & X.CCR_DIV_0_TRP),
        )
        self._align_trp = 0xFF if self._traps[1] else 0  # selects Instr.align_trp's bits
        if self._native is not None:
            self._native.lib.fp_set_traps(*(int(t) for t in self._traps))

    def _trap(self, code: int, pc: int, access: int) -> bool:
        """A fault found before the instruction at `pc` executes (both paths): take it."""
        fault = self.trap_fault(code, pc, access)
        self.machine.interrupt(lambda: self.on_fault(fault))
        return False

    def trap_fault(self, code: int, pc: int, access: int) -> X.Fault:
        """The Fault of a trap (native.TRAP_*) at `pc`."""
        ins = self.decode(pc)
        if code == native_mod.TRAP_NOCP:
            return X.Fault(
                f"no coprocessor: FPU instruction '{ins.text}' with the FPU off "
                "(CPACR.CP10/CP11 = 0)",
                X.USAGEFAULT,
                X.NOCP,
                pc,
            )
        if code == native_mod.TRAP_UNDEFINED:
            return self._lacking_fault(ins)
        if code == native_mod.TRAP_UNALIGNED:
            why = "" if access & ins.align else " with CCR.UNALIGN_TRP set"
            return X.Fault(
                f"unaligned access: '{ins.text}'{why}", X.USAGEFAULT, X.UNALIGNED, pc, access
            )
        return X.Fault(
            f"division by zero: '{ins.text}' with CCR.DIV_0_TRP set",
            X.USAGEFAULT,
            X.DIVBYZERO,
            pc,
        )

    def _lacking_fault(self, ins: Instr) -> X.Fault:
        """An instruction the board's core does not have: UNDEFINSTR, or NOCP for an FP
        instruction on a core without an FPU (ARMv7-M B1.5.14), taken before it executes."""
        core = self.core.name
        if ins.fp:
            kind = f"no coprocessor: FPU instruction '{ins.text}' on a {core} without an FPU"
            return X.Fault(kind, X.USAGEFAULT, X.NOCP, ins.address)
        kind = f"undefined instruction: '{ins.text}' is not in the {core}'s instruction set"
        return X.Fault(kind, X.USAGEFAULT, X.UNDEFINSTR, ins.address)

    def on_fault(self, fault: X.Fault) -> None:
        """Take a fault (a machine action: the emulation is stopped) through the vector table:
        its own handler, or HardFault when it is disabled or cannot preempt (escalation).
        When the firmware has no handler worth running (see _fault_handler), or the core
        would lock up, the run ends with a FirmwareFault that names the fault."""
        pipeline = self._timing_at_fault(fault)
        number = self._fault_number(fault)
        self.nvic.record_fault(fault, number)
        extra = 1 if fault.timing == "before" else 0  # the abandoned instruction's cycle
        self._take(pipeline, fault.pc, number=number, extra=extra, fault=fault)

    def _fault_number(self, fault: X.Fault) -> int:
        """The exception that takes `fault`; FirmwareFault on lockup or without a handler."""
        primask = self.uc.reg_read(U.UC_ARM_REG_PRIMASK)
        faultmask = self.uc.reg_read(U.UC_ARM_REG_FAULTMASK)
        number = self.nvic.fault_target(fault, primask, faultmask)
        if number is None:
            where = "with FAULTMASK set" if faultmask & 1 else "in a HardFault or NMI handler"
            raise self.machine.fault_error(fault, prefix=f"lockup ({where}): ")
        if self._fault_handler(number) is None:
            raise self.machine.fault_error(fault)
        return number

    def _fault_handler(self, number: int) -> int | None:
        """The handler of exception `number`, or None when the firmware has none worth running:
        no vector, one that is not Thumb code, the startup's catch-all `Default_Handler`, or a
        handler that only branches to itself (`b .`). Running those would lose the fault's
        name for an endless loop or an "unexpected exception"."""
        try:
            vector = self.machine.read_word(self.nvic.registers[X.VTOR] + 4 * number)
            code = bytes(self.uc.mem_read(vector & ~1, 4))
        except UcError:
            return None
        handler = vector & ~1
        region = self.machine.board.region_at(handler, 2)
        if not vector & 1 or region is None or not region.exec or region.kind == "ppb":
            return None
        if self.machine.image.function_name(handler) == DEFAULT_HANDLER:
            return None
        if code[:2] == SPIN_NARROW or code == SPIN_WIDE:
            return None
        return handler

    def _timing_at_fault(self, fault: X.Fault) -> Pipeline:
        """The sequencer with the instructions before the fault issued: up to the faulting
        one ("before"), with it ("after"), or all so far ("fetch")."""
        if self._native is not None:
            try:
                if fault.timing == "before":
                    return self._native.settle(fault.pc)
                if fault.timing == "after":
                    return self._native.settle(None, stop_after=fault.pc)
                return self._native.settle(None)
            except InsideItBlock:
                raise self.machine.fault_error(
                    fault, suffix=" inside an IT block (not modelled)"
                ) from None
        if self._it_conds:
            raise self.machine.fault_error(fault, suffix=" inside an IT block (not modelled)")
        return self.pipeline

    # -- fast path: translation time ----------------------------------------------------
    def _register_dynamic(self, instrs: list[Instr]) -> list[tuple[int, int, bool]]:
        """Translation time of one block: the dynamic instructions among `instrs` (and those
        an IT in it covers, with their condition) that are not known yet, as (address,
        condition, True), and the FPU instructions that are not dynamic, as (address, 0, False)
        (C only checks their NOCP trap). Decoded from the memory as it is when the block first
        runs, so code the firmware copies or writes at run time gets the same treatment as the
        ELF's."""
        found = self._dynamic
        new: list[tuple[int, int, bool]] = []
        for ins in instrs:
            if ins.address not in found:
                if ins.klass in DYNAMIC_CLASSES or ins.sets_mask:
                    found[ins.address] = 0
                    new.append((ins.address, 0, True))
                elif (ins.fp or lacks(self.core, ins)) and ins.address not in self._fp_registered:
                    self._fp_registered.add(ins.address)
                    new.append((ins.address, 0, False))
            if ins.klass == D.IT:
                for address, cond in self._covered(ins):
                    if found.get(address) != cond:
                        found[address] = cond
                        new.append((address, cond, True))
        return new

    def _instrs(self, address: int, size: int) -> list[Instr]:
        instrs = []
        a = address
        while a < address + size:
            ins = self.decode(a)
            instrs.append(ins)
            a += ins.size
        return instrs

    def reset_memory(self) -> None:
        """Empty the flash caches and forget the fetched and prefetched lines, as after a reset
        (spec §9.3), between two runs: the next run's memory timing no longer depends on what
        ran before it. Cycle and instruction counts go on."""
        if self._native is not None:
            self._native.settle(None)  # C hands its caches and fetch state to Python first
        self.memory.forget()
        if self._native is not None:
            self._native.resume_from_pipeline()  # and takes the emptied ones back

    # -- run ---------------------------------------------------------------------------------
    def run(self, entry: int | None = None) -> RunResult:
        """Reset and run the firmware to its exit (from `entry` instead of the reset vector
        when given); errors (faults, limits) propagate."""
        self.machine.reset()
        self._set_deadline(X.NEVER)
        with self.machine.catching_interrupts():  # until the results are complete
            if self._native is not None:
                return self._native.run(entry)
            try:
                exit_code = self.machine.run(start=entry)
            finally:
                self.pipeline.finish()
                for fn in self._finish_observers:
                    fn(self.cycles)
        return self.result(exit_code)

    def result(self, exit_code: int) -> RunResult:
        """The finished run's counts (both engine paths end with it)."""
        return RunResult(
            exit_code=exit_code,
            instructions=self.instructions,
            cycles=self.cycles,
            host_seconds=self.machine.host_seconds,
            output=bytes(self.machine.semihost.output),
            clock_hz=self.machine.board.clock_hz,
            exceptions=self.exceptions_taken,
        )
