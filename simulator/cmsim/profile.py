"""Per-function cycle profiles from the engine's stream of (block address, cycle) events.

Every cycle of a run is attributed to exactly one function: the interval between two block
events belongs to the function whose code the earlier block is (M4-ACC-1 charges an
instruction's cost, including what its successor adds, to that instruction). So the sum of
exclusive cycles is the run's total, by construction.

Calls and returns are tracked on a shadow stack by decoding the instruction that ends each block
(Capstone, once per block start):

- a taken BL/BLX is a call; the frame remembers its return address (the BL's fall-through);
- a taken BX, POP {..., pc}, LDR pc, LDM {..., pc} or other PC write is a *return* when its
  target equals a return address recorded on the stack; every frame above that one ends there
  (this also unwinds tail-call chains). When no return address matches but the target lies
  in a function further down the stack (a return with an adjusted LR, a longjmp), the frames
  above that function's newest frame end;
- a direct branch (or any non-call transfer) into another function is a *tail call*: the target
  gets a frame nested in the function that jumped (that is what the source said: `return g(x)`)
  and shares its return address, so one return ends both. If the target is already in the
  current tail-call chain, the chain unwinds to it instead, which keeps code that jumps back
  and forth between labelled functions from growing the stack;
- exception entry and return: `Profiler.exception_entry` pushes a frame whose return address
  is the interrupted instruction; the handler's exception return (an indirect branch to that
  address) ends it like any return. The machine does not raise exceptions yet; the engine
  will call it when it does.

Inclusive cycles count only the outermost activation of a function (and of a caller -> callee
edge), so recursion is not counted twice. Named regions come from firmware markers
(firmware/common/cmsim_marker.h) served by the machine.

The hot path is one Python call per block: a dict lookup on the (previous block, this block)
edge and a counter increment; stack work happens only on edges that call, return or leave
the function. Exclusive cycles, instructions and collapsed stacks are settled lazily when the
top of the stack changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs
from capstone import arm_const as arm
from unicorn import UcError

from cmsim.decode import Instr
from cmsim.engine import Engine, QuietEdges, RunResult
from cmsim.errors import CmsimError
from cmsim.image import Function, Image
from cmsim.timing.cortex_m4 import Part, Step

UNKNOWN = "[unknown]"  # code outside every function symbol

# How the instruction that ends a block transfers control.
_CALL, _DIRECT, _TABLE, _RETURN_LIKE, _OTHER, _NONE = range(6)
# What an edge (previous block -> this block) does to the shadow stack.
_SAME, _PUSH, _RETURN, _JUMP, _ROOT = range(5)

_CALL_IDS = {arm.ARM_INS_BL, arm.ARM_INS_BLX}
_DIRECT_IDS = {arm.ARM_INS_B, arm.ARM_INS_CBZ, arm.ARM_INS_CBNZ}
_TABLE_IDS = {arm.ARM_INS_TBB, arm.ARM_INS_TBH}
# Instructions after which Unicorn ends a block without writing the PC (exceptions, hints).
_STOP_IDS = {arm.ARM_INS_BKPT, arm.ARM_INS_SVC, arm.ARM_INS_UDF, arm.ARM_INS_WFI, arm.ARM_INS_WFE}
# Mnemonics of direct branches and calls (B<cond> included), as Capstone prints them.
_DIRECT_BRANCH = re.compile(
    r"^(bl|blx|cbn?z|b(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)?)"
    r"(\.w|\.n)?$"
)
_READ_CHUNK = 64
_MAX_RUN = 4096  # instructions: a run longer than this is data or a runaway decode


# -- public results ------------------------------------------------------------------------


@dataclass
class FunctionStats:
    """One function's share of a run."""

    name: str
    start: int | None  # None for [unknown]
    calls: int = 0
    exclusive_cycles: int = 0
    inclusive_cycles: int = 0
    instructions: int = 0  # executed in the function's own code
    inclusive_instructions: int = 0
    sized: bool = True  # False: an ELF symbol without .size, extent inferred (see Function)

    @property
    def label(self) -> str:
        """The name as tables show it: hand-written assembly without .size says so."""
        return self.name if self.sized else f"{self.name} (no .size)"


