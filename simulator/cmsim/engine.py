"""Runs a machine and times it with the Cortex-M4 timing model and the board's memory model.

Every path feeds the same rule sequencer (`timing.cortex_m4.Pipeline`) the same instruction
stream with the same run-time facts, so they give identical cycle counts (tests check it on
every firmware):

- **reference**: a Python code hook on every instruction (UC_HOOK_CODE) reads what each
  instruction needs at run time (IT condition, access address, divide operands) and issues it.
- **fast** (native/fastpath.c, built with the host's C compiler): a C block hook and C code
  hooks on the *dynamic* instructions (memory accesses, divides, IT blocks, BKPT/SVC/WFI, found
  by a sweep of the ELF's code at start-up) record each block execution's facts. A block's
  timing is memoised in C by (block, sequencer + memory-model state it starts from, facts): a hit
  adds the cycles without running Python; a miss calls back into Python, which issues the
  block's instructions through the Pipeline once and returns cycles and exit state. Static
  effects (base costs, pairing inside the block, IT folding, branch classes) are thereby
  computed once per block and entry state; dynamic ones (taken edges, divide operands, failed IT
  instructions, address-dependent block/alignment/wait states, caches) enter through the facts
  and the state.

Without a C compiler (or with `native=False`) the fast path falls back to the reference hooks.

The machine's clock protocol (`issue_cycle`, `next_issue_cycle`) serves DWT CYCCNT, SysTick and
region markers with the model's cycles (M4-DWT-1); `issue_cycle()` gives the issue cycle of the
instruction at the PC from any hook that sees a synced PC.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from capstone import arm_const as A
from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE, UcError
from unicorn import arm_const as U

from cmsim import decode as D
from cmsim import exceptions as X
from cmsim import native as native_mod
from cmsim.decode import PC, Decoder, Instr, thumb_width
from cmsim.errors import CmsimError, Interrupted, LimitReached
from cmsim.machine import Machine, Stop
from cmsim.memory import MemoryModel
from cmsim.peripherals import ACTLR_DISDEFWBUF
from cmsim.timing.cortex_m4 import (
    EXCEPTION_ENTRY,
    Pipeline,
    always_writes_pc,
    base_cost,
    exception_return_cycles,
    max_cycles,
    sdiv_cycles,
    udiv_cycles,
)
from cmsim.timing.dwt_counters import count_events

DEFAULT_MAX_INSTRUCTIONS = 2_000_000_000
DEFAULT_HANDLER = "Default_Handler"  # the startup's catch-all (CMSIS and firmware/common)
# Capstone ids of instructions that fault as undefined (0: Capstone could not decode it)
UNDEFINED_IDS = frozenset({0, A.ARM_INS_UDF})
SPIN_NARROW, SPIN_WIDE = b"\xfe\xe7", b"\xff\xf7\xfe\xbf"  # b . (16- and 32-bit)
PATHS = ("fast", "reference")

_UC_REGS = [getattr(U, f"UC_ARM_REG_R{i}") for i in range(13)] + [
    U.UC_ARM_REG_SP,
    U.UC_ARM_REG_LR,
    U.UC_ARM_REG_PC,
]

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


class InsideItBlock(CmsimError):
    """An exception or fault would be taken inside an IT block (not modelled)."""

    exit_code = 134


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
        self.pipeline = Pipeline(self.memory, self._next_sizes)
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
        own = count_events(step.ins.memory, self.pipeline.parts_if_last(step))
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
                elif ins.fp and ins.address not in self._fp_registered:
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
        return RunResult(
            exit_code=exit_code,
            instructions=self.instructions,
            cycles=self.cycles,
            host_seconds=self.machine.host_seconds,
            output=bytes(self.machine.semihost.output),
            clock_hz=self.machine.board.clock_hz,
            exceptions=self.exceptions_taken,
        )


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
            int(ins.fp) | ins.align << 8 | ins.align_trp << 16,
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

    def run(self, entry: int | None) -> RunResult:
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
        return RunResult(
            exit_code=exit_code,
            instructions=engine.instructions,
            cycles=engine.cycles,
            host_seconds=engine.machine.host_seconds,
            output=bytes(engine.machine.semihost.output),
            clock_hz=engine.machine.board.clock_hz,
            exceptions=engine.exceptions_taken,
        )


def _merge_ranges(addresses: list[int], gap: int = 4, limit: int = 512) -> list[tuple[int, int]]:
    """Group addresses into at most `limit` [begin, end] ranges for UC_HOOK_CODE, joining the
    closest neighbours first (each hook is checked on every hooked instruction)."""
    if not addresses:
        return []
    ranges = [[addresses[0], addresses[0]]]
    for a in addresses[1:]:
        if a - ranges[-1][1] <= gap:
            ranges[-1][1] = a
        else:
            ranges.append([a, a])
    while len(ranges) > limit:
        gaps = sorted(range(len(ranges) - 1), key=lambda k: ranges[k + 1][0] - ranges[k][1])
        drop = set(gaps[: len(ranges) - limit])
        merged: list[list[int]] = []
        for k, r in enumerate(ranges):
            if merged and (k - 1) in drop:
                merged[-1][1] = r[1]
            else:
                merged.append(list(r))
        ranges = merged
    return [(begin, end + 3) for begin, end in ranges]
