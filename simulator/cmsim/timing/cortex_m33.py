"""Cortex-M33 timing: the Cortex-M4 sequencer (cortex_m4.Pipeline) with the M33's differences
stated as rules (shared/timing/other-cores.md §4; jnk0le `pipeline cycle test/doc/cortex_m33.md`,
RP2350 = M33 r1p0, DWT CYCCNT). Labels: [M] measured on silicon by that source, [D] documented
by Arm, [I] inferred here (no M33 measurement: the M4's rule is kept, or a guess is stated).

Rules (IDs used by tests/test_cores.py and `cmsim annotate`):

- M33-LS-1 [M]: single loads and stores issue in 1 cycle; LDRD/STRD take 2; LDM/STM/PUSH/POP
  of N registers take N (M4: 2, 3 and 1 + N). M4-LS-PIPE, M4-LS-STLD and M4-LS-ABS do not
  apply [I: not observed by the source, whose loads already issue every cycle].
- M33-LS-USE [M]: load-to-use latency 2: the next executed instruction that reads a loaded
  register waits 1 cycle, except as a MAC accumulator or as store data (latency 1 there).
- M33-RES-2 [M]: multiply-accumulates, DSP/SIMD instructions, SXTA*/UXTA* and ALU instructions
  with a shifted-register operand 2 have result latency 2: the next executed instruction that
  reads the result waits 1 cycle, except as the accumulator of a MAC or SXTA*/UXTA*, or as
  store data. Plain multiplies (MUL, SMULL, ...) are counted here too [I: the source measures
  MACs and MULS; MULS.n's 2 cycles are attributed to the same 2-stage multiplier].
- M33-MULS [D Arm KA001260, M]: the 16-bit flag-setting MULS takes 2 cycles.
- M33-PAIR [M]: limited dual issue of two 16-bit instructions, the second costing 0: a NOP after
  an ALU or single load/store instruction; an IT after any instruction; a not-taken B<cond>
  after any instruction. An instruction that dual issued does not pair with the next one.
- M33-BR-1 [M]: a taken 16-bit B / B<cond> costs 2, or 1 when it dual issues after a 16-bit
  instruction that does not set flags; a not-taken B<cond> costs 1 (0 when paired); no
  M4-BR-NT bubble. BL and a 32-bit B cost 2 [I]. BX, CBZ, LDR PC, POP {PC}, TBB/TBH keep the
  M4's M4-BR-1 costs, and M4-BR-F1 and M4-BR-LR stay [I: not measured by the source].
- Everything else is the M4's [I]: base costs of ALU/FPU/barrier classes, M4-DIV-1, M4-LS-AGU,
  M4-LS-UNAL, M4-IT-SKIP, the memory model (M4-MEM-*), exceptions (M4-EXC-*).
"""

from __future__ import annotations

import re

from capstone import arm_const as A

from cmsim import decode as D
from cmsim.decode import Instr
from cmsim.timing import cortex_m4 as M4
from cmsim.timing import dwt_counters
from cmsim.timing.cores import DSP_IDS
from cmsim.timing.cortex_m4 import (
    BASE,
    FAILED,
    FOLDED,
    Part,
    Step,
    _note,
    loaded_registers,
    target_misaligned,
)

# -- cost components (for `cmsim annotate`) ------------------------------------------------------
TAKEN = "taken branch (M33-BR-1)"
LOAD_USE = "load-to-use (M33-LS-USE)"
RESULT_USE = "result latency (M33-RES-2)"
PAIRED = "dual issued (M33-PAIR)"
MULS_2 = "16-bit MULS (M33-MULS)"
dwt_counters.REASON_COUNTER.update(
    {
        TAKEN: dwt_counters.Charge(False, dwt_counters.CPI),
        LOAD_USE: dwt_counters.Charge(False, dwt_counters.LSU),
        RESULT_USE: dwt_counters.Charge(False, dwt_counters.CPI),
        PAIRED: dwt_counters.Charge(False, dwt_counters.FOLD),
        MULS_2: dwt_counters.Charge(False, dwt_counters.CPI),
    }
)