@dataclass
class EdgeStats:
    """Calls from one function to another: count and the callee's inclusive cycles there."""

    caller: str
    callee: str
    calls: int = 0
    tail_calls: int = 0  # how many of `calls` were tail calls (a branch, not a BL)
    cycles: int = 0
    instructions: int = 0


@dataclass
class RegionStats:
    """A named region marked by the firmware (cmsim_region_begin/end)."""

    name: str
    count: int = 0
    cycles: int = 0  # outermost activations only, as for functions


class CallEvent(NamedTuple):
    """One finished activation (function call or region), for traces."""

    name: str
    start: int  # cycle
    end: int  # cycle
    depth: int  # 0 for the root frame
    kind: str  # "root", "call", "tail", "jump", "exception" or "region"


@dataclass
class Profile:
    """Per-function cycles of one run, the call graph, regions and (optionally) call events."""

    total_cycles: int
    total_instructions: int
    clock_hz: int
    functions: list[FunctionStats]  # sorted by exclusive cycles, largest first
    edges: list[EdgeStats]  # sorted by cycles, largest first
    regions: list[RegionStats]
    stacks: dict[tuple[str, ...], int]  # collapsed call stacks (root first) -> exclusive cycles
    events: list[CallEvent] = field(default_factory=list)  # when recorded; by start cycle
    unmatched_region_ends: int = 0

    def function(self, name: str) -> FunctionStats:
        """The stats of a function by name; KeyError when it never ran."""
        for stats in self.functions:
            if stats.name == name:
                return stats
        raise KeyError(name)

    def edge(self, caller: str, callee: str) -> EdgeStats:
        """The stats of caller -> callee; KeyError when that call never happened."""
        for stats in self.edges:
            if stats.caller == caller and stats.callee == callee:
                return stats
        raise KeyError((caller, callee))

    def callers(self, name: str) -> list[EdgeStats]:
        return [e for e in self.edges if e.callee == name]

    def callees(self, name: str) -> list[EdgeStats]:
        return [e for e in self.edges if e.caller == name]


# -- block decoding ------------------------------------------------------------------------


class _Func:
    """A function's running totals while the profile is collected."""

    __slots__ = (
        "name",
        "start",
        "calls",
        "exclusive",
        "inclusive",
        "instructions",
        "inclusive_instructions",
        "active",
        "sized",
    )

    def __init__(self, name: str, start: int | None, sized: bool = True):
        self.name = name
        self.start = start
        self.sized = sized
        self.calls = 0
        self.exclusive = 0
        self.inclusive = 0
        self.instructions = 0
        self.inclusive_instructions = 0
        self.active = 0  # frames of this function on the stack (for recursion)


class _Edge:
    __slots__ = ("calls", "tail_calls", "cycles", "instructions", "active")

    def __init__(self) -> None:
        self.calls = 0
        self.tail_calls = 0
        self.cycles = 0
        self.instructions = 0
        self.active = 0


class _Run:
    """The straight-line instructions from a block start to the first control transfer."""

    __slots__ = ("start", "addresses", "fallthrough", "kind", "target", "func", "successors")

    def __init__(
        self,
        start: int,
        addresses: tuple[int, ...],
        fallthrough: int,
        kind: int,
        target: int | None,
        func: _Func,
    ):
        self.start = start
        self.addresses = addresses
        self.fallthrough = fallthrough  # address after the last instruction
        self.kind = kind
        self.target = target  # of a direct branch or call
        self.func = func
        self.successors: dict[int, list] = {}  # next block address -> edge record


class _Node:
    """A node of the call-stack trie: one collapsed stack and its exclusive cycles."""

    __slots__ = ("name", "parent", "children", "cycles")

    def __init__(self, name: str, parent: _Node | None):
        self.name = name
        self.parent = parent
        self.children: dict[str, _Node] = {}
        self.cycles = 0

    def child(self, name: str) -> _Node:
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = _Node(name, self)
        return node


