"""The Cortex-M cores cmsim models, as data: one record per core names its instruction set
(what raises UsageFault as undefined), the `-mcpu` the firmware is built with, its features
(DSP extension, FPU, DWT CYCCNT) and the timing module whose sequencer times it.

Facts: shared/timing/other-cores.md §0 (ISA per core), §1.2 (no CYCCNT on ARMv6-M), §4.
Every core shares the M4's sequencer structure (cortex_m4.Pipeline); a core's module states only
its differences as rules (timing/cortex_m33.py), so one sequencer serves all cores.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from capstone import arm_const as A

from cmsim import decode as D
from cmsim.decode import Instr

DEFAULT_CORE = "cortex-m4"


@dataclass(frozen=True)
class Core:
    """One Cortex-M core: its ISA and features, and where its timing rules live."""

    name: str
    arch: str  # "v6m" (Thumb, BL/MRS/MSR/barriers the only 32-bit), "v7m", "v7em", "v8m.main"
    mcpu: str  # arm-none-eabi-gcc -mcpu
    dsp: bool  # the DSP extension (SMLAD, SXTB16, QADD, ...): opt/asm kernels build only here
    fpu: bool  # single-precision FPU (CP10/CP11); without one an FP instruction is NOCP
    cyccnt: bool  # DWT CYCCNT exists (ARMv6-M has none: SysTick is the firmware's clock)
    timing: str  # module under cmsim.timing whose Pipeline times it
    confidence: str  # how far the timing model is documented/measured (README, reports)


CORES: dict[str, Core] = {
    c.name: c
    for c in (
        Core(
            "cortex-m4", "v7em", "cortex-m4", True, True, True, "cortex_m4",
            "documented and silicon-checked (shared/timing/cortex-m4.md)",
        ),
        Core(
            "cortex-m33", "v8m.main", "cortex-m33", True, True, True, "cortex_m33",
            "M4 rules + M33 differences measured on RP2350 by jnk0le [M]; pairing partly [I]",
        ),
        Core(
            "cortex-m3", "v7m", "cortex-m3", False, False, True, "cortex_m3",
            "M4 rules (shared pipeline [M CMEmu]) + M3 multiplies [D] and writeback loads [M]",
        ),
        Core(
            "cortex-m0plus", "v6m", "cortex-m0plus", False, False, False, "cortex_m0plus",
            "table model from the M0+ TRM [D]; no silicon measurement found; pairing none [I]",
        ),
    )
}


def core_names() -> list[str]:
    """Names a board's `core` key (and --core) accepts."""
    return list(CORES)


def get_core(name: str) -> Core:
    """The Core named `name` (KeyError when unknown: the board schema checks names first)."""
    return CORES[name]


# -- instruction sets --------------------------------------------------------------------------

# The DSP extension's Thumb-2 instructions (ARMv7E-M, and ARMv8-M Mainline's optional DSP):
# SIMD add/subtract, saturating arithmetic, the dual and halfword multiplies, SEL, USAD8, the
# SXTB16/UXTB16 family, PKHBT/PKHTB, SSAT16/USAT16, the SMMUL family and UMAAL. What Capstone
# calls them; ARMv7-M (M3) and an M33 without DSP raise UNDEFINSTR on them.
_DSP_NAMES = (
    "SADD8", "SADD16", "SASX", "SSAX", "SSUB8", "SSUB16", "QADD", "QSUB", "QASX", "QSAX",
    "QADD8", "QADD16", "QSUB8", "QSUB16", "QDADD", "QDSUB", "SHADD8", "SHADD16", "SHASX",
    "SHSAX", "SHSUB8", "SHSUB16", "UADD8", "UADD16", "UASX", "USAX", "USUB8", "USUB16", "UQADD8",
    "UQADD16", "UQASX", "UQSAX", "UQSUB8", "UQSUB16", "UHADD8", "UHADD16", "UHASX", "UHSAX",
    "UHSUB8", "UHSUB16",
    "SMLAD", "SMLALD", "SMLSD", "SMLSLD", "SMUAD", "SMUSD", "SMLABB", "SMLABT", "SMLATB",
    "SMLATT", "SMLAWB", "SMLAWT", "SMLALBB", "SMLALBT", "SMLALTB", "SMLALTT", "SMULBB", "SMULBT",
    "SMULTB", "SMULTT", "SMULWB", "SMULWT", "SMMLA", "SMMLS", "SMMUL", "SEL", "USAD8", "USADA8",
    "SXTB16", "SXTAB16", "UXTB16", "UXTAB16", "SXTAB", "SXTAH", "UXTAB", "UXTAH", "PKHBT",
    "PKHTB", "SSAT16", "USAT16", "UMAAL",
)
DSP_IDS = frozenset(getattr(A, f"ARM_INS_{name}") for name in _DSP_NAMES)
# ARMv6-M's only 32-bit instructions (ARMv6-M ARM A5.4): BL, MSR, MRS, DMB, DSB, ISB, UDF.W.
V6M_WIDE_IDS = frozenset(
    {A.ARM_INS_BL, A.ARM_INS_MSR, A.ARM_INS_MRS, A.ARM_INS_DMB, A.ARM_INS_DSB, A.ARM_INS_ISB}
)
# 16-bit Thumb instructions ARMv6-M lacks (ARMv7-M additions): CBZ/CBNZ and IT.
V7M_NARROW_IDS = frozenset({A.ARM_INS_CBZ, A.ARM_INS_CBNZ, A.ARM_INS_IT})


def lacks(core: Core, ins: Instr) -> bool:
    """True when `core` has no such instruction: executing it raises UsageFault (UNDEFINSTR,
    or NOCP for an FP instruction on a core without an FPU), as silicon would."""
    if ins.fp:
        return not core.fpu
    if core.arch == "v6m":
        if ins.size == 4:
            return ins.id not in V6M_WIDE_IDS
        return ins.id in V7M_NARROW_IDS or ins.klass == D.DIV
    if not core.dsp:
        return ins.id in DSP_IDS
    return False


def pipeline_class(core: Core) -> type:
    """The sequencer class that times `core` (imported here: the timing modules import the
    memory model, which imports the board, which imports this module)."""
    module = importlib.import_module(f"cmsim.timing.{core.timing}")
    return module.Pipeline
