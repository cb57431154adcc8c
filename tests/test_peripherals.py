"""DWT CYCCNT and SysTick register semantics (M4-DWT-1, M4-SYST-1) over a settable clock."""

from __future__ import annotations

from cmsim import peripherals as p


class SteppedClock:
    def __init__(self) -> None:
        self.now = 0

    def peripherals(self) -> p.SystemPeripherals:
        # A store's effect is seen from the next instruction's issue, one cycle later here.
        return p.SystemPeripherals(lambda: self.now, lambda: self.now + 1)


def enable_cyccnt(periph: p.SystemPeripherals) -> None:
    periph.write(p.DEMCR, p.DEMCR_TRCENA)
    periph.write(p.DWT_CTRL, periph.read(p.DWT_CTRL) | p.CTRL_CYCCNTENA)


def test_cyccnt_is_frozen_until_enabled_then_counts_from_the_next_instruction():
    clock = SteppedClock()
    periph = clock.peripherals()
    clock.now = 100
    assert periph.read(p.DWT_CYCCNT) == 0
    periph.write(p.DEMCR, p.DEMCR_TRCENA)
    clock.now = 110
    assert periph.read(p.DWT_CYCCNT) == 0, "TRCENA alone does not start CYCCNT"
    periph.write(p.DWT_CTRL, p.CTRL_CYCCNTENA)  # counting starts at cycle 111
    clock.now = 121
    assert periph.read(p.DWT_CYCCNT) == 10


def test_cyccnt_write_sets_value_seen_at_next_issue_and_wraps():
    clock = SteppedClock()
    periph = clock.peripherals()
    enable_cyccnt(periph)
    clock.now = 50
    periph.write(p.DWT_CYCCNT, 0xFFFFFFFE)  # seen at cycle 51
    clock.now = 54
    assert periph.read(p.DWT_CYCCNT) == 1


def test_cyccnt_stops_when_disabled():
    clock = SteppedClock()
    periph = clock.peripherals()
    enable_cyccnt(periph)
    clock.now = 20
    periph.write(p.DWT_CTRL, 0)  # stops at cycle 21 with value 20
    clock.now = 500
    assert periph.read(p.DWT_CYCCNT) == 20


def test_a_load_reads_after_waiting_for_its_address_register():
    """M4-DWT-1 with M4-LS-AGU: a load that waits in decode for its address register reads
    CYCCNT that much later, and CPICNT counts the wait (CMEmu-HW `str` on the CC2652: after
    two `adds.n r1, r7`, `ldr.w r3, [r0, r1]` reads CYCCNT 5 cycles after the first load,
    not 4, and CPICNT 1 higher)."""
    clock = SteppedClock()
    wait = [0]
    periph = p.SystemPeripherals(
        lambda: clock.now,
        lambda: clock.now + 1,
        profile_events=lambda after: (7, 3, 0),
        read_cycle=lambda: clock.now + wait[0],
    )
    enable_cyccnt(periph)
    periph.write(p.DWT_CTRL, periph.read(p.DWT_CTRL) | (1 << 17))  # CPIEVTENA
    clock.now = 40
    assert (periph.read(p.DWT_CYCCNT), periph.read(p.DWT_CPICNT)) == (39, 0)
    wait[0] = 1
    assert (periph.read(p.DWT_CYCCNT), periph.read(p.DWT_CPICNT)) == (40, 1)


def test_cpuid_and_plain_registers():
    periph = SteppedClock().peripherals()
    assert periph.read(p.CPUID) == p.CPUID_CORTEX_M4_R0P1
    periph.write(0xE000ED08, 0x08000000)  # VTOR: plain storage
    assert periph.read(0xE000ED08) == 0x08000000


def test_systick_counts_down_reloads_and_sets_countflag():
    clock = SteppedClock()
    periph = clock.peripherals()
    periph.write(p.SYST_RVR, 9)  # period 10 cycles
    periph.write(p.SYST_CVR, 1234)  # clears to 0
    clock.now = 10
    periph.write(p.SYST_CSR, p.CSR_ENABLE | p.CSR_CLKSOURCE)  # running from cycle 11 at 0
    clock.now = 11
    assert periph.read(p.SYST_CVR) == 0
    clock.now = 12
    assert periph.read(p.SYST_CVR) == 9, "reloads RVR on the tick after reaching 0"
    clock.now = 15
    assert periph.read(p.SYST_CVR) == 6
    # Starting at 0 is a reload, not a count to 0 (ARMv7-M B3.3.1): the first wrap is a full
    # period later, as CMSIS SysTick_Config (VAL = 0, then ENABLE) relies on.
    assert not periph.read(p.SYST_CSR) & p.CSR_COUNTFLAG, "no count to 0 yet"
    clock.now = 21
    assert periph.read(p.SYST_CVR) == 0
    assert periph.read(p.SYST_CSR) & p.CSR_COUNTFLAG, "counted down to 0 at cycle 21"
    assert not periph.read(p.SYST_CSR) & p.CSR_COUNTFLAG, "COUNTFLAG clears on read"
    clock.now = 22
    assert periph.read(p.SYST_CVR) == 9


def test_systick_with_reference_clock_source_does_not_count():
    clock = SteppedClock()
    periph = clock.peripherals()
    periph.write(p.SYST_RVR, 100)
    periph.write(p.SYST_CSR, p.CSR_ENABLE)  # CLKSOURCE = 0: vendor clock, not modelled
    clock.now = 50
    assert periph.read(p.SYST_CVR) == 0
    assert periph.read(p.SYST_RVR) == 100
    periph.write(p.SYST_RVR, 0x1FFFFFF)
    assert periph.read(p.SYST_RVR) == 0xFFFFFF, "RVR is 24 bits"
