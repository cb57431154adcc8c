"""Cortex-M0+ timing: a table model on the shared sequencer (cortex_m4.Pipeline's issue,
memory model and exception handling), with the M0+'s 2-stage pipeline costs from the Cortex-M0+
TRM (Arm DDI 0484C, Table 3.1) as quoted in shared/timing/other-cores.md §1.1 [D]; no silicon
measurement of an M0+ was found, so none of this is [M].

Rules (IDs used by tests/test_cores.py and `cmsim annotate`):

- M0P-1 [D]: data processing, shifts, compares, MOV, extends, reverses, NOP, CPS, hints: 1.
  MULS: 1 (the fast-multiplier option; the small multiplier's 32 is not modelled).
- M0P-LS [D]: every LDR*/STR* form 2 (the single-cycle I/O port's 1 is not modelled: no board
  region is an I/O port yet); LDM/STM/PUSH/POP of N registers 1 + N. No load/store pipelining,
  no store->load penalty, no AGU stall, no NOP absorption [D table; I that no pairing exists].
- M0P-BR [D]: B<cond> taken 2, not taken 1; B 2; BL 3; BX/BLX and MOV PC/ADD PC 2;
  POP {..., PC} 3 + N (N counts PC [I]). No misaligned-target or not-taken bubble [I].
- M0P-SYS [D]: DMB, DSB, ISB 3; MRS, MSR 3; WFI/WFE 2 (+ sleep).
- No DWT CYCCNT (ARMv6-M): firmware times itself with SysTick; cmsim's own counts stay exact.
- Kept from the M4 [I]: wait states (M4-MEM-*), exception entry 12 (the M0+'s is 15 [D], not
  yet per core), unaligned accesses are not faulted (ARMv6-M would HardFault).
"""

from __future__ import annotations

from capstone import arm_const as A

from cmsim import decode as D
from cmsim.decode import Instr
from cmsim.timing import cortex_m4 as M4
from cmsim.timing import dwt_counters
from cmsim.timing.cortex_m4 import BASE, FAILED, Part, Step

TAKEN = "taken branch (M0P-BR)"
dwt_counters.REASON_COUNTER[TAKEN] = dwt_counters.Charge(False, dwt_counters.CPI)

LOAD_STORE = 2  # M0P-LS
SYSTEM = 3  # M0P-SYS: barriers, MRS, MSR
SLEEP = 2  # M0P-SYS: WFI/WFE
TAKEN_B = 2  # M0P-BR
TAKEN_BL = 3
TAKEN_BX = 2
TAKEN_POP_PC_EXTRA = 3  # 3 + N


def base_cost(ins: Instr) -> int:
    """Executed cost of an instruction, before wait states and a branch's refill (M0P-*)."""
    k = ins.klass
    if k in (D.LOAD, D.STORE, D.STORE_REG):
        return LOAD_STORE
    if k in (D.LOAD_MULTI, D.STORE_MULTI):
        return 1 + ins.nregs
    if k in (D.BARRIER, D.ISB) or ins.id in (A.ARM_INS_MRS, A.ARM_INS_MSR):
        return SYSTEM
    if k == D.WFI:
        return SLEEP
    return 1  # M0P-1, and a not-taken B<cond>


def taken_cost(ins: Instr) -> int:
    """M0P-BR: the cost of a taken branch."""
    k = ins.klass
    if k == D.BL:
        return TAKEN_BL
    if k == D.BX:
        return TAKEN_BX
    if k == D.POP_PC:
        return TAKEN_POP_PC_EXTRA + ins.nregs
    return TAKEN_B  # B, B<cond> (ARMv6-M has no CBZ, TBB or LDR PC)


class Pipeline(M4.Pipeline):
    """The shared sequencer with the Cortex-M0+ table: no pairing between instructions."""

    def _decide_from_predecessor(self, prev: Step, step: Step, why: list[Part] | None) -> None:
        """Nothing: the M0+ has no pairing, folding or AGU rule."""

    def _settle(self, i: Step, j: Step, parts: list[Part] | None = None) -> int:
        ins = i.ins
        if not i.executed:
            if parts is not None:
                parts.append((FAILED, M4.CONDITION_FAILED))
            return M4.CONDITION_FAILED
        conditional = ins.klass == D.B and ins.cond != D.COND_AL
        taken = ins.branch and (j.ins.address != ins.address + ins.size or not conditional)
        cost = self._final_cost(i, parts)
        if taken:
            if parts is not None:
                parts.append((TAKEN, taken_cost(ins) - base_cost(ins)))
            return cost - base_cost(ins) + taken_cost(ins)
        if i.unbuffered and j.executed and j.ins.klass not in D.STORE_CLASS:
            cost += 1  # M4-LS-WB [I]
            if parts is not None:
                parts.append((M4.WRITE_BUFFER_OFF, 1))
        if i.write_ws and j.executed and j.ins.memory:
            cost += i.write_ws  # §9.1 [I]
            if parts is not None:
                parts.append((M4.STORE_WAIT, i.write_ws))
        return cost

    def _final_cost(self, i: Step, parts: list[Part] | None = None) -> int:
        if not i.executed:
            if parts is not None:
                parts.append((FAILED, M4.CONDITION_FAILED))
            return M4.CONDITION_FAILED
        cost = base_cost(i.ins) + i.extra
        if parts is not None:
            parts.append((BASE, base_cost(i.ins)))
            parts.extend(self._extra_parts(i))
        return cost


__all__ = ["Pipeline", "base_cost", "taken_cost"]
