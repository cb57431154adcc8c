"""The memory timing model (spec §9): per-region wait states, flash prefetch, ART I/D caches.

Configured entirely from the board profile's regions. The model is stateful (caches, the
instruction stream's current flash line, the prefetched line) and must see accesses and
fetches in program order; both engine paths feed it the same sequence.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from cmsim.board import Board, Region

PAGE_SHIFT = 12  # board regions are 4 KiB aligned (board.py checks it)
PPB_BLOCK = "ppb"
FETCH_AHEAD_WORDS = 2  # words the fetch unit runs ahead of the issuing instruction (below)


@dataclass(frozen=True)
class Place:
    """Where an address lives, as the timing rules need it."""

    region: Region | None
    block: str  # M4-MEM-BLOCK pipelining domain
    canonical_base: int  # region base (aliases fold onto it, so cache lines match)


TOUCH, QUERY = 0, 1  # cache operations as logged for the C fast path


class LruLines:
    """A set of cache lines with LRU replacement (spec §9.1: ART caches, LRU [I]).

    When `log` is a list, every operation is appended to it as (ident, TOUCH or QUERY, line,
    hit): the C fast path replays these on its own copy of the cache (native/fastpath.c)."""

    def __init__(self, capacity: int, ident: int = 0):
        self.capacity = capacity
        self.ident = ident
        self.log: list[tuple[int, int, int, bool]] | None = None
        self._lines: OrderedDict[int, None] = OrderedDict()

    def __contains__(self, line: int) -> bool:
        hit = line in self._lines
        if self.log is not None:
            self.log.append((self.ident, QUERY, line, hit))
        return hit

    def touch(self, line: int) -> bool:
        """Use `line`; True on a hit. A miss fills the line, evicting the least recent."""
        hit = line in self._lines
        if self.log is not None:
            self.log.append((self.ident, TOUCH, line, hit))
        if hit:
            self._lines.move_to_end(line)
            return True
        self._lines[line] = None
        if len(self._lines) > self.capacity:
            self._lines.popitem(last=False)
        return False

    @property
    def lines(self) -> tuple[int, ...]:
        """The cached lines, least recently used first."""
        return tuple(self._lines)

    @lines.setter
    def lines(self, lines) -> None:
        self._lines = OrderedDict.fromkeys(lines)


class MemoryModel:
    """Wait states for data accesses and instruction fetch on one board."""

    def __init__(self, board: Board):
        self.board = board
        self._places: dict[int, Place] = {}
        self._dcache: dict[str, LruLines] = {}
        self._icache: dict[str, LruLines] = {}
        # Every cache, in a fixed order (its index is its ident).
        self.caches: list[LruLines] = []
        for region in board.regions:
            for lines, table in (
                (region.icache_lines, self._icache),
                (region.dcache_lines, self._dcache),
            ):
                if lines > 0:
                    table[region.name] = LruLines(lines, len(self.caches))
                    self.caches.append(table[region.name])
        # Instruction-side state of M4-MEM-FETCH: current line, prefetched line and its ready time,
        # and when the core's fetch unit asked for the next line's first word (None: not yet).
        self.cur_line: int | None = None
        self.pf_line: int | None = None
        self.pf_ready = 0
        self.next_request: int | None = None
        self.has_slow_fetch = any(r.fetch_ws > 0 or r.fetch_word_cycles > 1 for r in board.regions)
        # The word stream of a slow-fetch region (M4-MEM-BUS): the next word the fetch unit
        # reads, when the last one read arrives, the end of the last instruction issued, the
        # bus the stream comes over and the cycles data accesses took from it since.
        self.word_next: int | None = None
        self.word_ready = 0
        self.stream_bus = ""
        self.held = 0
        self._max_fetch_ws = max(
            (max(r.fetch_ws, r.fetch_word_cycles) for r in board.regions), default=0
        )

    def place(self, address: int) -> Place:
        """Region and block of an address (cached per 4 KiB page)."""
        page = address >> PAGE_SHIFT
        found = self._places.get(page)
        if found is None:
            region = self.board.region_at(address)
            if region is None:
                found = Place(None, "unmapped", 0)
            else:
                found = Place(region, region.block, region.base)
            self._places[page] = found
        return found

    def _canonical(self, place: Place, address: int) -> int:
        region = place.region
        assert region is not None
        for start in (region.base, *region.aliases):
            if start <= address < start + region.size:
                return region.base + (address - start)
        return address

    # -- data side (M4-MEM-DATA) ---------------------------------------------------------------
    def read_wait(self, address: int, nbytes: int, beats: int) -> int:
        """Wait states of a load-class access of `beats` bus beats covering `nbytes` bytes."""
        place = self.place(address)
        region = place.region
        if region is None or region.read_ws == 0:
            return 0
        cache = self._dcache.get(region.name)
        if cache is None:
            return region.read_ws * beats  # every beat waits (no data-side line buffer [I])
        first = self._canonical(place, address)
        line_bytes = region.line_bytes
        wait = 0
        for line in range(first // line_bytes, (first + nbytes - 1) // line_bytes + 1):
            if not cache.touch(line):
                wait += region.read_ws  # a miss reads the line once, then it is cached
        return wait

    def write_wait(self, address: int, beats: int) -> int:
        """Store wait states when the store's transfer is on the critical path."""
        region = self.place(address).region
        return 0 if region is None else region.write_ws * beats

    def is_device(self, address: int) -> bool:
        region = self.place(address).region
        return region is not None and region.device

    # -- state snapshots (the C fast path memoises blocks by the state they start from; it
    # keeps the caches itself) ------------------------------------------------------------
    def fetch_snapshot(self, now: int) -> tuple:
        """The instruction-side state without the caches (fetch line, prefetched line, time to
        its arrival and to the next line's request relative to `now`). Times before `now`
        are clamped: M4-MEM-FETCH only compares them with later issue cycles."""
        # A read that started W + 1 or more cycles before `now` is as good as any earlier one.
        horizon = -self._max_fetch_ws - 1
        ready = max(horizon, self.pf_ready - now) if self.pf_line is not None else 0
        request = self.next_request
        if request is not None:
            request = max(request - now, horizon)
        words = None
        if self.word_next is not None:
            words = (
                self.word_next,
                max(self.word_ready - now, horizon),
                self.stream_bus,
                self.held,
            )
        return (self.cur_line, self.pf_line, ready, request, words)

    def restore_fetch(self, snapshot: tuple, now: int) -> None:
        """Return to a `fetch_snapshot` state (the caches are left alone)."""
        self.cur_line, self.pf_line, ready, request, words = snapshot
        self.pf_ready = now + ready
        self.next_request = None if request is None else now + request
        if words is None:
            self.word_next = None
        else:
            self.word_next, ready, self.stream_bus, self.held = words
            self.word_ready = now + ready

    def data_line(self, address: int) -> int | None:
        """The first cache line a data access at `address` touches (None outside D-caches)."""
        place = self.place(address)
        region = place.region
        if region is None or region.read_ws == 0 or region.name not in self._dcache:
            return None
        return self._canonical(place, address) // region.line_bytes

    def log_to(self, log: list | None) -> None:
        """Log every cache operation to `log` (None: stop logging)."""
        for cache in self.caches:
            cache.log = log

    # -- instruction side (M4-MEM-FETCH, spec §9.3) ------------------------------------------------
    def data_access(self, address: int, beats: int) -> None:
        """M4-MEM-BUS: a data access of `beats` beats; on the bus the code streams over, it
        holds the fetch up for as many cycles."""
        if self.word_next is None:
            return
        region = self.place(address).region
        if region is not None and region.bus and region.bus == self.stream_bus:
            self.held += beats

    def fetch_stall(self, address: int, size: int, t: int, restart: bool = False) -> int:
        """Cycles the instruction at `address` waits for its code when about to issue at t;
        `restart` after a taken branch, an ISB or an exception (the fetch starts afresh)."""
        place = self.place(address)
        region = place.region
        if region is not None and region.fetch_word_cycles > 1:
            self.cur_line = None
            self.pf_line = None
            self.next_request = None
            return self._word_stall(region, address, size, t, restart)
        self.word_next = None
        if region is None or region.fetch_ws == 0:
            self.cur_line = None  # leaving flash: coming back needs the line again
            self.pf_line = None
            self.next_request = None
            return 0
        line_bytes = region.line_bytes
        end = self._canonical(place, address + size - 1)
        line = end // line_bytes
        if line == self.cur_line:
            self._note_request(end, line_bytes, t)
            return 0
        wait = region.fetch_ws
        icache = self._icache.get(region.name)
        ready = t  # when the flash has delivered this line (and can read another)
        if icache is not None and line in icache:
            stall = 0
        elif region.prefetch and self.pf_line == line:
            stall = max(0, self.pf_ready - t)
            ready = self.pf_ready
        else:
            stall = wait  # demand read of the line
            ready = t + stall
        t += stall
        # When the fetch unit took this line: its request, recorded while the previous line
        # ran, when it follows in sequence; at its first instruction after a branch.
        sequential = self.cur_line is not None and line == self.cur_line + 1
        taken = self.next_request if sequential and self.next_request is not None else t
        self.cur_line = line
        self.next_request = None
        if icache is not None:
            icache.touch(line)
        if region.prefetch and not (icache is not None and line + 1 in icache):
            # M4-MEM-FETCH (issue 13): the next line's read starts once the fetch unit has
            # taken this line out of the prefetch buffer and the flash has delivered it.
            self.pf_line, self.pf_ready = line + 1, max(ready, taken) + wait + 1
        self._note_request(end, line_bytes, t)
        return stall

    def _note_request(self, end: int, line_bytes: int, t: int) -> None:
        """The core's fetch queue runs FETCH_AHEAD_WORDS words ahead of the instruction issuing
        at t (spec §1.1): once that reaches the next line, the fetch unit asks for it."""
        if self.next_request is None:
            next_base = (self.cur_line + 1) * line_bytes
            if end + 1 + 4 * FETCH_AHEAD_WORDS > next_base:
                self.next_request = t

    def _word_stall(self, region: Region, address: int, size: int, t: int, restart: bool) -> int:
        """M4-MEM-BUS, a region that delivers one 32-bit word per F = `fetch_word_cycles`
        cycles (CC2652 SRAM: F = 2, CMEmu-HW `mul`: n x mul.w cost 2n). The fetch unit reads the
        words in sequence, one per F cycles, held up by data accesses on the same bus; an
        instruction issues no earlier than its last word arrives. After a taken branch, an ISB
        or an exception the stream restarts at the target: the refill takes F cycles for the
        request and F per word the target needs (1, or 2 for a 32-bit target at 2 mod 4), where
        the core's own rules charge 1 each (M4-BR-1, M4-BR-F1): (F - 1)(words + 1) more
        (CMEmu-HW `b_seq`: `b.n` from SRAM costs 4, or 6 to an unaligned 32-bit target)."""
        f = region.fetch_word_cycles
        last = (address + size - 1) & ~3
        first = address & ~3
        fresh = self.word_next is None or first > self.word_next or self.stream_bus != region.bus
        if restart or fresh:
            words = (last - first) // 4 + 1
            self.word_next = last + 4
            self.word_ready = t + (f - 1) * (words + 1)
            self.stream_bus = region.bus
            self.held = 0
            return self.word_ready - t
        while self.word_next <= last:
            self.word_ready += f + self.held
            self.held = 0
            self.word_next += 4
        return max(0, self.word_ready - t)
