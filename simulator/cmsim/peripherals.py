"""DWT cycle counter and SysTick as memory-mapped registers backed by the model's cycle count.

Addresses and semantics: ARMv7-M ARM C1.8 (DWT) and B3.3 (SysTick); counting rules
shared/timing/cortex-m4.md M4-DWT-1 and M4-SYST-1.
"""

from __future__ import annotations

from collections.abc import Callable

from cmsim.exceptions import Nvic

PPB_BASE = 0xE0000000
PPB_SIZE = 0x100000

DWT_CTRL = 0xE0001000
DWT_CYCCNT = 0xE0001004
DWT_CPICNT = 0xE0001008
DWT_EXCCNT = 0xE000100C
DWT_SLEEPCNT = 0xE0001010
DWT_LSUCNT = 0xE0001014
DWT_FOLDCNT = 0xE0001018
DEMCR = 0xE000EDFC
ACTLR = 0xE000E008  # auxiliary control: bit 1 DISDEFWBUF turns the write buffer off (M4-LS-WB)
ACTLR_DISDEFWBUF = 1 << 1
CPUID = 0xE000ED00
SYST_CSR = 0xE000E010
SYST_RVR = 0xE000E014
SYST_CVR = 0xE000E018
SYST_CALIB = 0xE000E01C

# cmsim's region markers (firmware/common/cmsim_marker.h): two word registers in a PPB range
# that is reserved on the Cortex-M4 (between the external PPB devices and the ROM table).
MARKER_BEGIN = 0xE00FE000  # write: address of a NUL-terminated region name; a region begins
MARKER_END = 0xE00FE004  # write: any value; the innermost open region ends

CPUID_CORTEX_M4_R0P1 = 0x410FC241
DEMCR_TRCENA = 1 << 24
CTRL_CYCCNTENA = 1
CTRL_RESET = 0x40000000  # NUMCOMP = 4 comparators, as on a Cortex-M4 with the DWT
CSR_ENABLE, CSR_TICKINT, CSR_CLKSOURCE, CSR_COUNTFLAG = 1, 2, 4, 1 << 16
MASK32, MASK24, MASK8 = 0xFFFFFFFF, 0xFFFFFF, 0xFF

# M4-DWT-2 profiling counters: register -> (enable bit in DWT_CTRL, index of its event in
# `SystemPeripherals.event_totals`).
PROFILE_COUNTERS = {
    DWT_CPICNT: (1 << 17, 0),  # CPIEVTENA
    DWT_EXCCNT: (1 << 18, 3),  # EXCEVTENA
    DWT_SLEEPCNT: (1 << 19, 4),  # SLEEPEVTENA
    DWT_LSUCNT: (1 << 20, 1),  # LSUEVTENA
    DWT_FOLDCNT: (1 << 21, 2),  # FOLDEVTENA
}


