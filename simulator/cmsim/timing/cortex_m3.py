"""Cortex-M3 timing: the Cortex-M4 sequencer (cortex_m4.Pipeline) with the M3's differences
stated as rules (shared/timing/other-cores.md §2). The M3 shares the M4's integer pipeline,
prefetch unit and LSU, so every M4 rule carries over [M: CMEmu's CC2650 (M3) and CC2652 (M4F)
dumps of the same programs agree in 646 of 857 configurations] except:

- M3-MUL-MLA [D Arm Cortex-M3 TRM; M CMEmu]: MLA and MLS take 2 cycles (M4: 1).
- M3-MUL-LONG [D Arm Cortex-M3 TRM: UMULL/SMULL 3-5, UMLAL/SMLAL 4-7, early termination on the
  operands' 16-bit halves]: charged at the case of operands with both halves non-zero, UMULL and
  SMULL 5, UMLAL and SMLAL 7 [I: the operand-dependent early termination is not modelled; the
  requantizing multiplies of the NN kernels (31-bit multipliers) are in that case].
- M3-LS-WB [M jnk0le `doc/cortex_m3m4.md`, STM32F103]: a pre/post-indexed (writeback) load never
  pipelines with the next load or store (M4-LS-PIPE on the M4: only when the next one uses the
  updated base).
- No DSP extension and no FPU: those instructions raise UsageFault (timing/cores.py).

Not modelled [I]: the M3's stricter store-after-load rule for pre/post-indexed stores (1 cycle
only when the previous instruction is not a load), and its exception exit (10, as the M4's).
"""

from __future__ import annotations

from capstone import arm_const as A

from cmsim import decode as D
from cmsim.decode import Instr
from cmsim.timing import cortex_m4 as M4
from cmsim.timing import dwt_counters
from cmsim.timing.cortex_m4 import Part, Step

MULTIPLY = "multiply (M3-MUL-MLA / M3-MUL-LONG)"
WRITEBACK_LOAD = "writeback load, no pipelining (M3-LS-WB)"
dwt_counters.REASON_COUNTER.update(
    {
        MULTIPLY: dwt_counters.Charge(False, dwt_counters.CPI),
        WRITEBACK_LOAD: dwt_counters.Charge(False, dwt_counters.LSU),
    }
)

# cycles beyond the M4's 1 (M3-MUL-MLA, M3-MUL-LONG)
MULTIPLY_EXTRA = {
    A.ARM_INS_MLA: 1,
    A.ARM_INS_MLS: 1,
    A.ARM_INS_UMULL: 4,
    A.ARM_INS_SMULL: 4,
    A.ARM_INS_UMLAL: 6,
    A.ARM_INS_SMLAL: 6,
}


def multiply_extra(ins: Instr) -> int:
    """Cycles an M3 multiply takes beyond the M4's single cycle."""
    return MULTIPLY_EXTRA.get(ins.id, 0) if ins.klass == D.ALU else 0


class Pipeline(M4.Pipeline):
    """The M4 sequencer with the Cortex-M3 rules above."""

    def issue(self, ins: Instr, executed: bool, address: int | None, div: int, in_it: bool) -> int:
        t = super().issue(ins, executed, address, div, in_it)
        extra = multiply_extra(ins) if executed else 0
        if extra:
            step = self.pending
            step.extra += extra  # M3-MUL-MLA / M3-MUL-LONG
            if self._why is not None and self._why[0] is step:
                self._why[1].append((MULTIPLY, extra))
        return t

    def _settle(self, i: Step, j: Step, parts: list[Part] | None = None) -> int:
        cost = super()._settle(i, j, parts)
        ins = i.ins
        if (
            i.executed
            and ins.writeback
            and ins.klass in D.SINGLE_LOAD
            and j.executed
            and M4.pipelines(ins, i.block, j.ins, j.block, i.bus, j.bus)
        ):
            cost += 1  # M3-LS-WB: takes back M4-LS-PIPE's overlap
            if parts is not None:
                parts.append((WRITEBACK_LOAD, 1))
        return cost


__all__ = ["MULTIPLY_EXTRA", "Pipeline", "multiply_extra"]