# A frame on the shadow stack is a plain tuple (cheap to build):
# (func, return_address, start cycle, start instructions, edge stats or None, kind,
#  the trie node to restore when it ends, depth)
_F_FUNC, _F_RETURN, _F_START, _F_INSTR, _F_EDGE, _F_KIND, _F_NODE, _F_DEPTH = range(8)
_TAIL_KINDS = ("tail", "jump")


def _transfer_kind(insn) -> int:
    """Classify how an instruction ends a block (or _NONE when it does not)."""
    ident = insn.id
    if ident in _CALL_IDS:
        return _CALL
    if ident in _DIRECT_IDS:
        return _DIRECT
    if ident in _TABLE_IDS:
        return _TABLE
    if ident == arm.ARM_INS_BX:
        return _RETURN_LIKE
    if ident in _STOP_IDS:
        return _OTHER
    _read, written = insn.regs_access()
    if arm.ARM_REG_PC in written:  # POP {pc}, LDR pc, LDM {pc}, MOV pc, ADD pc...
        return _RETURN_LIKE
    return _NONE


class Profiler:
    """Collects a Profile from an engine's block events; attach it before `engine.run()`.

    >>> profiler = Profiler.attach(engine)
    >>> result = engine.run()
    >>> profile = profiler.finish(result)
    """

    def __init__(
        self,
        image: Image,
        read_code: Callable[[int, int], bytes],
        clock_hz: int,
        record_events: bool = False,
        min_event_cycles: int = 0,
    ):
        """`read_code(address, size)` reads the machine's memory (code may run from SRAM).

        With `record_events`, every activation lasting at least `min_event_cycles` is kept
        as a CallEvent for traces (regions are always kept when recording).
        """
        self.image = image
        self.read_code = read_code
        self.clock_hz = clock_hz
        self.record_events = record_events
        self.min_event_cycles = min_event_cycles
        self._cs = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
        self._cs.detail = True
        self._funcs: dict[int, _Func] = {}  # by start address
        self._unknown = _Func(UNKNOWN, None)
        names_seen: dict[str, int] = {}
        for function in image.functions:
            names_seen[function.name] = names_seen.get(function.name, 0) + 1
        for function in image.functions:
            name = function.name
            if names_seen[name] > 1:  # two static functions with one name: say which
                name = f"{name}@0x{function.start:08x}"
            self._funcs[function.start] = _Func(name, function.start, function.sized)
        self._edges: dict[tuple[_Func, _Func], _Edge] = {}
        self._runs: dict[int, _Run] = {}
        self._start_run = _Run(-1, (), -1, _OTHER, None, self._unknown)  # before the first block
        self._run = self._start_run
        self._successors = self._start_run.successors
        self._instructions = 0  # executed before the current block
        self._stack: list[tuple] = []  # frames, see _F_*
        self._since = 0  # cycle since which the top frame has been running
        self._root_node = _Node("", None)
        self._node = self._root_node  # the collapsed stack now running
        self._regions: list[tuple[str, int, int]] = []  # open regions: name, start, stack depth
        self._region_stats: dict[str, RegionStats] = {}
        self._unmatched_ends = 0
        self._events: list[CallEvent] = []
        self._pending_executed: int | None = None  # of the interrupted run (exception_entry)
        # Where the engine can skip the events of edges that leave the stack alone (attach).
        self._quiet_edges: QuietEdges | None = None

    @classmethod
    def attach(
        cls, engine: Engine, record_events: bool = False, min_event_cycles: int = 0
    ) -> Profiler:
        """A profiler observing `engine`'s blocks and its machine's region markers."""
        machine = engine.machine
        profiler = cls(
            machine.image,
            lambda address, size: bytes(machine.uc.mem_read(address, size)),
            machine.board.clock_hz,
            record_events=record_events,
            min_event_cycles=min_event_cycles,
        )
        quiet = engine.add_block_observer(profiler.on_block, on_skipped=profiler.on_skipped)
        if quiet.enabled:
            profiler._quiet_edges = quiet
        engine.add_exception_observer(profiler.on_exception)
        machine.add_marker_listener(profiler.on_marker)
        return profiler

    # -- decoding ----------------------------------------------------------------------------
    def _func_at(self, address: int) -> _Func:
        function = self.image.function_at(address)
        return self._funcs[function.start] if function else self._unknown

    def _read(self, address: int, size: int) -> bytes:
        """Up to `size` bytes; fewer where the memory map ends."""
        while size >= 2:
            try:
                return self.read_code(address, size)
            except UcError:
                size //= 2
        return b""

    def _decode_run(self, start: int) -> _Run:
        addresses: list[int] = []
        kind = _NONE
        target = None
        address = start
        while kind == _NONE and len(addresses) < _MAX_RUN:
            code = self._read(address, _READ_CHUNK)
            decoded_any = False
            for insn in self._cs.disasm(code, address):
                decoded_any = True
                addresses.append(insn.address)
                address = insn.address + insn.size
                kind = _transfer_kind(insn)
                if kind != _NONE:
                    operand = insn.operands[-1] if insn.operands else None
                    if kind in (_CALL, _DIRECT) and operand.type == arm.ARM_OP_IMM:
                        target = operand.imm
                    break
            if not decoded_any:  # undecodable: Unicorn faults there, the run ends
                break
        run = _Run(start, tuple(addresses), address, kind, target, self._func_at(start))
        self._runs[start] = run
        return run

    def _run_at(self, address: int) -> _Run:
        return self._runs.get(address) or self._decode_run(address)

    # -- events --------------------------------------------------------------------------------
    def on_block(self, address: int, cycle: int) -> None:
        """Block observer: the block at `address` starts executing at `cycle`."""
        edge = self._successors.get(address)
        if edge is None:
            edge = self._new_edge(address)
        edge[0] += 1
        self._instructions += edge[1]
        run = edge[2]
        self._run = run
        self._successors = run.successors
        action = edge[3]
        if action:  # not _SAME
            if action == _PUSH:
                self._call(edge, cycle)
            elif action == _RETURN:
                self._return(address, cycle)
            elif action == _JUMP:
                self._jump(address, cycle)
            else:
                self._push(run.func, None, cycle, "root", None)

    def on_skipped(self, last_block: int, instructions: int) -> None:
        """The engine skipped the events of quiet edges (declared in _new_edge), ending at the
        block at `last_block`: what on_block would have done for them, in one step. Quiet
        edges stay in one function and change no frame, so only instructions accrue."""
        run = self._runs[last_block]
        run.func.instructions += instructions  # finish() adds what counted edges ran
        self._instructions += instructions
        self._run = run
        self._successors = run.successors

    def _new_edge(self, address: int) -> list:
        """Classify the edge from the current run to the block at `address`, once.

        An edge record is [times taken, instructions the previous run executed, next run,
        action] plus, for calls, [return address, callee, caller -> callee stats].
        """
        prev = self._run
        nxt = self._run_at(address)
        executed, self._pending_executed = self._pending_executed, None
        if prev is self._start_run:
            return [0, 0, nxt, _ROOT]  # not cached: it happens once
        if executed is not None:  # exception entry: the frame is pushed already
            prev.func.instructions += executed  # finish() tallies cached edges only
            return [0, executed, nxt, _SAME]  # not cached either
        same = _SAME if nxt.func is prev.func else _JUMP
        if (
            prev.start < address < prev.fallthrough
            and address in prev.addresses
            and address != prev.target
        ):
            # Unicorn ended the block early (page boundary, system instruction): straight line.
            edge = [0, prev.addresses.index(address), nxt, same]
        elif address == prev.fallthrough and not (prev.kind == _CALL and address == prev.target):
            # A not-taken branch or BL (in an IT block), BKPT; but a BL at a function's end
            # may call the function that follows it.
            edge = [0, len(prev.addresses), nxt, same]
        elif prev.kind == _CALL:
            # The caller is the function of the calling code, which is the top frame's.
            pair = (prev.func, nxt.func)
            stats = self._edges.get(pair)
            if stats is None:
                stats = self._edges[pair] = _Edge()
            edge = [0, len(prev.addresses), nxt, _PUSH, prev.fallthrough, nxt.func, stats]
        elif prev.kind == _RETURN_LIKE:
            edge = [0, len(prev.addresses), nxt, _RETURN]  # decided on the stack each time
        else:
            edge = [0, len(prev.addresses), nxt, same]
        prev.successors[address] = edge
        if edge[3] == _SAME and edge[1] and self._quiet_edges is not None:
            self._quiet_edges.add(prev.start, address, edge[1])
        return edge

    # -- the stack -----------------------------------------------------------------------------
    def _flush(self, cycle: int) -> None:
        """Charge the cycles since the last stack change to the top frame and its stack."""
        elapsed = cycle - self._since
        self._stack[-1][_F_FUNC].exclusive += elapsed
        self._node.cycles += elapsed
        self._since = cycle

    def _call(self, edge: list, cycle: int) -> None:
        """A BL/BLX was taken (the hot path of _push, with the edge stats cached)."""
        self._flush(cycle)
        func = edge[5]
        stats = edge[6]
        stats.calls += 1
        stats.active += 1
        func.calls += 1
        func.active += 1
        node = self._node
        self._node = node.child(func.name)
        stack = self._stack
        stack.append((func, edge[4], cycle, self._instructions, stats, "call", node, len(stack)))

    def _push(
        self, func: _Func, return_address: int | None, cycle: int, kind: str, parent: tuple | None
    ) -> None:
        if self._stack:
            self._flush(cycle)
        else:
            self._since = cycle
        stats = None
        if parent is not None:
            pair = (parent[_F_FUNC], func)
            stats = self._edges.get(pair)
            if stats is None:
                stats = self._edges[pair] = _Edge()
            stats.calls += 1
            stats.tail_calls += kind in _TAIL_KINDS
            stats.active += 1
        func.calls += 1
        func.active += 1
        node = self._node
        self._node = node.child(func.name)
        stack = self._stack
        stack.append(
            (func, return_address, cycle, self._instructions, stats, kind, node, len(stack))
        )

    def _return(self, address: int, cycle: int) -> None:
        """An indirect branch: a return when `address` is a recorded return address."""
        stack = self._stack
        index = len(stack) - 1
        while index >= 0 and stack[index][_F_RETURN] != address:
            index -= 1
        if index < 0:
            # No recorded return address (LR adjusted, longjmp): a return into a function
            # that is on the stack ends the frames above its newest frame.
            func = self._run.func
            index = len(stack) - 2
            while index >= 0 and stack[index][_F_FUNC] is not func:
                index -= 1
            if index < 0 or stack[-1][_F_FUNC] is func:
                self._jump(address, cycle)
                return
            self._flush(cycle)
            while len(stack) > index + 1:
                self._pop(cycle)
            return
        while stack[index][_F_KIND] in _TAIL_KINDS:  # a tail-call chain ends with its base
            index -= 1
        self._flush(cycle)
        while len(stack) > index:
            self._pop(cycle)
        if stack[-1][_F_FUNC] is not self._run.func:  # returned into another function's code
            self._jump(address, cycle)

    def _jump(self, address: int, cycle: int) -> None:
        """A non-call transfer into another function: a tail call, or back along the chain."""
        func = self._run.func
        stack = self._stack
        top = stack[-1]
        if func is top[_F_FUNC]:
            return
        # The tail chain: the top frames that share the top's return address.
        index = len(stack) - 1
        while index >= 0 and stack[index][_F_RETURN] == top[_F_RETURN]:
            if stack[index][_F_FUNC] is func:
                # Back to a function of the chain: end the frames above it. Entering it at
                # its start again counts as a call (mutual tail recursion).
                self._flush(cycle)
                while len(stack) > index + 1:
                    self._pop(cycle)
                func.calls += address == func.start
                return
            if stack[index][_F_KIND] not in _TAIL_KINDS:
                break
            index -= 1
        kind = "tail" if func.start == address else "jump"
        self._push(func, top[_F_RETURN], cycle, kind, top)

    def _pop(self, cycle: int) -> None:
        """End the top frame at `cycle` (after a flush)."""
        frame = self._stack.pop()
        func = frame[_F_FUNC]
        start = frame[_F_START]
        func.active -= 1
        if not func.active:  # outermost activation: recursion counts once
            func.inclusive += cycle - start
            func.inclusive_instructions += self._instructions - frame[_F_INSTR]
        stats = frame[_F_EDGE]
        if stats is not None:
            stats.active -= 1
            if not stats.active:
                stats.cycles += cycle - start
                stats.instructions += self._instructions - frame[_F_INSTR]
        if self.record_events and cycle - start >= self.min_event_cycles:
            self._events.append((func.name, start, cycle, frame[_F_DEPTH], frame[_F_KIND]))
        self._node = frame[_F_NODE]
        if self._regions and self._regions[-1][2] > len(self._stack):
            self._node = self._node_for_stack()  # a region outlived the frame that opened it

    def _node_for_stack(self) -> _Node:
        """The trie node of the current frames with open regions inserted where they opened."""
        path = [frame[_F_FUNC].name for frame in self._stack]
        frames = len(path)
        for offset, (name, _start, depth) in enumerate(self._regions):
            path.insert(min(depth, frames) + offset, f"[{name}]")
        node = self._root_node
        for name in path:
            node = node.child(name)
        return node

    # -- markers and exceptions ----------------------------------------------------------------
    def on_marker(self, name: str | None, cycle: int) -> None:
        """Region marker from the machine: a name begins a region, None ends the innermost."""
        if not self._stack:
            return
        self._flush(cycle)
        if name is not None:
            self._regions.append((name, cycle, len(self._stack)))
            self._node = self._node.child(f"[{name}]")
            return
        if not self._regions:
            self._unmatched_ends += 1
            return
        self._end_region(cycle)
        self._node = self._node_for_stack()

    def _end_region(self, cycle: int) -> None:
        name, start, _depth = self._regions.pop()
        stats = self._region_stats.get(name)
        if stats is None:
            stats = self._region_stats[name] = RegionStats(name)
        stats.count += 1
        if all(open_name != name for open_name, _s, _d in self._regions):
            stats.cycles += cycle - start
        if self.record_events:
            self._events.append((name, start, cycle, len(self._regions), "region"))

    def on_exception(self, kind: str, cycle: int, address: int, instructions: int) -> None:
        """Exception observer (Engine.add_exception_observer): entry or return."""
        if self._quiet_edges is not None:
            self._quiet_edges.sync()  # catch up on skipped blocks; report the next one
        if kind == "entry":
            self.exception_entry(cycle, address, instructions)
        else:
            self.exception_exit(cycle)

    def exception_entry(self, cycle: int, handler: int, instructions: int) -> None:
        """The core takes an exception at `cycle` (entry overhead is charged to the handler)
        after executing `instructions` in all; the next block event is the handler's first.
        The interrupted block may have run partly (exceptions come between instructions)."""
        self._push(self._func_at(handler), None, cycle, "exception", self._stack[-1])
        self._pending_executed = instructions - self._instructions
        self._successors = {}  # the next edge is classified once, by _new_edge

    def exception_exit(self, cycle: int) -> None:
        """The innermost handler returns; the next context starts at `cycle` (exit overhead
        is charged to the handler)."""
        stack = self._stack
        index = len(stack) - 1
        while index >= 0 and stack[index][_F_KIND] != "exception":
            index -= 1
        if index < 0:
            return
        self._flush(cycle)
        while len(stack) > index:
            self._pop(cycle)

    # -- the result ----------------------------------------------------------------------------
    def finish(self, result: RunResult | int) -> Profile:
        """Close every open frame and region at the run's end and return the Profile."""
        total = result.cycles if isinstance(result, RunResult) else result
        if not self._stack:
            return Profile(total, 0, self.clock_hz, [], [], [], {})
        last_run = self._run
        self._instructions += len(last_run.addresses)  # the last block ran to its end
        self._flush(total)
        while self._regions:
            self._end_region(total)
        while self._stack:
            self._pop(total)
        for run in self._runs.values():
            for edge in run.successors.values():
                run.func.instructions += edge[0] * edge[1]
        last_run.func.instructions += len(last_run.addresses)
        funcs = [*self._funcs.values(), self._unknown]
        functions = [
            FunctionStats(
                f.name,
                f.start,
                f.calls,
                f.exclusive,
                f.inclusive,
                f.instructions,
                f.inclusive_instructions,
                f.sized,
            )
            for f in funcs
            if f.calls or f.exclusive or f.instructions
        ]
        functions.sort(key=lambda s: (-s.exclusive_cycles, s.name))
        edges = [
            EdgeStats(caller.name, callee.name, e.calls, e.tail_calls, e.cycles, e.instructions)
            for (caller, callee), e in self._edges.items()
            if e.calls
        ]
        edges.sort(key=lambda s: (-s.cycles, s.caller, s.callee))
        regions = sorted(self._region_stats.values(), key=lambda r: (-r.cycles, r.name))
        events = sorted(
            map(CallEvent._make, self._events), key=lambda e: (e.start, -e.end, e.depth)
        )
        return Profile(
            total,
            self._instructions,
            self.clock_hz,
            functions,
            edges,
            regions,
            _collapsed(self._root_node),
            events,
            self._unmatched_ends,
        )