TAKEN_B = 2  # M33-BR-1
TAKEN_B_PAIRED = 1
NOT_TAKEN_B = 1
PAIR_ANY = 1  # Step.paired: dual issued after a flag-setting 16-bit instruction
PAIR_NO_FLAGS = 2  # ... after one that does not set flags (a taken B then costs 1)

# -- instruction groups ----------------------------------------------------------------------

_MAC_NAMES = (
    "MLA", "MLS", "SMLAD", "SMLADX", "SMLSD", "SMLSDX", "SMLABB", "SMLABT", "SMLATB", "SMLATT",
    "SMLAWB", "SMLAWT", "SMMLA", "SMMLAR", "SMMLS", "SMMLSR", "USADA8",
)
_LONG_MAC_NAMES = (
    "SMLAL", "UMLAL", "UMAAL", "SMLALD", "SMLALDX", "SMLSLD", "SMLSLDX", "SMLALBB", "SMLALBT",
    "SMLALTB", "SMLALTT",
)
_MUL_NAMES = (
    "MUL", "SMULL", "UMULL", "SMULBB", "SMULBT", "SMULTB", "SMULTT", "SMULWB", "SMULWT", "SMUAD",
    "SMUADX", "SMUSD", "SMUSDX", "SMMUL", "SMMULR",
)
_XTA_NAMES = ("SXTAB", "SXTAH", "SXTAB16", "UXTAB", "UXTAH", "UXTAB16")


def _ids(names: tuple[str, ...]) -> frozenset[int]:
    return frozenset(getattr(A, f"ARM_INS_{n}") for n in names if hasattr(A, f"ARM_INS_{n}"))


MAC_IDS = _ids(_MAC_NAMES)  # accumulator: the last register operand
LONG_MAC_IDS = _ids(_LONG_MAC_NAMES)  # accumulators: RdLo, RdHi (the first two)
XTA_IDS = _ids(_XTA_NAMES)  # accumulate operand: Rn (the second)
SLOW_RESULT_IDS = MAC_IDS | LONG_MAC_IDS | _ids(_MUL_NAMES) | XTA_IDS | DSP_IDS
_REG = re.compile(r"\b(r1[0-2]|r[0-9]|sb|sl|fp|ip|sp|lr|pc)\b")
_SHIFTED_OPERAND = re.compile(r", (lsl|lsr|asr|ror|rrx)\b")
_FLAG_SETTERS = frozenset({"cmp", "cmn", "tst", "teq"})


def _registers(ins: Instr) -> list[int]:
    """The core registers named in the instruction's text, in operand order."""
    _mnemonic, _, operands = ins.text.partition(" ")
    return [D._CORE_REGS[r] for r in _REG.findall(operands)]


def accumulators(ins: Instr) -> frozenset[int]:
    """Registers a MAC or SXTA*/UXTA* reads as its accumulate input (latency 1 there)."""
    regs = _registers(ins)
    if ins.id in MAC_IDS and len(regs) == 4:
        return frozenset({regs[3]})
    if ins.id in LONG_MAC_IDS and len(regs) == 4:
        return frozenset(regs[:2])
    if ins.id in XTA_IDS and len(regs) == 3:
        return frozenset({regs[1]})
    return frozenset()


def slow_result(ins: Instr) -> bool:
    """M33-RES-2: an ALU instruction whose result is ready 2 cycles after it issues."""
    if ins.klass != D.ALU:
        return False
    if ins.id in SLOW_RESULT_IDS:
        return True
    # shifted-register operand 2 ("add.w r3, r4, r5, ror #24"); a plain shift (LSL.W) is not
    return ins.size == 4 and len(_registers(ins)) >= 3 and bool(_SHIFTED_OPERAND.search(ins.text))


