"""Exceptions of the Cortex-M4: the NVIC and SCB registers, what is pending and active, and the
architectural part of entry and return (stack frame, EXC_RETURN), ARMv7-M ARM B1.5.

SVC (11), PendSV (14), SysTick (15) and external interrupts 16 + n (pended by software through
NVIC_ISPR or STIR; cmsim has no interrupt-raising devices) are modelled, and the faults
(HardFault 3, MemManage 4, BusFault 5, UsageFault 6; B1.5.14): a `Fault` says what went wrong and
which exception reports it, `Nvic.fault_target` where it goes (escalation to HardFault, lockup)
and `Nvic.record_fault` sets the fault status registers (CFSR, HFSR, MMFAR, BFAR). The timing of
entry, return and tail-chaining is the engine's (M4-EXC-*); this module only says *which*
exception runs when.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unicorn import Uc
from unicorn import arm_const as U

from cmsim.errors import CmsimError

NMI, HARDFAULT, MEMMANAGE, BUSFAULT, USAGEFAULT = 2, 3, 4, 5, 6
SVC, PENDSV, SYSTICK, IRQ0 = 11, 14, 15, 16
FAULT_NAMES = {
    HARDFAULT: "HardFault",
    MEMMANAGE: "MemManage",
    BUSFAULT: "BusFault",
    USAGEFAULT: "UsageFault",
}
NUM_IRQS = 64  # external interrupts with NVIC registers here (an STM32F4 has 82)

ICSR = 0xE000ED04
VTOR = 0xE000ED08
CCR = 0xE000ED14  # configuration and control: UNALIGN_TRP, DIV_0_TRP
SHPR1 = 0xE000ED18  # MemManage priority in bits 7:0, BusFault 15:8, UsageFault 23:16
SHCSR = 0xE000ED24  # system handler control and state: fault enables and active bits
CFSR = 0xE000ED28  # configurable fault status: MMFSR 7:0, BFSR 15:8, UFSR 31:16 (write 1 to clear)
HFSR = 0xE000ED2C  # HardFault status (write 1 to clear)
MMFAR = 0xE000ED34
BFAR = 0xE000ED38
CPACR = 0xE000ED88  # coprocessor access: CP10 in bits 21:20, CP11 in 23:22 (the FPU)
SHPR2 = 0xE000ED1C  # SVC priority in bits 31:24
SHPR3 = 0xE000ED20  # PendSV 23:16, SysTick 31:24
NVIC_ISER = 0xE000E100
NVIC_ICER = 0xE000E180
NVIC_ISPR = 0xE000E200
NVIC_ICPR = 0xE000E280
NVIC_IABR = 0xE000E300
NVIC_IPR = 0xE000E400
STIR = 0xE000EF00

ICSR_PENDSVSET, ICSR_PENDSVCLR = 1 << 28, 1 << 27
ICSR_PENDSTSET, ICSR_PENDSTCLR = 1 << 26, 1 << 25

CCR_RESET = 1 << 9  # STKALIGN
CCR_UNALIGN_TRP, CCR_DIV_0_TRP = 1 << 3, 1 << 4
SHCSR_ENABLES = {MEMMANAGE: 1 << 16, BUSFAULT: 1 << 17, USAGEFAULT: 1 << 18}
SHCSR_ACTIVE = {
    MEMMANAGE: 1 << 0,
    BUSFAULT: 1 << 1,
    USAGEFAULT: 1 << 3,
    SVC: 1 << 7,
    PENDSV: 1 << 10,
    SYSTICK: 1 << 11,
}
CPACR_FPU = 0xF << 20  # CP10 and CP11; any non-zero access field lets the FPU run here
# CFSR bits (B3.2.15)
IACCVIOL, DACCVIOL, MMARVALID = 1 << 0, 1 << 1, 1 << 7
IBUSERR, PRECISERR, BFARVALID = 1 << 8, 1 << 9, 1 << 15
UNDEFINSTR, INVSTATE, INVPC, NOCP = 1 << 16, 1 << 17, 1 << 18, 1 << 19
UNALIGNED, DIVBYZERO = 1 << 24, 1 << 25
# HFSR bits (B3.2.16)
HFSR_VECTTBL, HFSR_FORCED, HFSR_DEBUGEVT = 1 << 1, 1 << 30, 1 << 31
STATUS_NAMES = {
    IACCVIOL: "IACCVIOL",
    DACCVIOL: "DACCVIOL",
    IBUSERR: "IBUSERR",
    PRECISERR: "PRECISERR",
    UNDEFINSTR: "UNDEFINSTR",
    INVSTATE: "INVSTATE",
    INVPC: "INVPC",
    NOCP: "NOCP",
    UNALIGNED: "UNALIGNED",
    DIVBYZERO: "DIVBYZERO",
    HFSR_FORCED: "FORCED",
    HFSR_DEBUGEVT: "DEBUGEVT",
}
HARDFAULT_PRIORITY, NMI_PRIORITY = -1, -2

THREAD_PRIORITY = 256  # lower than any configurable priority (0 = highest)
EXC_RETURN_HANDLER = 0xFFFFFFF1
EXC_RETURN_THREAD_MSP = 0xFFFFFFF9
EXC_RETURN_THREAD_PSP = 0xFFFFFFFD
FRAME_WORDS = 8  # r0-r3, r12, lr, return address, xPSR
XPSR_ALIGNED = 1 << 9  # stacked xPSR bit 9: the frame was realigned to 8 bytes
NEVER = 1 << 62

_BANK_WORDS = NUM_IRQS // 32
_NVIC_RANGES = {
    NVIC_ISER: "enable",
    NVIC_ICER: "disable",
    NVIC_ISPR: "pend",
    NVIC_ICPR: "unpend",
    NVIC_IABR: "active",
}


@dataclass(frozen=True)
class Fault:
    """A synchronous fault (B1.5.14): what happened, the exception that reports it and its
    status bit, where (the stacked return address), and the faulting data address if any.

    `timing` says when the entry starts (an [I] choice of cmsim, the same on both engine
    paths): "before", the instruction at `pc` is abandoned in its first execute cycle (1 cycle,
    then M4-EXC-ENTRY); "after", it ran its cycles (a bus error answers its data phase);
    "fetch", `pc` was never fetched and the entry follows the instruction that branched there.
    """

    kind: str  # e.g. "read from unmapped memory"
    exception: int  # MEMMANAGE, BUSFAULT, USAGEFAULT, or HARDFAULT for HardFault-only causes
    status: int  # its CFSR bit, or HFSR bit for HARDFAULT
    pc: int
    address: int | None = None  # MMFAR/BFAR (data faults), shown in the message
    timing: str = "before"

    @property
    def label(self) -> str:
        """The architectural name, e.g. "BusFault PRECISERR"."""
        return f"{FAULT_NAMES[self.exception]} {STATUS_NAMES.get(self.status, '')}".strip()


class Nvic:
    """Pending and active exceptions, priorities, and the registers that control them.

    `systick_pends(since, until)` tells whether SysTick pended in (since, until];
    `systick_next(after)` gives its next pend cycle after `after` (None: it will not pend).
    Pend cycles are model cycles; `collect(now)` brings SysTick pends up to `now` in.
    """

    def __init__(
        self,
        systick_pends: Callable[[int, int], bool],
        systick_next: Callable[[int], int | None],
    ):
        self._systick_pends = systick_pends
        self._systick_next = systick_next
        self.pending: dict[int, int] = {}  # exception number -> cycle it pended
        self.active: list[int] = []  # innermost last
        self.enabled = [False] * NUM_IRQS
        self.irq_priority = [0] * NUM_IRQS
        self.registers = {
            ICSR: 0,
            VTOR: 0,
            SHPR2: 0,
            SHPR3: 0,
            CCR: CCR_RESET,
            SHPR1: 0,
            SHCSR: 0,
            CFSR: 0,
            HFSR: 0,
            MMFAR: 0,
            BFAR: 0,
            CPACR: 0,
        }
        self._collected = -1  # SysTick pends up to this cycle are in `pending`
        self.on_change: Callable[[], None] = lambda: None
        self.on_traps: Callable[[], None] = lambda: None  # CCR or CPACR written

    def reset(self) -> None:
        """Nothing pending or active (a core reset; register settings are kept)."""
        self.pending.clear()
        self.active.clear()
        self._collected = -1

    # -- priorities ------------------------------------------------------------------------
    def priority(self, number: int) -> int:
        """Configured priority of an exception (0 = highest; all 8 bits compared; HardFault
        and NMI have the fixed priorities -1 and -2)."""
        if number == HARDFAULT:
            return HARDFAULT_PRIORITY
        if number == NMI:
            return NMI_PRIORITY
        if number in (MEMMANAGE, BUSFAULT, USAGEFAULT):
            return (self.registers[SHPR1] >> (8 * (number - MEMMANAGE))) & 0xFF
        if number == SVC:
            return self.registers[SHPR2] >> 24
        if number == PENDSV:
            return (self.registers[SHPR3] >> 16) & 0xFF
        if number == SYSTICK:
            return self.registers[SHPR3] >> 24
        return self.irq_priority[number - IRQ0]

    def execution_priority(self, primask: int, basepri: int) -> int:
        """The priority an exception must beat to preempt (B1.5.4); PRIMASK masks them all."""
        current = min((self.priority(n) for n in self.active), default=THREAD_PRIORITY)
        if basepri & 0xFF:
            current = min(current, basepri & 0xFF)
        if primask & 1:
            current = min(current, 0) - 1
        return current

    # -- faults (B1.5.14) ------------------------------------------------------------------
    def fault_target(self, fault: Fault, primask: int, faultmask: int) -> int | None:
        """The exception that takes `fault`: its own when enabled (SHCSR) and able to preempt,
        else HardFault (escalation); None when not even HardFault can (lockup: a fault in
        the HardFault or NMI handler, or with FAULTMASK set)."""
        current = min((self.priority(n) for n in self.active), default=THREAD_PRIORITY)
        if primask & 1:  # PRIMASK raises the execution priority to 0
            current = min(current, 0)
        if faultmask & 1:  # FAULTMASK raises it to -1
            current = min(current, HARDFAULT_PRIORITY)
        own = fault.exception
        if own != HARDFAULT and self.registers[SHCSR] & SHCSR_ENABLES[own]:
            if self.priority(own) < current:
                return own
        return HARDFAULT if HARDFAULT_PRIORITY < current else None

    def record_fault(self, fault: Fault, number: int) -> None:
        """Set the fault status registers as the core does when `fault` is taken by the
        exception `number` (FORCED when it escalated to HardFault)."""
        r = self.registers
        if fault.exception == HARDFAULT:
            r[HFSR] |= fault.status
            return
        r[CFSR] |= fault.status
        if number == HARDFAULT:
            r[HFSR] |= HFSR_FORCED
        if fault.address is not None and fault.status == PRECISERR:
            r[CFSR] |= BFARVALID
            r[BFAR] = fault.address
        elif fault.address is not None and fault.status == DACCVIOL:
            r[CFSR] |= MMARVALID
            r[MMFAR] = fault.address

    @property
    def fpu_enabled(self) -> bool:
        """CPACR gives CP10 and CP11 some access (the FPU's instructions do not fault)."""
        return bool(self.registers[CPACR] & CPACR_FPU)

    def _preempting(self, primask: int, basepri: int) -> int | None:
        floor = self.execution_priority(primask, basepri)
        best = None
        for number in self.pending:
            if number >= IRQ0 and not self.enabled[number - IRQ0]:
                continue
            key = (self.priority(number), number)  # ties: the lower exception number wins
            if key[0] < floor and (best is None or key < best):
                best = key
        return None if best is None else best[1]

    # -- pending ---------------------------------------------------------------------------
    def pend(self, number: int, at: int) -> None:
        self.pending.setdefault(number, at)
        self.on_change()

    def collect(self, now: int) -> None:
        """Pend SysTick if its counter reached 0 in (last collect, now]."""
        if now > self._collected:
            if self._systick_pends(self._collected, now):
                self.pending.setdefault(SYSTICK, now)
            self._collected = now

    def choose(self, now: int, primask: int, basepri: int) -> int | None:
        """The exception to take at cycle `now`, if one pended by then can preempt."""
        self.collect(now)
        return self._preempting(primask, basepri)

    def deadline(self, now: int, primask: int, basepri: int) -> int:
        """Earliest cycle at which an exception could be due, given the masks at `now`: `now`
        when one is due already, NEVER when none can come before the masks or the active
        exceptions change."""
        if self.choose(now, primask, basepri) is not None:
            return now
        floor = self.execution_priority(primask, basepri)
        if self.priority(SYSTICK) < floor and SYSTICK not in self.pending:
            upcoming = self._systick_next(now)
            if upcoming is not None:
                return upcoming
        return NEVER

    def activate(self, number: int) -> None:
        self.pending.pop(number, None)
        self.active.append(number)

    def complete(self) -> int:
        """The innermost active exception returns; returns its number."""
        if not self.active:
            raise CmsimError("exception return with no active exception")
        return self.active.pop()

    # -- registers -------------------------------------------------------------------------
    def owns(self, address: int) -> bool:
        if address in self.registers or address == STIR:
            return True
        if NVIC_ISER <= address < NVIC_IABR + 4 * _BANK_WORDS + 0x80:
            return (address - NVIC_ISER) % 0x80 < 4 * _BANK_WORDS
        return NVIC_IPR <= address < NVIC_IPR + NUM_IRQS

    def read(self, address: int, now: int) -> int:
        if address == ICSR:
            return self._icsr(now)
        if address == SHCSR:
            active = sum(bit for n, bit in SHCSR_ACTIVE.items() if n in self.active)
            return (self.registers[SHCSR] & ~sum(SHCSR_ACTIVE.values())) | active
        if address in self.registers:
            return self.registers[address]
        if address >= NVIC_IPR and address < NVIC_IPR + NUM_IRQS:
            base = address - NVIC_IPR
            return sum(self.irq_priority[base + k] << (8 * k) for k in range(4))
        if address == STIR:
            return 0
        kind, first = self._bank(address)
        bits = 0
        for k in range(32):
            number = IRQ0 + first + k
            if kind in ("enable", "disable"):
                on = self.enabled[first + k]
            elif kind in ("pend", "unpend"):
                on = number in self.pending
            else:
                on = number in self.active
            bits |= int(on) << k
        return bits

    def write(self, address: int, value: int, now: int) -> None:
        """A register write that takes effect at cycle `now` (the next instruction's issue)."""
        if address == ICSR:
            self._write_icsr(value, now)
        elif address in (CFSR, HFSR):  # write 1 to clear
            self.registers[address] &= ~value
        elif address in (CCR, CPACR):
            self.registers[address] = value
            self.on_traps()
        elif address in (SHPR1, SHPR2, SHPR3, VTOR, SHCSR, MMFAR, BFAR):
            self.registers[address] = value
        elif address == STIR:
            if (value & 0x1FF) < NUM_IRQS:
                self.pending.setdefault(IRQ0 + (value & 0x1FF), now)
        elif NVIC_IPR <= address < NVIC_IPR + NUM_IRQS:
            for k in range(4):
                if address - NVIC_IPR + k < NUM_IRQS:
                    self.irq_priority[address - NVIC_IPR + k] = (value >> (8 * k)) & 0xFF
        else:
            kind, first = self._bank(address)
            for k in range(32):
                if value >> k & 1:
                    self._set_bit(kind, first + k, now)
        self.on_change()

    def _bank(self, address: int) -> tuple[str, int]:
        base = address - (address - NVIC_ISER) % 0x80
        return _NVIC_RANGES[base], 32 * ((address - base) // 4)

    def _set_bit(self, kind: str, irq: int, now: int) -> None:
        if kind == "enable":
            self.enabled[irq] = True
        elif kind == "disable":
            self.enabled[irq] = False
        elif kind == "pend":
            self.pending.setdefault(IRQ0 + irq, now)
        elif kind == "unpend":
            self.pending.pop(IRQ0 + irq, None)

    def _write_icsr(self, value: int, now: int) -> None:
        if value & ICSR_PENDSVSET:
            self.pending.setdefault(PENDSV, now)
        elif value & ICSR_PENDSVCLR:
            self.pending.pop(PENDSV, None)
        if value & ICSR_PENDSTSET:
            self.pending.setdefault(SYSTICK, now)
        elif value & ICSR_PENDSTCLR:
            self.collect(now)
            self.pending.pop(SYSTICK, None)

    def _icsr(self, now: int) -> int:
        self.collect(now)
        value = self.active[-1] if self.active else 0
        if self.pending:
            value |= min(self.pending) << 12 | 1 << 22  # VECTPENDING, ISRPENDING
        if PENDSV in self.pending:
            value |= ICSR_PENDSVSET
        if SYSTICK in self.pending:
            value |= ICSR_PENDSTSET
        return value


# -- the architectural part of entry and return (B1.5.6, B1.5.8) ------------------------------


CONTROL_FPCA = 1 << 2  # an FP context is active: entry would stack it (not modelled)


def push_frame(uc: Uc, return_address: int, number: int, nested: bool) -> int:
    """Stack the caller-saved registers, switch to the handler's stack and mode; returns the
    EXC_RETURN value the handler finds in LR."""
    control = uc.reg_read(U.UC_ARM_REG_CONTROL)
    on_psp = not nested and bool(control & 2)
    xpsr = uc.reg_read(U.UC_ARM_REG_XPSR)
    sp = uc.reg_read(U.UC_ARM_REG_SP)
    frame = (sp - 4 * FRAME_WORDS) & ~7  # 8-byte aligned frame (CCR.STKALIGN = 1)
    if frame != sp - 4 * FRAME_WORDS:
        xpsr |= XPSR_ALIGNED
    else:
        xpsr &= ~XPSR_ALIGNED
    words = [uc.reg_read(getattr(U, f"UC_ARM_REG_R{k}")) for k in range(4)]
    words += [uc.reg_read(U.UC_ARM_REG_R12), uc.reg_read(U.UC_ARM_REG_LR), return_address & ~1]
    words.append(xpsr | 1 << 24)  # the T bit is always set on M-profile
    uc.mem_write(frame, b"".join(w.to_bytes(4, "little") for w in words))
    uc.reg_write(U.UC_ARM_REG_SP, frame)
    if on_psp:
        uc.reg_write(U.UC_ARM_REG_CONTROL, control & ~2)  # handlers run on the main stack
    uc.reg_write(U.UC_ARM_REG_XPSR, (xpsr & 0xF80F0000) | 1 << 24 | number)
    if nested:
        return EXC_RETURN_HANDLER
    return EXC_RETURN_THREAD_PSP if on_psp else EXC_RETURN_THREAD_MSP


def pop_frame(uc: Uc, exc_return: int) -> int:
    """Unstack the frame EXC_RETURN names; returns the address execution resumes at."""
    if exc_return not in (EXC_RETURN_HANDLER, EXC_RETURN_THREAD_MSP, EXC_RETURN_THREAD_PSP):
        raise CmsimError(f"unsupported EXC_RETURN value 0x{exc_return:08x}")
    if exc_return == EXC_RETURN_THREAD_PSP:
        uc.reg_write(U.UC_ARM_REG_XPSR, uc.reg_read(U.UC_ARM_REG_XPSR) & ~0x1FF)
        uc.reg_write(U.UC_ARM_REG_CONTROL, uc.reg_read(U.UC_ARM_REG_CONTROL) | 2)
    sp = uc.reg_read(U.UC_ARM_REG_SP)
    data = bytes(uc.mem_read(sp, 4 * FRAME_WORDS))
    words = [int.from_bytes(data[4 * k : 4 * k + 4], "little") for k in range(FRAME_WORDS)]
    for k in range(4):
        uc.reg_write(getattr(U, f"UC_ARM_REG_R{k}"), words[k])
    uc.reg_write(U.UC_ARM_REG_R12, words[4])
    uc.reg_write(U.UC_ARM_REG_LR, words[5])
    xpsr = words[7]
    uc.reg_write(U.UC_ARM_REG_SP, sp + 4 * FRAME_WORDS + (4 if xpsr & XPSR_ALIGNED else 0))
    uc.reg_write(U.UC_ARM_REG_XPSR, (xpsr & ~XPSR_ALIGNED) | 1 << 24)
    return words[6]