def _collapsed(root: _Node) -> dict[tuple[str, ...], int]:
    """Every trie node with cycles, as a root-first tuple of names."""
    stacks: dict[tuple[str, ...], int] = {}
    pending = [(root, ())]
    while pending:
        node, path = pending.pop()
        for name, child in node.children.items():
            child_path = (*path, name)
            if child.cycles:
                stacks[child_path] = child.cycles
            pending.append((child, child_path))
    return stacks


# -- per-instruction annotation ------------------------------------------------------------


@dataclass
class InstructionStats:
    """One instruction of an annotated function: how often it ran and what it cost.

    `cycles` is the sum over executions of (next instruction's issue cycle - this one's), the
    same accounting as the profile (M4-ACC-1). `reasons` breaks those cycles down by the rule
    that charged them (`timing.cortex_m4` reason strings such as "base" or
    "branch refill (M4-BR-1)"), summed over executions; savings are negative, and the values
    add up to `cycles`. A condition-failed instruction inside an IT block counts as an
    execution (it issues and costs its cycles, M4-IT-SKIP).
    """

    address: int
    size: int
    text: str
    count: int = 0
    cycles: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class Annotation:
    """A function's disassembly with per-instruction execution counts and cycles."""

    function: Function
    instructions: list[InstructionStats]
    total_cycles: int  # of the whole run
    region: str | None = None  # a named region's instructions instead of a function's

    @property
    def cycles(self) -> int:
        return sum(i.cycles for i in self.instructions)

    @property
    def executed(self) -> int:
        return sum(i.count for i in self.instructions)