def sets_flags(ins: Instr) -> bool:
    """Does the instruction write the condition flags (CMP/TST..., or an S-suffixed ALU op)?"""
    mnemonic = ins.text.split(" ", 1)[0].split(".", 1)[0]
    if mnemonic in _FLAG_SETTERS:
        return True
    return ins.klass == D.ALU and mnemonic.endswith("s") and mnemonic not in ("mrs",)


def waiting_reads(j: Instr) -> frozenset[int]:
    """Registers j needs a cycle before a latency-1 input: everything it reads except a MAC's
    accumulator and a store's data (M33-LS-USE, M33-RES-2)."""
    if j.klass in D.STORE_CLASS:
        return j.addr_regs
    return j.reads - accumulators(j)


def base_cost(ins: Instr) -> int:
    """Executed cost before latency, pairing, memory and branch effects (M33-LS-1, M33-MULS)."""
    k = ins.klass
    if k in (D.LOAD_MULTI, D.STORE_MULTI):
        return max(1, ins.nregs)  # M33-LS-1: N
    if k in (D.LOAD_DOUBLE, D.STORE_DOUBLE):
        return 2  # M33-LS-1
    if k in (D.LOAD, D.STORE, D.STORE_REG):
        return 1  # M33-LS-1
    if ins.id == A.ARM_INS_MUL and ins.size == 2:
        return 2  # M33-MULS
    return M4.base_cost(ins)


def taken_cost(ins: Instr, lr_dirty: bool, paired: int) -> int:
    """M33-BR-1: cost of a taken branch before M4-BR-F1."""
    if ins.klass == D.B:
        return TAKEN_B_PAIRED if paired == PAIR_NO_FLAGS and ins.size == 2 else TAKEN_B
    if ins.klass == D.BL:
        return TAKEN_B
    return M4.taken_cost(ins, lr_dirty)


def pairs_with(prev: Step, step: Step) -> int:
    """M33-PAIR: does `step` dual issue with `prev`? PAIR_NO_FLAGS / PAIR_ANY, or 0."""
    p, ins = prev.ins, step.ins
    if not (prev.executed and step.executed and p.size == 2 and ins.size == 2) or prev.paired:
        return 0
    if p.branch or p.klass in (D.IT, D.BKPT, D.SVC, D.WFI):
        return 0
    k = ins.klass
    if k == D.NOP and (p.klass == D.ALU or p.klass in D.SINGLE_LOAD | D.SINGLE_STORE):
        return PAIR_ANY
    if k == D.IT or (k == D.B and ins.cond != D.COND_AL):
        return PAIR_ANY if sets_flags(p) else PAIR_NO_FLAGS
    if k == D.B:  # an unconditional B: a taken branch, pairs only after a non-flag-setter
        return 0 if sets_flags(p) else PAIR_NO_FLAGS
    return 0


