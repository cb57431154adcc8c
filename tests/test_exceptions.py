"""Exceptions (shared/timing/cortex-m4.md section 7, M4-SYST-1): the NVIC's choice of what runs,
SysTick pend cycles, and the exact entry, exit and tail-chaining cycles on firmware that takes
SVC, SysTick, PendSV and NVIC interrupts, on both engine paths."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from conftest import build_firmware, run_results
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmsim import exceptions as X
from cmsim import peripherals as P
from cmsim.board import load_board
from cmsim.engine import Engine
from cmsim.errors import FirmwareFault
from cmsim.image import load_image
from cmsim.machine import Machine
from cmsim.profile import Profiler

PATHS = ("reference", "fast")


def run_exceptions_firmware(board: str, path: str) -> tuple[list[int], Engine]:
    """Run firmware/tests/exceptions.S; return its `results` words."""
    return run_results(board, "exceptions", path, 14)


@pytest.mark.parametrize("path", PATHS)
def test_exception_cycles_on_m4_ideal(path):
    r, engine = run_exceptions_firmware("m4-ideal", path)
    # M4-EXC-ENTRY: LDR CYCCNT (2, not pipelined with SVC) + SVC (1) + 12 to the handler's
    # first instruction, the LDR that reads CYCCNT again.
    assert r[0] == 2 + 1 + 12
    # M4-EXC-EXIT by BX LR: handler LDR (2) + CMP (1) + BEQ taken (2, M4-BR-1) + 10.
    assert r[1] == 2 + 1 + 2 + 10
    assert r[2] == 2 + 1 + 12
    # M4-EXC-EXIT by POP {r4, pc}: LDR (2) + CMP (1) + BEQ not taken (1, both next 16-bit:
    # M4-BR-NT) + PUSH {r4, lr} (1 + 2, M4-LS-MULTI) + 10 + (N - 1) with N = 2.
    assert r[3] == 2 + 1 + 1 + 3 + 10 + 1
    # M4-SYST-1: counting starts at the issue of the LDR after the enabling store; from 0 the
    # counter reloads first, so it pends RVR + 1 = 100 cycles later, at a boundary between
    # 1-cycle ADDS (M4-EXC-POINT); the handler starts 12 later.
    assert r[4] == 100 + 12
    assert r[5] == 100 - 2  # ADDS executed before the interrupt (the LDR took 2)
    # M4-EXC-TAIL: PendSV pended in the SysTick handler (lower priority) runs on its return:
    # LDR CYCCNT (2) + BX LR chained in 6.
    assert r[6] == 2 + 6
    assert r[7] == 150, "every ADDS ran exactly once around the interrupt"
    # PendSV pended under PRIMASK comes in right after CPSIE: LDR (2) + CPSIE (1) + 12.
    assert r[8] == 2 + 1 + 12
    # IRQ 0 pended by a store to STIR: LDR CYCCNT (1, pipelined with the STR: M4-LS-PIPE) +
    # STR to the PPB (1) + 12.
    assert r[9] == 1 + 1 + 12
    # A process-stack thread: EXC_RETURN 0xFFFFFFFD brings back CONTROL.SPSEL, the PSP with the
    # frame popped, and the untouched main stack.
    assert r[10:13] == [2, 0, 0]
    # §2.8 WFI: 1 + time asleep. LDR CYCCNT (2) + WFI (1) end 3 cycles after counting starts;
    # SysTick pends at 100, so the core sleeps 97 cycles, which CYCCNT does not count
    # (M4-DWT-1): the handler reads 2 + 1 + 12 after the LDR.
    assert r[13] == 2 + 1 + 12
    assert engine.machine.peripherals.cycles_asleep == 100 - 3
    assert engine.exceptions_taken == 9


def test_exception_cycles_with_flash_wait_states():
    """M4-EXC-WS on stm32f4 (5 WS, ART): the first SVC entry also waits for the vector read
    (ART data-side miss, 5) and the handler's first fetch (instruction-side miss, 5); the
    second finds both cached and costs what it costs at zero wait states."""
    r, _ = run_exceptions_firmware("stm32f4", "fast")
    assert r[0] == 2 + 1 + 12 + 5 + 5
    assert r[2] == 2 + 1 + 12
    assert r == run_exceptions_firmware("stm32f4", "reference")[0]


def test_systick_time_base_firmware(elf):
    """firmware/tests/systick.c: a 2000-cycle SysTick tick counter around a compute loop."""
    machine = Machine(load_image(elf("systick")), load_board("m4-ideal"), stdout=io.BytesIO())
    engine = Engine(machine)
    profiler = Profiler.attach(engine)
    result = engine.run()
    profile = profiler.finish(result)
    text = result.output.decode()
    ticks = int(re.search(r"ticks: (\d+)", text).group(1))
    elapsed = int(re.search(r"cycles: (\d+)", text).group(1))
    assert ticks == engine.exceptions_taken == profile.function("SysTick_Handler").calls
    assert ticks == elapsed // 2000, "one tick per period, none lost or doubled"
    handler = profile.function("SysTick_Handler")
    assert handler.exclusive_cycles % ticks == 0, "every tick costs the same"
    assert handler.exclusive_cycles // ticks >= 12 + 10, "entry and exit are charged to it"


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    period=st.integers(min_value=60, max_value=5000), board=st.sampled_from(["m4-ideal", "stm32f4"])
)
def test_fast_path_takes_interrupts_where_the_reference_path_does(period, board):
    """Random SysTick periods move the interrupts to every kind of boundary (inside blocks,
    at block starts, after loads and branches): both paths agree on every count. On stm32f4
    the ART caches, which the fast path keeps in C, also see the vector reads."""
    seen = []
    for path in PATHS:
        image = load_image(build_firmware(board) / "systick.elf")
        machine = Machine(image, load_board(board), stdout=io.BytesIO())
        machine.uc.mem_write(image.symbols["systick_period"], period.to_bytes(4, "little"))
        engine = Engine(machine, path=path)
        result = engine.run()
        seen.append((result.cycles, result.instructions, result.output, engine.exceptions_taken))
        if engine._native is not None:
            assert engine._native.cache_mismatches == 0
    assert seen[0] == seen[1]
    text = seen[0][2].decode()
    ticks = int(re.search(r"ticks: (\d+)", text).group(1))
    elapsed = int(re.search(r"cycles: (\d+)", text).group(1))
    # `elapsed` also holds the few cycles before SysTick starts and after it stops, so the
    # count may be one short of elapsed // period when the last period ends inside them.
    assert elapsed // period - 1 <= ticks <= elapsed // period, "the patched period is used"


@pytest.mark.parametrize(
    "name, message",
    [
        ("fault_excreturn", "outside a handler"),
        ("fault_svc_masked", "SVC cannot preempt"),
        ("fault_wfi_forever", "WFI with no interrupt that can wake the core"),
        ("fault_fp_context", "FP context stacking (M4-EXC-ENTRY-FP) is not modelled"),
    ],
)
def test_exception_misuse_is_a_fault(elf, name, message):
    run = subprocess.run(
        [sys.executable, "-m", "cmsim", "run", str(elf(name))], capture_output=True, text=True
    )
    assert run.returncode == 134
    assert message in run.stderr and "in main" in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


# -- the NVIC (ARMv7-M B1.5, B3.4) ------------------------------------------------------------


def nvic_with_systick(zeros: list[int] | None = None) -> X.Nvic:
    zeros = zeros or []

    def pends(since: int, now: int) -> bool:
        return any(since < z <= now for z in zeros)

    def upcoming(after: int) -> int | None:
        return min((z for z in zeros if z > after), default=None)

    return X.Nvic(pends, upcoming)


def test_priorities_decide_preemption_and_ties_go_to_the_lower_number():
    nvic = nvic_with_systick()
    nvic.write(X.SHPR3, 0x40 << 24 | 0x80 << 16, 0)  # SysTick 0x40, PendSV 0x80
    nvic.pend(X.PENDSV, 5)
    nvic.pend(X.SYSTICK, 5)
    assert nvic.choose(5, 0, 0) == X.SYSTICK
    nvic.activate(X.SYSTICK)
    assert nvic.choose(6, 0, 0) is None, "PendSV (0x80) cannot preempt SysTick (0x40)"
    nvic.complete()
    assert nvic.choose(7, 0, 0) == X.PENDSV
    nvic.write(X.SHPR3, 0, 0)  # PendSV still pending; SysTick pends too, both at 0
    nvic.pend(X.SYSTICK, 8)
    assert nvic.choose(8, 0, 0) == X.PENDSV, "equal priority: the lower exception number"


def test_masks():
    nvic = nvic_with_systick()
    nvic.write(X.SHPR3, 0x80 << 24, 0)
    nvic.pend(X.SYSTICK, 0)
    assert nvic.choose(1, primask=1, basepri=0) is None
    assert nvic.deadline(1, primask=1, basepri=0) == X.NEVER
    assert nvic.choose(1, primask=0, basepri=0x80) is None, "BASEPRI masks equal priority"
    assert nvic.choose(1, primask=0, basepri=0x90) == X.SYSTICK


def test_external_interrupts_need_enabling_and_stir_pends_them():
    nvic = nvic_with_systick()
    nvic.write(X.STIR, 3, 10)
    assert nvic.read(X.NVIC_ISPR, 10) == 1 << 3
    assert nvic.choose(10, 0, 0) is None, "IRQ 3 is not enabled"
    nvic.write(X.NVIC_ISER, 1 << 3, 11)
    assert nvic.choose(11, 0, 0) == X.IRQ0 + 3
    nvic.write(X.NVIC_IPR, 0x20 << 24, 11)  # IPR0 byte 3: IRQ 3's priority
    assert nvic.priority(X.IRQ0 + 3) == 0x20
    nvic.write(X.NVIC_ICPR, 1 << 3, 12)
    assert nvic.choose(12, 0, 0) is None


def test_icsr_pends_and_reports():
    nvic = nvic_with_systick()
    nvic.write(X.ICSR, X.ICSR_PENDSVSET, 3)
    assert nvic.read(X.ICSR, 3) & X.ICSR_PENDSVSET
    nvic.activate(X.PENDSV)
    assert nvic.read(X.ICSR, 4) & 0x1FF == X.PENDSV, "VECTACTIVE"


def test_systick_pends_are_collected_once_per_wrap_and_drive_the_deadline():
    nvic = nvic_with_systick([100, 200, 300])
    assert nvic.deadline(0, 0, 0) == 100
    assert nvic.choose(99, 0, 0) is None
    assert nvic.choose(250, 0, 0) == X.SYSTICK, "two wraps while not looking: one pend"
    nvic.activate(X.SYSTICK)
    nvic.complete()
    assert nvic.choose(250, 0, 0) is None
    assert nvic.deadline(250, 0, 0) == 300


def test_systick_pend_cycles_follow_m4_syst_1():
    """M4-SYST-1: a counter started at 0 reloads first and reaches 0 RVR + 1 cycles later,
    then every RVR + 1 cycles; started at a value V it reaches 0 V cycles later."""
    now = [0]
    periph = P.SystemPeripherals(lambda: now[0], lambda: now[0])
    periph.write(P.SYST_RVR, 99)
    periph.write(P.SYST_CVR, 0)
    now[0] = 10
    periph.write(P.SYST_CSR, 7)
    assert periph.systick_next_zero(10) == 110
    assert periph.systick_next_zero(110) == 210
    assert periph.nvic.deadline(10, 0, 0) == 110
    now[0] = 150
    periph.write(P.SYST_CSR, 7)  # restart from the current value, 60
    assert periph.systick_value(150) == 60
    assert periph.systick_next_zero(150) == 210
    periph.write(P.SYST_CSR, 5)  # no TICKINT: counts, never pends again
    assert periph.nvic.choose(150, 0, 0) == X.SYSTICK, "the wrap at 110 stays pending"
    periph.nvic.activate(X.SYSTICK)
    periph.nvic.complete()
    assert periph.nvic.deadline(150, 0, 0) == X.NEVER


# -- faults through the vector table (ARMv7-M B1.5.14; issue 14) -------------------------------

# (exception taken, CFSR, HFSR) of each scenario of firmware/tests/traps.S
TRAP_SCENARIOS = [
    (X.HARDFAULT, X.UNDEFINSTR, X.HFSR_FORCED),  # 1. UDF, UsageFault disabled: escalated
    (X.USAGEFAULT, X.UNDEFINSTR, 0),  # 2. UDF, UsageFault enabled
    (X.USAGEFAULT, X.UNALIGNED, 0),  # 3. LDRD at an odd address
    (X.USAGEFAULT, X.DIVBYZERO, 0),  # 4. SDIV by 0, CCR.DIV_0_TRP
    (X.USAGEFAULT, X.UNALIGNED, 0),  # 5. LDR at an odd address, CCR.UNALIGN_TRP
    (X.USAGEFAULT, X.NOCP, 0),  # 6. VMOV with CPACR off
    (X.BUSFAULT, X.PRECISERR | X.BFARVALID, 0),  # 7. read of unmapped memory
    (X.HARDFAULT, X.PRECISERR | X.BFARVALID, X.HFSR_FORCED),  # 8. write, BusFault disabled
    (X.HARDFAULT, X.IACCVIOL, X.HFSR_FORCED),  # 9. call into the XN peripheral space
    (X.HARDFAULT, 0, X.HFSR_DEBUGEVT),  # 10. BKPT #1, no debugger
]


@pytest.mark.parametrize("path", PATHS)
def test_faults_are_taken_through_the_vector_table(path):
    """Each fault reaches its handler (or HardFault when disabled) with the status registers
    the architecture defines, and the entry timing of M4-EXC-ENTRY: 12 cycles from the end of
    the instruction before the handler's first. The faulting instruction is charged as cmsim
    decides (Fault.timing, [I]): abandoned in its first execute cycle (1) when the core finds
    the fault before executing it (undefined, UNALIGNED, DIVBYZERO, NOCP); its own cycles when
    the bus answers its access with an error; none for a fetch that never happened (the entry
    follows the branch, whose refill it replaces, as for an interrupt after a branch)."""
    r, engine = run_results("m4-ideal", "traps", path, 55)
    rows = [r[5 * k : 5 * k + 5] for k in range(11)]
    for (_cycles, ipsr, cfsr, hfsr, _bfar), (number, status, hard) in zip(
        rows, TRAP_SCENARIOS, strict=False
    ):
        assert (ipsr, cfsr, hfsr) == (number, status, hard)
    # LDR CYCCNT (2) + the abandoned instruction (1) + M4-EXC-ENTRY (12)
    assert [row[0] for row in rows[:6]] == [2 + 1 + 12] * 6
    # LDR CYCCNT (2) + MOVS (1) + LDR with the bus error (2) + 12; BFAR holds the address
    assert rows[6][0] == 2 + 1 + 2 + 12 and rows[6][4] == 0x60000000
    # LDR CYCCNT (2) + MOVS (1) + STR (1) + 12
    assert rows[7][0] == 2 + 1 + 1 + 12
    # LDR CYCCNT (2) + BLX (1, its refill replaced by the entry) + 12
    assert rows[8][0] == 2 + 1 + 12
    # LDR CYCCNT (2) + BKPT (1) + 12
    assert rows[9][0] == 2 + 1 + 12
    assert rows[10][1:4] == [0, 0, 0], "with CPACR on, the FPU instruction runs"
    assert engine.exceptions_taken == 10


def test_fault_entry_waits_for_slow_memory_on_both_paths():
    """M4-EXC-WS applies to faults: on stm32f4 the first fault also waits for the vector read
    (ART data-side miss, 5) and the handler's first fetch (instruction-side miss, 5); the
    paths agree on every scenario."""
    runs = [run_results("stm32f4", "traps", path, 55) for path in PATHS]
    (reference, ref_engine), (fast, fast_engine) = runs
    assert reference == fast
    assert (ref_engine.cycles, ref_engine.instructions) == (
        fast_engine.cycles,
        fast_engine.instructions,
    )
    assert fast[0] == 2 + 1 + 12 + 5 + 5


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fault_udf", "undefined instruction (UsageFault UNDEFINSTR) at pc=0x"),
        ("fault_ldrd", "unaligned access: 'ldrd r2, r3, [r0]' (UsageFault UNALIGNED)"),
        ("fault_nocp", "FPU instruction 'vmov s0, r0' with the FPU off (CPACR.CP10/CP11 = 0)"),
        ("fault_div0", "division by zero: 'sdiv r0, r0, r1' with CCR.DIV_0_TRP set"),
        ("fault_coprocessor", "no coprocessor: an instruction for a coprocessor the core lacks"),
        ("fault_invstate", "invalid state: ARM state (a branch to an even address cleared"),
        ("fault_xn", "bad PC: execute from an execute-never (XN) region (MemManage IACCVIOL)"),
        ("fault_badpc", "bad PC: instruction fetch from unmapped memory (BusFault IBUSERR)"),
        ("fault_read", "read from unmapped memory (BusFault PRECISERR) at pc=0x"),
        ("fault_erased_flash", "jump into erased flash (0xFFFFFFFF, an undefined instruction)"),
        ("fault_spin_handler", "undefined instruction (UsageFault UNDEFINSTR) at pc=0x"),
        ("fault_lockup", "lockup (in a HardFault or NMI handler): undefined instruction"),
        ("fault_svc_masked", "SVC cannot preempt"),
    ],
)
def test_a_fault_without_a_handler_ends_the_run_naming_it(elf, name, message, path):
    """No handler worth running (the startup's Default_Handler, a handler that spins, or a
    fault in the HardFault handler, i.e. lockup): the run ends at once with the fault named,
    on both paths, with the same cycles."""
    machine = Machine(load_image(elf(name)), load_board("m4-ideal"), stdout=io.BytesIO())
    engine = Engine(machine, path=path, max_instructions=100_000)
    with pytest.raises(FirmwareFault) as caught:
        engine.run()
    assert message in str(caught.value)
    assert engine.instructions < 1000, "named at once, not after spinning"


def test_unhandled_faults_cost_the_same_on_both_paths(elf):
    for name in ("fault_ldrd", "fault_read", "fault_xn", "fault_invstate", "fault_lockup"):
        totals = []
        for path in PATHS:
            engine = Engine(
                Machine(load_image(elf(name)), load_board("m4-ideal"), stdout=io.BytesIO()),
                path=path,
            )
            with pytest.raises(FirmwareFault):
                engine.run()
            totals.append((engine.cycles, engine.instructions))
        assert totals[0] == totals[1], name


def test_fault_target_escalates_and_locks_up():
    nvic = nvic_with_systick()
    fault = X.Fault("x", X.USAGEFAULT, X.UNDEFINSTR, 0x100)
    assert nvic.fault_target(fault, 0, 0) == X.HARDFAULT, "disabled: escalates"
    nvic.write(X.SHCSR, 1 << 18, 0)  # USGFAULTENA
    assert nvic.fault_target(fault, 0, 0) == X.USAGEFAULT
    assert nvic.fault_target(fault, 1, 0) == X.HARDFAULT, "PRIMASK: cannot preempt"
    assert nvic.fault_target(fault, 0, 1) is None, "FAULTMASK: lockup"
    nvic.activate(X.USAGEFAULT)
    assert nvic.fault_target(fault, 0, 0) == X.HARDFAULT, "same priority: escalates"
    nvic.activate(X.HARDFAULT)
    assert nvic.fault_target(fault, 0, 0) is None, "in HardFault: lockup"


def test_fault_status_registers():
    nvic = nvic_with_systick()
    bus = X.Fault("read", X.BUSFAULT, X.PRECISERR, 0x100, 0x60000000, "after")
    nvic.record_fault(bus, X.HARDFAULT)
    assert nvic.read(X.CFSR, 0) == X.PRECISERR | X.BFARVALID
    assert nvic.read(X.HFSR, 0) == X.HFSR_FORCED and nvic.read(X.BFAR, 0) == 0x60000000
    nvic.write(X.CFSR, X.PRECISERR, 0)  # write 1 to clear
    assert nvic.read(X.CFSR, 0) == X.BFARVALID
    assert nvic.read(X.CCR, 0) == 1 << 9, "STKALIGN at reset"
    assert not nvic.fpu_enabled
    nvic.write(X.CPACR, 0xF << 20, 0)
    assert nvic.fpu_enabled
    nvic.write(X.SHCSR, 1 << 17, 0)
    nvic.activate(X.BUSFAULT)
    assert nvic.read(X.SHCSR, 0) == 1 << 17 | 1 << 1, "BUSFAULTENA and BUSFAULTACT"