def find_function(image: Image, name: str) -> Function:
    """The function called `name`; a one-line CmsimError (with near names) when absent."""
    for function in image.functions:
        if function.name == name:
            return function
    import difflib

    near = difflib.get_close_matches(name, [f.name for f in image.functions], n=3)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    raise CmsimError(f"{image.path.name}: no function {name!r}{hint}")


_RANGE = re.compile(r"^(0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)$")


def find_code(image: Image, spec: str) -> Function:
    """What `cmsim annotate` explains: a function by name, or an address range
    `0x08000400-0x08000480` (end exclusive; Thumb bits ignored)."""
    match = _RANGE.match(spec.strip())
    if match is None:
        return find_function(image, spec)
    start, end = (int(x, 16) & ~1 for x in match.groups())
    if not start < end <= 0xFFFFFFFF:
        raise CmsimError(f"bad address range {spec!r}: the start must be below the end")
    return Function(spec.strip(), start, end)


def _with_target_name(image: Image, mnemonic: str, text: str) -> str:
    """`bl #0x8000040` -> `bl #0x8000040 <dot>` (or <dot+0x12>) for direct branches."""
    if not _DIRECT_BRANCH.match(mnemonic) or "#0x" not in text:
        return text
    try:
        target = int(text.rsplit("#", 1)[1], 16)
    except ValueError:
        return text
    function = image.function_at(target)
    if function is None:
        return text
    offset = target - function.start
    return f"{text} <{function.name}{f'+0x{offset:x}' if offset else ''}>"