class Pipeline(M4.Pipeline):
    """The M4 sequencer with the Cortex-M33 rules above."""

    def _decide_from_predecessor(self, prev: Step, step: Step, why: list[Part] | None) -> None:
        ins, p = step.ins, prev.ins
        if step.executed:
            if prev.executed and ins.memory:  # M4-LS-AGU [I]
                stall = M4.agu_stall(p, ins)
                step.extra += stall
                if why is not None:
                    _note(why, M4.AGU, stall)
            step.lr_dirty = prev.executed and M4.writes_lr(p)  # M4-BR-LR [I]
            if ins.klass == D.BARRIER and prev.executed and p.klass in D.SINGLE_STORE:
                step.extra += 1  # §2.8 [I]
                if why is not None:
                    why.append((M4.BARRIER_DRAIN, 1))
        step.paired = pairs_with(prev, step)  # M33-PAIR
        step.folded = ins.klass == D.IT and step.paired != 0

    def _settle(self, i: Step, j: Step, parts: list[Part] | None = None) -> int:
        cost = self._own_cost(i, parts, j)
        if cost is not None:
            return cost
        cost = self._executed_cost(i, parts)
        if j.executed and loaded_registers(i.ins) & waiting_reads(j.ins) and _loads(i.ins):
            cost += 1  # M33-LS-USE
            if parts is not None:
                parts.append((LOAD_USE, 1))
        elif j.executed and slow_result(i.ins) and i.ins.writes & waiting_reads(j.ins):
            cost += 1  # M33-RES-2
            if parts is not None:
                parts.append((RESULT_USE, 1))
        jx = j.executed
        if i.unbuffered and jx and j.ins.klass not in D.STORE_CLASS:
            cost += 1  # M4-LS-WB [I]
            if parts is not None:
                parts.append((M4.WRITE_BUFFER_OFF, 1))
        if i.write_ws and jx and j.ins.memory:
            cost += i.write_ws  # §9.1 [I]
            if parts is not None:
                parts.append((M4.STORE_WAIT, i.write_ws))
        return cost

    def _final_cost(self, i: Step, parts: list[Part] | None = None) -> int:
        cost = self._own_cost(i, parts, None)
        return self._executed_cost(i, parts) if cost is None else cost

    def _own_cost(self, i: Step, parts: list[Part] | None, j: Step | None) -> int | None:
        """The cost of a failed, paired, IT or branch instruction (j: the next one, None when
        nothing follows: a branch is then not taken); None for the others."""
        ins = i.ins
        if not i.executed:
            if parts is not None:
                parts.append((FAILED, M4.CONDITION_FAILED))
            return M4.CONDITION_FAILED  # M4-IT-SKIP [I]
        k = ins.klass
        if k in (D.IT, D.NOP) and i.paired:
            if parts is not None:
                parts.append((BASE, 1))
                parts.append((FOLDED if k == D.IT else PAIRED, -1))
            return 0  # M33-PAIR
        if k == D.IT:
            if parts is not None:
                parts.append((BASE, 1))
            return 1
        if not ins.branch:
            return None
        conditional = k == D.CBZ or (k == D.B and ins.cond != D.COND_AL)
        taken = j is not None and (j.ins.address != ins.address + ins.size or not conditional)
        if not taken:
            if k == D.B:  # M33-BR-1 / M33-PAIR: a not-taken B<cond>
                cost = 0 if i.paired else NOT_TAKEN_B
                if parts is not None:
                    parts.append((BASE, 1))
                    _note(parts, PAIRED, cost - 1)
                return cost
            return self._executed_cost(i, parts)
        misaligned = target_misaligned(j.ins)  # M4-BR-F1 [I]
        cost = taken_cost(ins, i.lr_dirty, i.paired) + i.extra + misaligned
        if parts is not None:
            parts.append((BASE, base_cost(ins)))
            parts.extend(self._extra_parts(i))
            _note(parts, TAKEN, taken_cost(ins, False, i.paired) - base_cost(ins))
            _note(parts, M4.LR_DIRTY, taken_cost(ins, i.lr_dirty, 0) - taken_cost(ins, False, 0))
            _note(parts, M4.MISALIGNED_TARGET, misaligned)
        return cost

    def _executed_cost(self, i: Step, parts: list[Part] | None) -> int:
        """Base (or divide) cost plus the recorded extras (wait states, AGU, unaligned...)."""
        ins = i.ins
        div = ins.klass == D.DIV
        cost = (i.div if div else base_cost(ins)) + i.extra
        if parts is not None:
            if div:
                parts.append((M4.DIVIDE, i.div))
            elif ins.id == A.ARM_INS_MUL and ins.size == 2:
                parts.extend([(BASE, 1), (MULS_2, 1)])
            else:
                parts.append((BASE, base_cost(ins)))
            parts.extend(self._extra_parts(i))
        return cost


def _loads(ins: Instr) -> bool:
    return ins.klass in (D.LOAD, D.LOAD_DOUBLE, D.LOAD_MULTI, D.VLOAD, D.VLOAD_MULTI)


__all__ = ["Pipeline", "accumulators", "base_cost", "pairs_with", "slow_result", "taken_cost"]