class SystemPeripherals:
    """The private peripheral bus: DWT, SysTick, and plain storage for other registers.

    `issue_cycle()` gives the issue cycle of the instruction doing the access;
    `next_issue_cycle()` the issue cycle of the instruction after it (M4-DWT-1: a write to
    CYCCNT sets the value seen at the next instruction's issue); `read_cycle()` the cycle a
    load reads a register in (its issue, after any wait in decode for its address register).
    """

    def __init__(
        self,
        issue_cycle: Callable[[], int],
        next_issue_cycle: Callable[[], int],
        on_marker: Callable[[int, int, int], None] | None = None,
        profile_events: Callable[[bool], tuple[int, int, int]] | None = None,
        read_cycle: Callable[[], int] | None = None,
    ):
        self.issue_cycle = issue_cycle
        self.next_issue_cycle = next_issue_cycle
        self.read_cycle = read_cycle or issue_cycle
        # on_marker(register, value, cycle): a begin is timed at the instruction after its
        # store and an end at its store's issue, so a region holds the code between the stores.
        self.on_marker = on_marker
        # profile_events(after): running (CPI, LSU, FOLD) event totals at the current
        # instruction's issue, or at the next one's (after) for a write (M4-DWT-2)
        self.profile_events = profile_events or (lambda after: (0, 0, 0))
        self.exception_cycles = 0  # entry/exit overhead so far (EXCCNT's events)
        # Called with whether any profiling counter counts, after a DWT_CTRL or DEMCR write
        # (the reference path counts events only then: it costs it time per instruction).
        self.on_profile_enable: Callable[[bool], None] | None = None
        # Called with the new ACTLR value after a write (the engine switches M4-LS-WB).
        self.on_actlr: Callable[[int], None] | None = None
        # register -> (value at the baseline, event total at the baseline), as for CYCCNT
        self._profile: dict[int, tuple[int, int]] = dict.fromkeys(PROFILE_COUNTERS, (0, 0))
        self.registers: dict[int, int] = {DWT_CTRL: CTRL_RESET, CPUID: CPUID_CORTEX_M4_R0P1}
        self._cyccnt_value = 0  # CYCCNT at `_cyccnt_since` (or frozen when not counting)
        self.has_cyccnt = True  # False on ARMv6-M (Cortex-M0+): CYCCNT never counts
        self._cyccnt_since = 0
        self.cycles_asleep = 0  # cycles the core slept in WFI so far (CYCCNT does not count them)
        self._asleep_at_since = 0
        self._syst_start_value = 0  # CVR when SysTick was last (re)started
        self._syst_since = 0
        self._syst_flag_seen = 0  # cycle of the last CSR read (COUNTFLAG clears on read)
        self.nvic = Nvic(self._systick_pends, self._systick_next_pend)

    # -- DWT CYCCNT (M4-DWT-1) -------------------------------------------------------------
    def cyccnt_running(self) -> bool:
        return bool(
            self.has_cyccnt
            and self.registers.get(DEMCR, 0) & DEMCR_TRCENA
            and self.registers[DWT_CTRL] & CTRL_CYCCNTENA
        )

    def cyccnt(self, now: int) -> int:
        if not self.cyccnt_running():
            return self._cyccnt_value
        awake = now - self._cyccnt_since - (self.cycles_asleep - self._asleep_at_since)
        return (self._cyccnt_value + awake) & MASK32

    def _set_cyccnt(self, value: int, at: int) -> None:
        self._cyccnt_value, self._cyccnt_since = value & MASK32, at
        self._asleep_at_since = self.cycles_asleep

    def slept(self, cycles: int) -> None:
        """The core slept `cycles` in WFI: CYCCNT stops with the core clock (M4-DWT-1);
        SysTick keeps counting."""
        self.cycles_asleep += cycles

    # -- DWT profiling counters (M4-DWT-2) -------------------------------------------------
    def event_totals(self, after: bool) -> tuple[int, ...]:
        """Running totals of the counters' events: CPI, LSU, FOLD, EXC, SLEEP (at the current
        instruction's issue; at the next one's with `after`)."""
        return (*self.profile_events(after), self.exception_cycles, self.cycles_asleep)

    def _counting(self, register: int) -> bool:
        bit, _event = PROFILE_COUNTERS[register]
        return bool(self.registers.get(DEMCR, 0) & DEMCR_TRCENA and self.registers[DWT_CTRL] & bit)

    def profile_counter(self, register: int, totals: tuple[int, ...]) -> int:
        """An 8-bit profiling counter's value given the event totals now: it wraps at 256 and
        keeps its value while disabled."""
        value, since = self._profile[register]
        if not self._counting(register):
            return value
        return (value + totals[PROFILE_COUNTERS[register][1]] - since) & MASK8

    def _set_profile_counter(self, register: int, value: int, totals: tuple[int, ...]) -> None:
        self._profile[register] = (value & MASK8, totals[PROFILE_COUNTERS[register][1]])

    # -- SysTick (M4-SYST-1) ---------------------------------------------------------------
    def systick_running(self) -> bool:
        csr = self.registers.get(SYST_CSR, 0)
        return bool(csr & CSR_ENABLE and csr & CSR_CLKSOURCE)

    def systick_value(self, now: int) -> int:
        if not self.systick_running():
            return self._syst_start_value
        elapsed = now - self._syst_since
        start = self._syst_start_value
        if elapsed <= start:
            return start - elapsed
        reload = self.registers.get(SYST_RVR, 0)
        return reload - (elapsed - start - 1) % (reload + 1)

    def systick_next_zero(self, after: int) -> int | None:
        """First cycle > `after` at which the counter reaches 0 by counting down (COUNTFLAG
        sets, SysTick pends when TICKINT); None when it never will. A counter started at 0
        reloads first, so its first zero is a full period later."""
        if not self.systick_running():
            return None
        reload = self.registers.get(SYST_RVR, 0)
        start = self._syst_start_value
        first = self._syst_since + (start if start else reload + 1)
        if reload == 0:  # a zero reload value stops the counter at its next wrap
            return first if start and first > after else None
        if after < first:
            return first
        period = reload + 1
        return first + ((after - first) // period + 1) * period

    def systick_wrapped_since(self, since: int, now: int) -> bool:
        """True when the counter reached 0 at some cycle in (since, now]."""
        zero = self.systick_next_zero(since)
        return zero is not None and zero <= now

    def systick_interrupts(self) -> bool:
        """SysTick pends its exception on each wrap (TICKINT)."""
        return self.systick_running() and bool(self.registers[SYST_CSR] & CSR_TICKINT)

    def _systick_pends(self, since: int, now: int) -> bool:
        return self.systick_interrupts() and self.systick_wrapped_since(since, now)

    def _systick_next_pend(self, after: int) -> int | None:
        return self.systick_next_zero(after) if self.systick_interrupts() else None

    # -- bus interface ---------------------------------------------------------------------
    def read(self, address: int) -> int:
        """A 32-bit register read at the current instruction's read cycle."""
        now = self.read_cycle()
        if self.nvic.owns(address):
            return self.nvic.read(address, now)
        if address == DWT_CYCCNT:
            return self.cyccnt(now)
        if address in PROFILE_COUNTERS:
            cpi, *others = self.event_totals(False)
            waited = now - self.issue_cycle()  # in decode, for its address register: CPI
            return self.profile_counter(address, (cpi + waited, *others))
        if address == SYST_CVR:
            return self.systick_value(now)
        if address == SYST_CSR:
            csr = self.registers.get(SYST_CSR, 0) & ~CSR_COUNTFLAG
            if self.systick_wrapped_since(self._syst_flag_seen, now):
                csr |= CSR_COUNTFLAG
            self._syst_flag_seen = now
            return csr
        return self.registers.get(address, 0)

    def write(self, address: int, value: int) -> None:
        """A 32-bit register write; CYCCNT and SysTick keep counting from the model's cycles."""
        if address in (MARKER_BEGIN, MARKER_END):
            if self.on_marker is not None:
                at = self.next_issue_cycle() if address == MARKER_BEGIN else self.issue_cycle()
                self.on_marker(address, value & MASK32, at)
            return
        now = self.next_issue_cycle()
        if self.nvic.owns(address):
            self.nvic.write(address, value & MASK32, now)
            return
        if address == DWT_CYCCNT:
            self._set_cyccnt(value, now)
            return
        if address in PROFILE_COUNTERS:  # the value seen from the next instruction on
            self._set_profile_counter(address, value, self.event_totals(True))
            return
        if address in (DWT_CTRL, DEMCR):
            frozen = self.cyccnt(now)
            totals = self.event_totals(True)
            counters = {r: self.profile_counter(r, totals) for r in PROFILE_COUNTERS}
            self.registers[address] = value & MASK32
            self._set_cyccnt(frozen, now)  # counting starts after the enabling store
            for register, count in counters.items():
                self._set_profile_counter(register, count, totals)
            if self.on_profile_enable is not None:
                self.on_profile_enable(any(self._counting(r) for r in PROFILE_COUNTERS))
            return
        if address in (SYST_CSR, SYST_RVR, SYST_CVR):
            self.nvic.collect(now)  # pends under the old settings stay pending
            self._write_systick(address, value, now)
            self.nvic.on_change()
            return
        self.registers[address] = value & MASK32
        if address == ACTLR and self.on_actlr is not None:
            self.on_actlr(value & MASK32)

    def _write_systick(self, address: int, value: int, now: int) -> None:
        if address == SYST_CVR:
            self._restart_systick(0, now)
            self._syst_flag_seen = now
        elif address == SYST_CSR:
            current = self.systick_value(now)
            self.registers[SYST_CSR] = value & (CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE)
            self._restart_systick(current, now)
        else:
            self.registers[SYST_RVR] = value & MASK24

    def _restart_systick(self, value: int, now: int) -> None:
        self._syst_start_value, self._syst_since = value, now