class Annotator:
    """Per-instruction counts, cycles and their reasons for one function (or address range).

    Attach before `engine.run()`: the annotator asks the pipeline to explain every instruction
    it settles and keeps those of the function. On the reference path that is every execution;
    on the fast path, a block's explanation is computed when Python times it (a memo miss) and
    memoised with its timing, C counts the hits, and the explanation counts once per hit (the
    same parts: they are a function of the memo key, as the cycles are).
    """

    def __init__(self, engine: Engine, function: Function | None, region: str | None = None):
        self.engine = engine
        self.region = region
        if region is not None:  # what runs inside the region, wherever it is
            function = Function(region, 0, 1 << 32)
        assert function is not None
        self.function = function
        self._stats: dict[int, InstructionStats] = {}
        if region is None:
            self._disassemble(function)
        engine.pipeline.explain = self._on_settle
        native = getattr(engine, "_native", None)
        if native is not None:
            native.explain_blocks(self._add, function.start, function.end)
        self._open: list[str] = []  # regions open now, innermost last
        if region is not None:
            self._inside = False
            if native is not None:
                native.set_explaining(False, at_marker=False)
            engine.machine.add_marker_listener(self._on_marker)

    def _on_marker(self, name: str | None, _cycle: int) -> None:
        """A region begins (name) or ends (None): explain while the region is open. On the fast
        path this switches at block granularity: the block holding the begin marker is in, the
        one holding the end marker is out."""
        if name is not None:
            self._open.append(name)
        elif self._open:
            self._open.pop()
        inside = self.region in self._open
        if inside != self._inside:
            self._inside = inside
            native = getattr(self.engine, "_native", None)
            if native is not None:
                native.set_explaining(inside)

    def _disassemble(self, function: Function) -> None:
        """Every instruction of the function, executed or not, from a static disassembly."""
        machine = self.engine.machine
        code = bytes(machine.uc.mem_read(function.start, function.end - function.start))
        cs = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
        address = function.start
        while address < function.end:
            # Decode as far as possible in one pass (Capstone follows IT blocks within a pass
            # and prints their conditions), then step over what does not decode.
            offset = address - function.start
            for insn_address, size, mnemonic, operands in cs.disasm_lite(code[offset:], address):
                text = _with_target_name(machine.image, mnemonic, f"{mnemonic} {operands}".strip())
                self._stats[insn_address] = InstructionStats(insn_address, size, text)
                address = insn_address + size
            if address < function.end:  # data (a literal pool) or padding
                offset = address - function.start
                half = code[offset : offset + 2][::-1].hex()
                self._stats[address] = InstructionStats(address, 2, f".short 0x{half}")
                address += 2

    def _on_settle(self, step: Step, cost: int, parts: list[Part]) -> None:
        """Pipeline explainer: one settled instruction, its cost and the parts of that cost."""
        if self.region is not None and not self._inside:
            return
        if self.function.start <= step.ins.address < self.function.end:
            self._add(step.ins, cost, parts, 1)

    def _add(self, ins: Instr, cost: int, parts: Iterable[Part], times: int) -> None:
        """`times` executions of `ins`, each costing `cost` in `parts`."""
        address = ins.address
        stats = self._stats.get(address)
        if stats is None:  # a region's, or decoded differently from the static disassembly
            text = ins.text
            if self.region is not None:
                text = f"{self.engine.machine.image.function_name(address) or '?'}: {text}"
            stats = self._stats[address] = InstructionStats(address, ins.size, text)
        stats.count += times
        stats.cycles += cost * times
        reasons = stats.reasons
        for reason, cycles in parts:
            reasons[reason] = reasons.get(reason, 0) + cycles * times

    def finish(self, result: RunResult | int) -> Annotation:
        """The annotation once the run has ended (the engine settled its last instruction)."""
        total = result.cycles if isinstance(result, RunResult) else result
        self.engine.pipeline.explain = None
        instructions = sorted(self._stats.values(), key=lambda s: s.address)
        return Annotation(self.function, instructions, total, self.region)
