"""The memory timing model (spec §9): per-region wait states, flash prefetch, ART I/D caches.

Configured entirely from the board profile's regions. The model is stateful (caches, the
instruction stream's current flash line, the prefetched line) and must see accesses and
fetches in program order; both engine paths feed it the same sequence.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from cmsim.board import Board, Region, bitband_target

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
        self._bitband = bool(board.bitband_windows())
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
        # M4-LS-WB: ACTLR.DISDEFWBUF, set by the firmware (the engine follows its writes).
        self.write_buffer_off = False
        # The word stream of a slow-fetch region (M4-MEM-BUS), None while fetching elsewhere.
        self.words: WordFetch | None = None
        self._max_fetch_ws = max(
            (max(r.fetch_ws, r.fetch_word_cycles) for r in board.regions), default=0
        )

    def forget(self) -> None:
        """Empty the caches and the instruction-side state (fetched, prefetched and requested
        lines, the word stream), as after a reset (spec §9.3)."""
        for cache in self.caches:
            cache.lines = ()
        self.cur_line = self.pf_line = self.next_request = None
        self.pf_ready = 0
        self.words = None

    def place(self, address: int) -> Place:
        """Region and block of an address (cached per 4 KiB page)."""
        page = address >> PAGE_SHIFT
        found = self._places.get(page)
        if found is None:
            target = bitband_target(address) if self._bitband else None
            # a bit-band alias access is an access to its target (same region and block)
            region = self.board.region_at(target[0] if target else address)
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

    def bitband(self, address: int) -> bool:
        """Is `address` in a bit-band alias window of this board (M4-MEM-BB)?"""
        return self._bitband and bitband_target(address) is not None

    def unbuffered(self, address: int) -> bool:
        """M4-LS-WB: a store to `address` is not buffered (Device memory, or the write buffer
        turned off by ACTLR.DISDEFWBUF)."""
        return self.write_buffer_off or self.is_device(address)

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
        words = None if self.words is None else self.words.snapshot(now)
        return (self.cur_line, self.pf_line, ready, request, words)

    def restore_fetch(self, snapshot: tuple, now: int) -> None:
        """Return to a `fetch_snapshot` state (the caches are left alone)."""
        self.cur_line, self.pf_line, ready, request, words = snapshot
        self.pf_ready = now + ready
        self.next_request = None if request is None else now + request
        if words is None:
            self.words = None
        else:
            region = next(r for r in self.board.regions if r.name == words[0])
            self.words = WordFetch.restore(words, now, region)

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
    def data_access(
        self,
        address: int,
        beats: int,
        t: int,
        hold: int = 0,
        after_agu: bool = False,
        loads_pc: bool = False,
    ) -> int:
        """M4-MEM-BUS: a data access of `beats` bus cycles from t (`hold` more while an
        unbuffered store's write completes; `after_agu` when its address phase followed an
        AGU stall; `loads_pc` for a load to the PC); on the bus the code streams over, it waits
        for a fetch read that took its cycle, then keeps instruction fetches off the bus
        meanwhile. Returns the cycles it waited."""
        if self._on_code_bus(address):
            return self.words.claim(t, beats, hold, after_agu, loads_pc)
        return 0

    def shares_registered_fetch(self, address: int) -> bool:
        """Does a data access to `address` share its bus with registered code reads?"""
        return self._on_code_bus(address) and self.words.REGISTERED

    def _on_code_bus(self, address: int) -> bool:
        """Is `address` on the named bus the word-by-word code stream is read over?"""
        if self.words is None:
            return False
        region = self.place(address).region
        return region is not None and bool(region.bus) and region.bus == self.words.bus

    def speculate(self, t: int) -> None:
        """M4-MEM-BUS: the not-taken decode-time conditional branch issuing at t read its
        target speculatively (see WordFetch.speculate)."""
        if self.words is not None:
            self.words.speculate(t)

    def code_arrived(self) -> int | None:
        """When the first word of the instruction `fetch_stall` last timed reached the fetch
        queue, from a word-by-word region (None: earlier, or not such a region)."""
        return None if self.words is None else self.words.arrived

    def code_ready(self) -> int | None:
        """When the last word of the instruction `fetch_stall` last timed reached the fetch
        queue, from a word-by-word region (None: not such a region)."""
        return None if self.words is None else self.words.ready

    def fetch_stall(
        self,
        address: int,
        size: int,
        t: int,
        restart: bool = False,
        decoded: bool = False,
        after_load: bool = False,
        branch: bool = False,
    ) -> int:
        """Cycles the instruction at `address` waits for its code when about to issue at t;
        `restart` after a taken branch, an ISB or an exception (the fetch starts afresh),
        `decoded` when that branch resolved in decode (M4-BR-1 decode-time branches),
        `after_load` when it follows a load, an unbuffered store or a divide, `branch` when the
        restart is a taken branch (see WordFetch.stall)."""
        place = self.place(address)
        region = place.region
        if region is not None and region.fetch_word_cycles > 1:
            self.cur_line = None
            self.pf_line = None
            self.next_request = None
            words = self.words
            if words is None or words.region != region.name:
                words = self.words = word_fetch(region)
                restart = True
            return words.stall(address, size, t, restart, decoded, after_load, branch)
        self.words = None
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


QUEUE_WORDS = 3  # the core's prefetch queue (spec §1.1; CMEMU fetch/piq.rs)
# M4-MEM-BUS, registered reads: an LDRD/LDM whose address phase came after an AGU stall and whose
# beat was denied for a code read leaves one idle cycle before its next beat (CMEmu-HW
# `ldr_ldm_ldmdb_ldrd_deps`, code and data in SRAM: `movs.n r6, r5; ldrd.w r4, r5, [r6, #8]!`
# costs 6, one more than a beat-by-beat wait gives; with no AGU stall, as in `adds.n r4, r2;
# ldrd.w r4, r5, [r6]`, a denied first beat costs only its own wait: 4)
DENIED_AFTER_AGU_GAP = 1
# M4-MEM-BUS, registered reads: a read starts this many cycles after the fetch unit asked for it
# (address, register, data; see RegisteredWordFetch)
ASK_LEAD = 2


class WordFetch:
    """M4-MEM-BUS: instruction fetch from a region that delivers one 32-bit word per F cycles
    (`fetch_word_cycles`; CC2652 SRAM: F = 2, CMEmu-HW `mul`: n x mul.w cost 2n).

    The fetch unit reads words in address order, one at a time: a read starts when the bus is
    free (the previous read done, no data access of the core on the same bus) and the queue
    has room (from the cycle the last instruction using the word QUEUE_WORDS back issues);
    the instruction needing the word issues when it arrives, F cycles later. After a taken
    branch (or an ISB, or an exception) the target's first read starts at the cycle the core's
    own rules imply less the words it needs (decode-time branches resolve in decode,
    execute-time ones a cycle later), or once the read under way then is done (CMEmu-HW
    `b_seq`, `bx_seq`: `b.n` costs 4 or 6, `bx.n` 6 or 8 from SRAM). Behind a line buffer, a
    decode-time branch held in decode with its code fetched (its predecessor took two cycles or
    more) has its target read a cycle sooner, and the sequential read that would start then is
    dropped (CMEmu-HW `b_seq` from flash: the first branch after `ldr.w r2, [CYCCNT]`).

    A read takes the bus for its first cycle. A data access of the core on the same bus that
    wants a read's bus cycle waits one; it holds the bus for its beats, one more when it is
    unbuffered (a store with the write buffer off waits for its write) or has several beats.
    Registered reads (`fetch_registered`) follow other rules: see RegisteredWordFetch.
    """

    REGISTERED = False
    LAG = 0  # a read's bus cycle, from the cycle it starts

    def __init__(self, region: Region):
        self.region = region.name
        self.f = region.fetch_word_cycles
        self.bus = region.bus
        # A line buffer (CC2652 VIMS): a read of a word outside the buffered line fills the
        # line (fetch_ws cycles), a word of the buffered line takes one cycle.
        self.line_bytes = region.line_bytes if region.line_buffer else 0
        self.fill = region.fetch_ws
        self.line: int | None = None
        self.next_word: int | None = None  # the next word to read
        self.origin = 0  # the first word of the stream (since the last restart)
        self.free = -(1 << 60)  # the bus is free of reads from this cycle
        self.arrival: dict[int, int] = {}  # words read and not yet taken, and when they arrive
        self.taken: dict[int, int] = {}  # recent words taken, and their last user's issue cycle
        # words whose last user issued straight after a load (see RegisteredWordFetch._room)
        self.after_load: set[int] = set()
        self.busy: list[tuple[int, int]] = []  # data accesses on the bus: [start, end)
        self.slots: set[int] = set()  # cycles in which a read holds the bus
        # when the first word of the instruction last asked for arrived (None: it was in the
        # queue already, read for an earlier instruction)
        self.arrived: int | None = None
        self.ready = -(1 << 60)  # when that instruction's last word arrived
        self.spec_end = -(1 << 60)  # when the last speculative read of a branch target ends
        self.early = False  # the last instruction waited in decode with its code fetched
        self.issued = -(1 << 60)  # when the last instruction issued

    def claim(
        self, t: int, beats: int, hold: int = 0, after_agu: bool = False, loads_pc: bool = False
    ) -> int:
        """A data access wanting the bus for `beats` cycles from t, then `hold` more while an
        unbuffered store's write completes: the reads that hold the bus up to t take their cycle
        first (the access waits for them); returns the wait. (`after_agu`, `loads_pc`: see
        RegisteredWordFetch.claim.)"""
        if hold or beats > 1:
            beats += 1
        self._read_until(t)
        start = t
        while start in self.slots:
            start += 1
        self.busy.append((start, start + beats))
        return start - t

    def _read_until(self, t: int, asked_by: int | None = None) -> None:
        """Start every read whose bus cycle comes by t (and, given `asked_by`, that starts by
        it)."""
        last = t - self.LAG
        self._read_starting_by(last if asked_by is None else min(last, asked_by))

    def _read_starting_by(self, limit: int) -> None:
        """Start every read that can start by `limit`."""
        while self.next_word is not None and self._read(self.next_word, limit):
            pass

    def _bus_free_start(self, t: int) -> int:
        """The first start at or after t whose bus cycle is free of data accesses."""
        return self._start(t + self.LAG) - self.LAG

    def _start(self, t: int) -> int:
        """First cycle >= t with the bus free of data accesses."""
        moved = True
        while moved:
            moved = False
            for start, end in self.busy:
                if start <= t < end:
                    t, moved = end, True
        return t

    def _read(self, word: int, limit: int | None = None) -> bool:
        """Read `word` next (unless it would start after `limit`); False when not read."""
        back = word - 4 * QUEUE_WORDS
        room = self.free  # the word that many back precedes the stream: room now
        if back >= self.origin:
            if back not in self.taken:
                return False  # the queue is full until an instruction takes that word
            room = self._room(back)
        start = self._bus_free_start(max(self.free, room))
        if limit is not None and start > limit:
            return False
        self.free = start + self._cost(word)
        self.slots.add(start + self.LAG)
        self.arrival[word] = self.free
        self.next_word = word + 4
        return True

    def _room(self, back: int) -> int:
        """When the queue has room for the word after `back` (taken)."""
        return self.taken[back]

    def _consumed(self, word: int, address: int, size: int) -> bool:
        """Is `word` done with once the instruction at `address` issues?"""
        return True

    def _restart_limit(self, limit: int) -> int:
        """The last cycle a read of the old stream may start in after a branch."""
        return limit

    def _asks_early(self, decoded: bool, after_load: bool, branch: bool) -> bool:
        """Did the branch just taken ask for its target a cycle sooner than its kind does? Behind
        a line buffer, a decode-time branch held in decode (its code fetched, its predecessor
        taking two cycles or more) does (CMEmu-HW b_seq from flash: one branch to the next line
        costs 5 in `times`, not 6)."""
        return bool(self.line_bytes) and decoded and self.early

    def _target_read(self, first: int, decoded: bool, after_load: bool) -> int | None:
        """After a branch (`decoded`: resolved in decode; `after_load`: a load to the PC): the
        arrival of the old stream's read that brings the target's first word, if the target
        may use it (None: read it anew)."""
        return None

    def _cost(self, word: int) -> int:
        """Cycles of one word read: F, or from a line buffer 1 (buffered line) or a fill."""
        if not self.line_bytes:
            return self.f
        line = word // self.line_bytes
        if line == self.line:
            return 1
        self.line = line
        return self.fill

    def stall(
        self,
        address: int,
        size: int,
        t: int,
        restart: bool,
        decoded: bool = False,
        after_load: bool = False,
        branch: bool = False,
    ) -> int:
        """Cycles the instruction at `address` waits for its words when about to issue at t;
        `decoded`: the restart is a branch resolved in decode; `after_load`: it follows a load,
        an unbuffered store or a divide that was executing until then; `branch`: the restart is
        a taken branch (not an ISB or an exception)."""
        first, last = address & ~3, (address + size - 1) & ~3
        if restart or self.next_word is None:
            words = (last - first) // 4 + 1
            resolve = t - words
            # reads of the old stream that started before the branch resolved still finish; a
            # line fill that would start as it resolves is dropped and leaves the buffered line
            # (CMEmu-HW b_seq, bx_seq from flash with the VIMS line buffer: a branch to a word
            # of the buffered line costs as from a 1-cycle memory). A branch held in decode may
            # ask for its target a cycle sooner (see _asks_early).
            if self._asks_early(decoded, after_load, branch):
                resolve -= 1
            self._read_starting_by(self._restart_limit(resolve - 1 if self.line_bytes else resolve))
            kept = self._target_read(first, decoded, after_load)
            self.free = max(self.free, resolve)
            self.arrival.clear()
            self.taken.clear()
            self.after_load.clear()
            self.next_word = self.origin = first
            if kept is not None:
                self.arrival[first] = kept
                self.next_word = first + 4
        while self.next_word <= last:
            if not self._read(self.next_word):
                break
        arrival = self.arrival.get(last)
        self.arrived = self.arrival.get(first)
        self.ready = -(1 << 60) if arrival is None else arrival
        stall = 0 if arrival is None else max(0, arrival - t)
        # held in decode: its code was there and its predecessor took two cycles or more
        self.early = (arrival is None or arrival < t) and t - self.issued >= 2
        self.issued = t + stall
        for word in range(first, last + 4, 4):
            if self._consumed(word, address, size):
                self.taken[word] = t + stall  # its queue slot frees when the last user issues
                if after_load and not stall:
                    self.after_load.add(word)
                else:
                    self.after_load.discard(word)
            self.arrival.pop(word, None)
        self._prune(t + stall)
        return stall

    def speculate(self, t: int) -> None:
        """A decode-time conditional branch issuing at t was not taken. While it was decoded the
        fetch unit started reading its target, in the cycle it issues or the next, when the bus
        was free then; the word is dropped, but the read keeps the bus its F cycles (CMEmu-HW
        misspredicted_branch_sequences from SRAM: 14 cycles over a not-taken `bne.n`, 12 over
        a taken `beq.n`; it_and_blx_bx_mov_pc_lr: a skipped `bxne.n lr` 2 more per block). A
        branch that sat in the queue while the read for the branch before it was under way
        makes no read of its own: its request is dropped when the branch leaves decode (two
        not-taken `bne.n` in one word: 14 cycles too; two `bne.w`: 16)."""
        if self.next_word is None or self.line_bytes:
            return  # (behind a line buffer the cost depends on the target's line: not modelled)
        if self.ready < self.spec_end >= t:
            return  # (a read for the branch before it is under way as it issues)
        self._read_starting_by(t - 1)
        start = self._bus_free_start(max(self.free, t))
        if start <= t + 1:
            self.free = self.spec_end = start + self.f
            self.slots.add(start + self.LAG)

    def _prune(self, now: int) -> None:
        low = (self.next_word or 0) - 4 * (QUEUE_WORDS + 2)
        self.taken = {w: c for w, c in self.taken.items() if w >= low}
        self.after_load = {w for w in self.after_load if w >= low}
        # reads start lazily, in cycles before `now` too, but never before `free`: the data
        # accesses they may still meet stay
        keep = min(now - 1, self.free + self.LAG)
        self.busy = [(s, e) for s, e in self.busy if e > keep]
        self.slots = {c for c in self.slots if c >= now - 1}

    # snapshots: every time relative to `now`, clamped where earlier values act alike
    def snapshot(self, now: int) -> tuple:
        slowest = max(self.f, self.fill if self.line_bytes else 0)
        horizon = now - (QUEUE_WORDS + 2) * slowest - 2  # earlier reads cannot matter any more

        def rel(c: int) -> int:
            return max(c, horizon) - now

        return (
            self.region,
            self.line,
            self.next_word,
            self.origin,
            rel(self.free),
            tuple(sorted((w, rel(c)) for w, c in self.arrival.items())),
            tuple(sorted((w, rel(c)) for w, c in self.taken.items())),
            tuple(sorted(self.after_load)),
            tuple(sorted((rel(s), rel(e)) for s, e in self.busy if e > horizon)),
            tuple(sorted(c - now for c in self.slots if c >= now - 1)),
            rel(self.ready),
            rel(self.spec_end),
            self.early,
            rel(self.issued),
        )

    @classmethod
    def restore(cls, state: tuple, now: int, region: Region) -> WordFetch:
        (_name, line, next_word, origin, free, arrival, taken, after_load, busy, slots, ready,
         spec, early, issued) = state
        words = word_fetch(region)
        words.line = line
        words.next_word = next_word
        words.origin = origin
        words.free = now + free
        words.arrival = {w: now + c for w, c in arrival}
        words.taken = {w: now + c for w, c in taken}
        words.after_load = set(after_load)
        words.busy = [(now + s, now + e) for s, e in busy]
        words.slots = {now + c for c in slots}
        words.ready = now + ready
        words.spec_end = now + spec
        words.early = early
        words.issued = now + issued
        return words


class RegisteredWordFetch(WordFetch):
    """M4-MEM-BUS with registered code reads (`fetch_registered`: the CC2652's SRAM, whose code
    reads cross the bus matrix's registration buffer onto the System bus), as CMEmu models the
    chip. Times below count from the cycle a read starts, as for WordFetch (the word arrives F
    cycles later); the fetch unit asked for it two cycles before (address, register, data).

    - Queue: 3 words, the decode register included. The fetch unit asks for a word once the
      word three back is done with, or a cycle sooner, while the instruction taking that word's
      last halfword is in decode and will issue next, unless a load, an unbuffered store or a
      divide is executing then (its last cycle is not known in advance). So a read may start
      one cycle after that last halfword's instruction issues, two when it issued straight
      after one of those. (CMEmu-HW `ldr_ldm_ldmdb_ldrd_deps`: `ldr.n; adds.n` runs cost 8, 8,
      11, 12, 15, 16; `umlal_mla_str_reg_agu_deps`: after a 5-cycle `udiv` and an `mla.w`, the
      next `ldr.n` meets the later read and costs 3.)
    - A read's bus cycle is the cycle before it starts (the register passes it on the cycle
      after the fetch unit asked).
    - A data access arbitrates each beat: a read that wants the same cycle goes first and the
      beat waits (CMEmu's System-bus arbiter favours instruction fetch), so a beat after the
      first can be held up too (CMEmu-HW `ldrd`: `ldrd.w` runs cost 4 each, one beat held).
    - An unbuffered store's write keeps the bus a cycle after its beat (`str`: `str.w` runs
      with the write buffer off cost 3 each).
    - After a branch, reads of the old stream that the fetch unit asked for before the branch
      left execute still happen (CMEmu-HW `ldr_pc`: `ldr.w pc` costs 8, not 10).
    - A multi-beat access whose address phase followed an AGU stall (M4-LS-AGU) and lost a beat
      to a read issues its next beat a cycle late (DENIED_AFTER_AGU_GAP).
    - An execute-time branch held in decode (its code fetched while its predecessor took two
      cycles or more) asks for its target in the cycle it issues, not the cycle after, and the
      read the fetch unit would have asked for then is not made (CMEmu-HW `bx_seq` #2/#14/#24:
      `bx.n` in the second halfword of an unaligned `ldr.w r2, [CYCCNT]`'s last word issues its
      target in SRAM 4 cycles later, not 6; after an `adds.n` instead, held no longer, 5).
    - Once a load to the PC has issued the fetch unit asks for no more words of the old
      stream, so only reads asked by its issue cycle take its beats' cycles (CMEmu-HW `pop_pc`:
      `pop.w {r0, r8, pc}` measures 11 between CYCCNT reads, as `pop.n {r0, r1, pc}` does: one
      beat waits for the read asked as it issued; the next word's read, which its queue room
      would allow two cycles later, never starts).
    - An execute-time branch (not a load to the PC) asks for its target the cycle after it
      issues. If the old stream's last read is of the target's first word and is not on the
      bus before that cycle (still in its address phase), the branch takes it over instead of
      asking again (CMEmu-HW `bx_seq`: `bx.n` to the word after next, with the words between
      prefetched, costs 4, not 6); a read already in its data phase is dropped
      (`cbz_after_ldr`: `ldr.w r6, [r7]; nop.n; cbz.n` taken over one `nop.w` measures 10,
      not 8). A decode-time branch asks before that read (`b_seq`), a load to the PC only once
      its data arrives (`branch_distance_memory`).
    """

    REGISTERED = True
    LAG = -1

    def _room(self, back: int) -> int:
        return self.taken[back] + 1 + (back in self.after_load)

    def _consumed(self, word: int, address: int, size: int) -> bool:
        return word + 4 <= address + size  # its last halfword belongs to this instruction

    def _restart_limit(self, limit: int) -> int:
        return min(limit, self._asked_by_issue())

    def _asked_by_issue(self) -> int:
        """The last start of a read the fetch unit asked for by the last instruction's issue."""
        return self.issued + ASK_LEAD

    def _asks_early(self, decoded: bool, after_load: bool, branch: bool) -> bool:
        held = self.early and branch and not decoded and not after_load
        return held or super()._asks_early(decoded, after_load, branch)

    def _target_read(self, first: int, decoded: bool, after_load: bool) -> int | None:
        if decoded or after_load or self.next_word != first + 4 or first not in self.arrival:
            return None
        arrival = self.arrival[first]
        bus = arrival - self.f + self.LAG  # the read's bus cycle
        # the branch asks for its target the cycle after it issues: a read not on the bus
        # before then is still in its address phase and is taken over
        return arrival if bus > self.issued else None

    def claim(
        self, t: int, beats: int, hold: int = 0, after_agu: bool = False, loads_pc: bool = False
    ) -> int:
        # a load to the PC: the fetch unit asks for no more words once it has issued
        asked_by = self._asked_by_issue() if loads_pc else None
        cycle = t
        for beat in range(beats):
            self._read_until(cycle, asked_by)
            denied = False
            while cycle in self.slots:
                cycle += 1
                denied = True
                self._read_until(cycle, asked_by)
            self.busy.append((cycle, cycle + 1))
            cycle += 1
            if denied and after_agu and beat < beats - 1:
                cycle += DENIED_AFTER_AGU_GAP
        if hold:
            self.busy.append((cycle, cycle + hold))
        return cycle - (t + beats)


def word_fetch(region: Region) -> WordFetch:
    """The word-by-word fetch model for `region`."""
    return RegisteredWordFetch(region) if region.fetch_registered else WordFetch(region)
