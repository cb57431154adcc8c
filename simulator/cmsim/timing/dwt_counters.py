"""M4-DWT-2: the DWT profiling counters derived from the per-instruction cost breakdown.

The pipeline explains each settled instruction's cost as (reason, cycles) parts (see
`cortex_m4.Pipeline.explain`). Each reason is charged to one profiling counter by the table
`REASON_COUNTER`, so the counters come from the same rules that time the instruction:

- CPI:   cycles of an instruction beyond its first, except those of a load/store's memory access
         (so including branch refills, divides, barrier drains and fetch stalls);
- LSU:   cycles of a load/store beyond its first (the data phase, wait states, pairing);
- EXC:   exception entry and return overhead;
- SLEEP: cycles asleep in WFI;
- FOLD:  folded ITs (M4-DWT-2). An instruction absorbed into a load's data phase (M4-LS-ABS)
         is not counted there: the chip counts the pair as two 1-cycle instructions, its cycle
         taking back the load's data phase from LSU (CMEmu-HW cbz_deps, `ldr.w; nop.n`:
         LSUCNT 0, FOLDCNT 0 over the pair).

With these, every settled instruction satisfies the architectural identity
    cost = 1 + CPI + LSU + EXC + SLEEP - FOLD
(see `identity_holds`): each instruction's parts hold exactly one part with its own first cycle
(the base cost, a failed condition, a divide or an exception return), and savings count as FOLD
or take back cycles of the counter they were charged to.
"""

from __future__ import annotations

from typing import NamedTuple

from cmsim.timing import cortex_m4 as T

CPI, LSU, EXC, SLEEP, FOLD = "cpi", "lsu", "exc", "sleep", "fold"
# Not a counter: cycles beyond the first go to LSU for a load/store, to CPI otherwise.
BY_CLASS = "by class"


class Charge(NamedTuple):
    """How one reason's cycles are counted: whether the part holds the instruction's own first
    cycle (counted by no profiling counter), and the counter its other cycles go to."""

    first_cycle: bool
    counter: str


# reason -> Charge. Savings (negative parts) count with their sign, except FOLD, which counts
# the instructions a saving made free (a FOLD part of -1 is one zero-cycle instruction).
REASON_COUNTER: dict[str, Charge] = {
    T.BASE: Charge(True, BY_CLASS),  # e.g. a load's second cycle (data phase) is LSU
    T.FAILED: Charge(True, BY_CLASS),  # always 1: nothing beyond the first cycle
    T.DIVIDE: Charge(True, CPI),  # a multi-cycle instruction, not a memory access
    T.EXC_RETURN: Charge(True, EXC),  # replaces the return instruction's cost: 1 + overhead
    # A branch's refill is CPI, but a load to PC (LDR PC, POP {..., PC}) counts its every
    # cycle beyond the first as LSU, refill included (CMEmu-HW ldr_pc, pop_pc on the CC2652,
    # every placement: CPICNT 0, LSUCNT = cycles - 2 over `ldr r4, [CYCCNT]; pop {r0, pc}`).
    T.REFILL: Charge(False, BY_CLASS),
    T.LR_DIRTY: Charge(False, CPI),
    T.MISALIGNED_TARGET: Charge(False, BY_CLASS),
    T.NOT_TAKEN: Charge(False, CPI),
    T.BARRIER_DRAIN: Charge(False, CPI),  # a DMB/DSB (not a load/store) waiting for a store
    # A fetch stall counts where the instruction it is charged to counts (M4-DWT-2 as the chip
    # counts it): CPI, but LSU on a load/store, whose data phase it stretches (CMEmu-HW b_seq on
    # the CC2652: `ldr r2, [CYCCNT]; ldr r3, [CYCCNT]` from SRAM, 2 cycles: CPICNT 0, LSUCNT 1).
    T.FETCH: Charge(False, BY_CLASS),
    T.WIDE_RUN: Charge(False, CPI),  # a fetch effect (M4-FE-1)
    T.PIPELINED: Charge(False, LSU),  # takes back the data phase charged with the base cost
    T.STORE_LOAD: Charge(False, LSU),
    # the load/store waits in decode for its address register: CPI (CMEmu-HW
    # ldr_ldm_ldmdb_ldrd_deps: `adds.n r7, r2; ldr.n r5, [r7]` reads CPICNT 1 more, LSUCNT 1 less
    # than `adds.n r4, r2; ldr.n r5, [r7]`, cycles equal)
    T.AGU: Charge(False, CPI),
    T.UNALIGNED: Charge(False, LSU),
    T.LOADED_ADDRESS: Charge(False, LSU),  # the access's own wait (loaded_address_stall)
    T.WAIT_STATES: Charge(False, LSU),
    T.BUS_WAIT: Charge(False, LSU),
    T.DEVICE_STORE: Charge(False, LSU),
    T.STORE_WAIT: Charge(False, LSU),
    T.WRITE_BUFFER_OFF: Charge(False, LSU),
    T.BITBAND: Charge(False, LSU),
    T.FOLDED: Charge(False, FOLD),
    T.ABSORBED: Charge(False, LSU),  # always -1: the load's data phase ran it (see above)
    T.EXC_ENTRY: Charge(False, EXC),  # charged to the handler's first instruction
    T.ASLEEP: Charge(False, SLEEP),
    # A lump of `extra` whose parts were not recorded (a restored snapshot): on a load/store
    # its stalls are the access's, otherwise a barrier drain (both exact unless M4-FE-1 is on).
    T.EXTRA: Charge(False, BY_CLASS),
}


class Counts(NamedTuple):
    """Profiling counter increments of one instruction (or a sum of them), not wrapped."""

    cpi: int = 0
    lsu: int = 0
    exc: int = 0
    sleep: int = 0
    fold: int = 0

    def __add__(self, other: Counts) -> Counts:  # type: ignore[override]
        return Counts(*(a + b for a, b in zip(self, other, strict=True)))


def count_events(load_store: bool, parts: list[T.Part]) -> Counts:
    """The profiling counter increments of one settled instruction from its cost parts;
    `load_store` tells whether the instruction is a load or store (its extra cycles are LSU)."""
    totals = dict.fromkeys((CPI, LSU, EXC, SLEEP, FOLD), 0)
    for reason, cycles in parts:
        charge = REASON_COUNTER[reason]
        if charge.first_cycle:
            cycles -= 1
        counter = charge.counter
        if counter == BY_CLASS:
            counter = LSU if load_store else CPI
        totals[counter] += -cycles if counter == FOLD else cycles
    return Counts(totals[CPI], totals[LSU], totals[EXC], totals[SLEEP], totals[FOLD])


def identity_holds(cost: int, counts: Counts) -> bool:
    """The architectural identity for one instruction: its cycles are its own first cycle plus
    its CPI, LSU, EXC and SLEEP cycles, less the FOLD count (a zero-cycle instruction)."""
    return cost == 1 + counts.cpi + counts.lsu + counts.exc + counts.sleep - counts.fold


__all__ = [
    "BY_CLASS",
    "CPI",
    "EXC",
    "FOLD",
    "LSU",
    "REASON_COUNTER",
    "SLEEP",
    "Charge",
    "Counts",
    "count_events",
    "identity_holds",
]
