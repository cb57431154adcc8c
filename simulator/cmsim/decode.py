"""Capstone -> `Instr`: the few facts per instruction the timing model needs (spec §1.3).

Instructions are classified by Capstone instruction id, never by mnemonic text. Each address
is decoded on its own (no IT context), so the conditions of instructions inside an IT block are
not taken from Capstone: the IT instruction's own encoding gives them (`Instr.it_conds`), and
the engine tracks the IT state while it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs
from capstone import arm_const as A

PC, LR, SP = 15, 14, 13
COND_AL = 15  # Capstone's ARM_CC_AL; conditions below use Capstone's numbering (EQ = 1 ...)

# Instruction classes (the `klass` field). Costs per class live in timing/cortex_m4.py.
ALU = "alu"  # every 1-cycle data-processing, multiply, DSP, hint, system instruction
NOP = "nop"
IT = "it"
DIV = "div"
LOAD = "load"  # single load (LDR/LDRB/LDRH/LDRSB/LDRSH/LDREX/LDRT..., 1-register LDM w/o wb)
STORE = "store"  # single store, immediate offset
STORE_REG = "store_reg"  # single store with register offset, or STREX (base 2)
LOAD_DOUBLE = "load_double"
STORE_DOUBLE = "store_double"
LOAD_MULTI = "load_multi"  # LDM/LDMDB/POP without PC
STORE_MULTI = "store_multi"  # STM/STMDB/PUSH
VLOAD = "vload"  # VLDR
VSTORE = "vstore"  # VSTR
VLOAD_MULTI = "vload_multi"  # VLDM/VPOP
VSTORE_MULTI = "vstore_multi"  # VSTM/VPUSH
FIXED = "fixed"  # a fixed multi-cycle cost (VMLA 3, VDIV 14, ...), see `cost`
BARRIER = "barrier"  # DMB/DSB
ISB = "isb"
B = "b"  # B / B<cond> (decode-time)
BL = "bl"  # BL immediate (decode-time; does not make LR dirty)
BX = "bx"  # BX/BLX register, MOV PC,Rm, ADD PC,Rm (decode-time when Rm = LR and LR clean)
CBZ = "cbz"
LDR_PC = "ldr_pc"
POP_PC = "pop_pc"  # LDM/POP with PC in the list
TB = "tb"  # TBB/TBH
BKPT = "bkpt"  # semihosting / breakpoint
SVC = "svc"
WFI = "wfi"

LOAD_CLASS = frozenset({LOAD, LOAD_DOUBLE, LOAD_MULTI, VLOAD, VLOAD_MULTI, LDR_PC, POP_PC, TB})
STORE_CLASS = frozenset({STORE, STORE_REG, STORE_DOUBLE, STORE_MULTI, VSTORE, VSTORE_MULTI})
MEMORY_CLASS = LOAD_CLASS | STORE_CLASS
SINGLE_LOAD = frozenset({LOAD, VLOAD})
SINGLE_STORE = frozenset({STORE, STORE_REG, VSTORE})
BRANCH_CLASS = frozenset({B, BL, BX, CBZ, LDR_PC, POP_PC, TB})

_CORE_REGS = {f"r{i}": i for i in range(13)}
_CORE_REGS.update({"sb": 9, "sl": 10, "fp": 11, "ip": 12, "sp": 13, "lr": 14, "pc": 15})

_SINGLE_LOADS = {
    A.ARM_INS_LDR,
    A.ARM_INS_LDRB,
    A.ARM_INS_LDRH,
    A.ARM_INS_LDRSB,
    A.ARM_INS_LDRSH,
    A.ARM_INS_LDRT,
    A.ARM_INS_LDRBT,
    A.ARM_INS_LDRHT,
    A.ARM_INS_LDRSBT,
    A.ARM_INS_LDRSHT,
    A.ARM_INS_LDREX,
    A.ARM_INS_LDREXB,
    A.ARM_INS_LDREXH,
}
_SINGLE_STORES = {
    A.ARM_INS_STR,
    A.ARM_INS_STRB,
    A.ARM_INS_STRH,
    A.ARM_INS_STRT,
    A.ARM_INS_STRBT,
    A.ARM_INS_STRHT,
}
_EXCL_STORES = {A.ARM_INS_STREX, A.ARM_INS_STREXB, A.ARM_INS_STREXH}
_WIDTH = {
    A.ARM_INS_LDRB: 1,
    A.ARM_INS_LDRSB: 1,
    A.ARM_INS_LDRBT: 1,
    A.ARM_INS_LDRSBT: 1,
    A.ARM_INS_LDREXB: 1,
    A.ARM_INS_STRB: 1,
    A.ARM_INS_STRBT: 1,
    A.ARM_INS_STREXB: 1,
    A.ARM_INS_LDRH: 2,
    A.ARM_INS_LDRSH: 2,
    A.ARM_INS_LDRHT: 2,
    A.ARM_INS_LDRSHT: 2,
    A.ARM_INS_LDREXH: 2,
    A.ARM_INS_STRH: 2,
    A.ARM_INS_STRHT: 2,
    A.ARM_INS_STREXH: 2,
}
# Instructions that may be unaligned (M4-LS-UNAL, M4-GUG §3.3.5): LDR, LDRH, LDRSH, STR, STRH
# and their T forms.
_MAY_UNALIGN = {
    A.ARM_INS_LDR,
    A.ARM_INS_LDRH,
    A.ARM_INS_LDRSH,
    A.ARM_INS_LDRT,
    A.ARM_INS_LDRHT,
    A.ARM_INS_LDRSHT,
    A.ARM_INS_STR,
    A.ARM_INS_STRH,
    A.ARM_INS_STRT,
    A.ARM_INS_STRHT,
}
_LOAD_MULTI = {A.ARM_INS_LDM, A.ARM_INS_LDMDB, A.ARM_INS_POP}
_STORE_MULTI = {A.ARM_INS_STM, A.ARM_INS_STMDB, A.ARM_INS_PUSH}
_DESCENDING = {
    A.ARM_INS_LDMDB,
    A.ARM_INS_STMDB,
    A.ARM_INS_PUSH,
    A.ARM_INS_VPUSH,
    A.ARM_INS_VSTMDB,
    A.ARM_INS_VLDMDB,
}
_IMPLICIT_SP = {A.ARM_INS_POP, A.ARM_INS_PUSH, A.ARM_INS_VPOP, A.ARM_INS_VPUSH}
# M4-FPU-1: multi-cycle FPU data processing.
_FPU_FIXED = {
    A.ARM_INS_VMLA: 3,
    A.ARM_INS_VMLS: 3,
    A.ARM_INS_VNMLA: 3,
    A.ARM_INS_VNMLS: 3,
    A.ARM_INS_VFMA: 3,
    A.ARM_INS_VFMS: 3,
    A.ARM_INS_VFNMA: 3,
    A.ARM_INS_VFNMS: 3,
    A.ARM_INS_VDIV: 14,
    A.ARM_INS_VSQRT: 14,
}


@dataclass(frozen=True)
class MemOperand:
    """How to compute a single access's address from register values."""

    base: int  # core register number (15 = PC: Align(PC + 4, 4))
    index: int  # -1 when none
    shift: int  # LSL amount of the index register
    disp: int  # signed immediate offset (0 for post-indexed forms)
    subtract: bool  # index register subtracted


@dataclass(frozen=True)
class Instr:
    """One decoded Thumb instruction: what the timing model reads (spec §1.3)."""

    address: int
    size: int
    id: int
    text: str
    klass: str
    cost: int = 1  # base cost when executed and not a taken branch (for ALU/FIXED/...)
    reads: frozenset[int] = frozenset()
    writes: frozenset[int] = frozenset()
    addr_regs: frozenset[int] = frozenset()  # address registers of the memory access
    mem: MemOperand | None = None
    width: int = 0  # bytes per access (single transfers)
    nregs: int = 0  # register-list length (LDM/STM/PUSH/POP/VLDM...), beats for LDRD
    descending: bool = False  # LDMDB/STMDB/PUSH/VPUSH: the access starts below the base
    writeback: bool = False
    may_unalign: bool = False
    cond: int = COND_AL  # condition encoded in the instruction (B<cond>)
    it_conds: tuple[int, ...] = ()  # IT: conditions of the instructions it covers
    signed: bool = False  # SDIV
    div_regs: tuple[int, int] = (0, 0)  # SDIV/UDIV: numerator and divisor registers
    cmp_sp_first: bool = False  # CMP SP, Rm (M4-IT-FOLD condition 4)
    cps: bool = False
    sets_mask: bool = False  # CPS or MSR: may change PRIMASK/BASEPRI (exceptions can come in)
    fp: bool = False  # an FPU (CP10/CP11) instruction: NOCP UsageFault while CPACR denies it
    # Address bits that must be 0, or UNALIGNED UsageFault (LDRD, LDM, VLDR...), and the same
    # with CCR.UNALIGN_TRP set (natural alignment, ARMv7-M A3.2.1); set from the class.
    align: int = field(default=0, init=False)
    align_trp: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.klass in MEMORY_CLASS:
            align, align_trp = _alignment(self)
            object.__setattr__(self, "align", align)
            object.__setattr__(self, "align_trp", align_trp)

    @property
    def narrow(self) -> bool:
        return self.size == 2

    @property
    def memory(self) -> bool:
        return self.klass in MEMORY_CLASS

    @property
    def branch(self) -> bool:
        return self.klass in BRANCH_CLASS


def _regs(insn, ids) -> frozenset[int]:
    out = set()
    for r in ids:
        n = _CORE_REGS.get(insn.reg_name(r))
        if n is not None:
            out.add(n)
    return frozenset(out)


def _it_conds(insn) -> tuple[int, ...]:
    """Conditions of the instructions an IT covers, from its encoding 0xBF<firstcond><mask>."""
    half = insn.bytes[0] | insn.bytes[1] << 8
    firstcond, mask = (half >> 4) & 0xF, half & 0xF
    count = 4 - (mask & -mask).bit_length() + 1  # position of the lowest set mask bit
    conds = [firstcond]
    for k in range(1, count):
        bit = (mask >> (4 - k)) & 1
        conds.append((firstcond & 0xE) | bit)
    return tuple(c + 1 for c in conds)  # ARM condition code -> Capstone numbering


def classify(insn) -> Instr:
    """Build the Instr record of one Capstone instruction (detail mode)."""
    return _classify(insn)


_FP_GROUPS = frozenset(
    getattr(A, name)
    for name in ("ARM_GRP_VFP2", "ARM_GRP_VFP3", "ARM_GRP_VFP4", "ARM_GRP_FPARMV8", "ARM_GRP_DPVFP")
    if hasattr(A, name)
)
_WORD_ALIGNED = frozenset(
    {
        LOAD_DOUBLE,
        STORE_DOUBLE,
        LOAD_MULTI,
        STORE_MULTI,
        POP_PC,
        VLOAD,
        VSTORE,
        VLOAD_MULTI,
        VSTORE_MULTI,
    }
)


def _alignment(ins: Instr) -> tuple[int, int]:
    """(address bits that must always be 0, those with CCR.UNALIGN_TRP) of a memory access
    (ARMv7-M A3.2.1): LDRD/STRD, LDM/STM/PUSH/POP and the FPU's transfers need word alignment
    always, exclusives their natural alignment; LDR, LDRH, LDRSH, STR, STRH (and T forms), TBH
    may be unaligned unless UNALIGN_TRP asks for natural alignment."""
    if not ins.memory:
        return 0, 0
    if ins.klass in _WORD_ALIGNED:
        return 3, 3
    natural = max(ins.width, 1) - 1
    if ins.may_unalign or ins.klass in (TB, LDR_PC):
        return 0, natural
    return natural, natural


def _classify(insn) -> Instr:
    iid = insn.id
    reads_ids, writes_ids = insn.regs_access()
    reads, writes = _regs(insn, reads_ids), _regs(insn, writes_ids)
    common = dict(
        address=insn.address,
        size=insn.size,
        id=iid,
        text=f"{insn.mnemonic} {insn.op_str}".strip(),
        reads=reads,
        writes=writes,
        fp=not _FP_GROUPS.isdisjoint(insn.groups),
    )
    ops = insn.operands
    mem_op = next((o for o in ops if o.type == A.ARM_OP_MEM), None)
    mem = None
    post_index = False
    if mem_op is not None:
        index = _CORE_REGS.get(insn.reg_name(mem_op.mem.index), -1) if mem_op.mem.index else -1
        shift = mem_op.shift.value if mem_op.shift.type == A.ARM_SFT_LSL else 0
        post_index = bool(insn.writeback) and ops[-1] is not mem_op
        mem = MemOperand(
            base=_CORE_REGS[insn.reg_name(mem_op.mem.base)],
            index=index,
            shift=shift,
            disp=0 if post_index else mem_op.mem.disp,
            subtract=bool(mem_op.subtracted) and index >= 0,
        )
        addr_regs = frozenset(r for r in (mem.base, index) if r >= 0 and r != PC)
    writes_pc = PC in writes
    wb = bool(insn.writeback)

    if iid in _SINGLE_LOADS:
        if writes_pc:
            return Instr(
                klass=LDR_PC, mem=mem, addr_regs=addr_regs, width=4, writeback=wb, **common
            )
        return Instr(
            klass=LOAD,
            mem=mem,
            addr_regs=addr_regs,
            width=_WIDTH.get(iid, 4),
            writeback=wb,
            may_unalign=iid in _MAY_UNALIGN,
            **common,
        )
    if iid in _SINGLE_STORES:
        klass = STORE_REG if mem.index >= 0 else STORE
        return Instr(
            klass=klass,
            mem=mem,
            addr_regs=addr_regs,
            width=_WIDTH.get(iid, 4),
            writeback=wb,
            may_unalign=iid in _MAY_UNALIGN,
            **common,
        )
    if iid in _EXCL_STORES:
        return Instr(
            klass=STORE_REG, mem=mem, addr_regs=addr_regs, width=_WIDTH.get(iid, 4), **common
        )
    if iid in (A.ARM_INS_LDRD, A.ARM_INS_STRD):
        klass = LOAD_DOUBLE if iid == A.ARM_INS_LDRD else STORE_DOUBLE
        return Instr(
            klass=klass, mem=mem, addr_regs=addr_regs, width=4, nregs=2, writeback=wb, **common
        )
    if iid in _LOAD_MULTI or iid in _STORE_MULTI:
        implicit = iid in _IMPLICIT_SP
        base = SP if implicit else _CORE_REGS[insn.reg_name(ops[0].reg)]
        listed = ops if implicit else ops[1:]
        nregs = len(listed)
        m = MemOperand(base=base, index=-1, shift=0, disp=0, subtract=False)
        fields = dict(
            mem=m,
            addr_regs=frozenset({base}),
            width=4,
            nregs=nregs,
            descending=iid in _DESCENDING,
            writeback=wb or implicit,
        )
        if iid in _STORE_MULTI:
            return Instr(klass=STORE_MULTI, **fields, **common)
        if writes_pc:
            return Instr(klass=POP_PC, **fields, **common)
        if nregs == 1 and not (wb or implicit) and base not in writes:
            # M4-LS-LDM1: behaves as a single LDR, unless it loads its own base (CMEmu-HW
            # ldm_narrow: `ldm.n r5, {r5}; ldm.n r6, {r6}` alternating cost 2 each, no pairing)
            return Instr(klass=LOAD, **{**fields, "nregs": 0}, **common)
        return Instr(klass=LOAD_MULTI, **fields, **common)
    if iid in (A.ARM_INS_VLDR, A.ARM_INS_VSTR):
        double = any(insn.reg_name(o.reg).startswith("d") for o in ops if o.type == A.ARM_OP_REG)
        klass = VLOAD if iid == A.ARM_INS_VLDR else VSTORE
        # M4-FPU-1: VLDR/VSTR .32 = 2, .64 = 3
        return Instr(
            klass=klass,
            cost=3 if double else 2,
            mem=mem,
            addr_regs=addr_regs,
            width=8 if double else 4,
            **common,
        )
    if iid in (
        A.ARM_INS_VLDMIA,
        A.ARM_INS_VLDMDB,
        A.ARM_INS_VPOP,
        A.ARM_INS_VSTMIA,
        A.ARM_INS_VSTMDB,
        A.ARM_INS_VPUSH,
    ):
        implicit = iid in _IMPLICIT_SP
        base = SP if implicit else _CORE_REGS[insn.reg_name(ops[0].reg)]
        listed = ops if implicit else ops[1:]
        words = sum(2 if insn.reg_name(o.reg).startswith("d") else 1 for o in listed)
        load = iid in (A.ARM_INS_VLDMIA, A.ARM_INS_VLDMDB, A.ARM_INS_VPOP)
        m = MemOperand(base=base, index=-1, shift=0, disp=0, subtract=False)
        return Instr(
            klass=VLOAD_MULTI if load else VSTORE_MULTI,
            cost=1 + words,
            mem=m,
            addr_regs=frozenset({base}),
            width=4,
            nregs=words,
            descending=iid in _DESCENDING,
            writeback=wb or implicit,
            **common,
        )
    if iid in (A.ARM_INS_TBB, A.ARM_INS_TBH):
        return Instr(
            klass=TB, mem=mem, addr_regs=addr_regs, width=1 if iid == A.ARM_INS_TBB else 2, **common
        )
    if iid == A.ARM_INS_B:
        return Instr(klass=B, cond=insn.cc, **common)
    if iid == A.ARM_INS_BL:
        return Instr(klass=BL, **common)
    if iid in (A.ARM_INS_BX, A.ARM_INS_BLX):
        if ops and ops[0].type == A.ARM_OP_IMM:  # BLX immediate does not exist on M-profile
            return Instr(klass=BL, **common)
        return Instr(klass=BX, **common)
    if iid in (A.ARM_INS_CBZ, A.ARM_INS_CBNZ):
        return Instr(klass=CBZ, **common)
    if writes_pc:  # MOV PC, Rm; ADD PC, Rm
        return Instr(klass=BX, **common)
    if iid == A.ARM_INS_IT:
        return Instr(klass=IT, it_conds=_it_conds(insn), **common)
    if iid in (A.ARM_INS_NOP, A.ARM_INS_HINT) and _hint_number(insn) == 0:
        return Instr(klass=NOP, **common)
    if iid in (A.ARM_INS_UDIV, A.ARM_INS_SDIV):
        regs = [_CORE_REGS[insn.reg_name(o.reg)] for o in ops if o.type == A.ARM_OP_REG]
        n, m = (regs[1], regs[2]) if len(regs) == 3 else (regs[0], regs[1])
        return Instr(klass=DIV, signed=iid == A.ARM_INS_SDIV, div_regs=(n, m), **common)
    if iid in _FPU_FIXED:
        return Instr(klass=FIXED, cost=_FPU_FIXED[iid], **common)
    if iid == A.ARM_INS_VMOV and _vmov_two_core(insn):
        return Instr(klass=FIXED, cost=2, **common)  # M4-FPU-1: two core registers, 2
    if iid in (A.ARM_INS_DMB, A.ARM_INS_DSB):
        return Instr(klass=BARRIER, **common)
    if iid == A.ARM_INS_ISB:
        return Instr(klass=ISB, cost=3, **common)
    if iid == A.ARM_INS_BKPT:
        return Instr(klass=BKPT, **common)
    if iid == A.ARM_INS_SVC:
        return Instr(klass=SVC, **common)
    if iid in (A.ARM_INS_WFI, A.ARM_INS_WFE):
        return Instr(klass=WFI, **common)
    cmp_sp = (
        iid == A.ARM_INS_CMP
        and ops
        and ops[0].type == A.ARM_OP_REG
        and _CORE_REGS.get(insn.reg_name(ops[0].reg)) == SP
    )
    cps = iid == A.ARM_INS_CPS
    sets_mask = cps or iid == A.ARM_INS_MSR
    return Instr(klass=ALU, cmp_sp_first=bool(cmp_sp), cps=cps, sets_mask=sets_mask, **common)


def _hint_number(insn) -> int:
    """The hint of a HINT encoding (0 = NOP, 1 = YIELD, 2 = WFE, 3 = WFI, 4 = SEV)."""
    raw = insn.bytes
    if insn.size == 2:
        return raw[0] >> 4
    return raw[2]


def _vmov_two_core(insn) -> bool:
    core = [
        o for o in insn.operands if o.type == A.ARM_OP_REG and insn.reg_name(o.reg) in _CORE_REGS
    ]
    return len(core) == 2


class Decoder:
    """Decodes and caches one `Instr` per address, reading code through `read(address, n)`."""

    def __init__(self, read: Callable[[int, int], bytes]):
        self._read = read
        self._cs = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
        self._cs.detail = True
        self._cache: dict[int, Instr] = {}

    def __call__(self, address: int) -> Instr:
        found = self._cache.get(address)
        if found is None:
            found = self._cache[address] = self._decode(address)
        return found

    def _decode(self, address: int) -> Instr:
        code = bytes(self._read(address, 2))  # a 16-bit one may end its memory region
        if thumb_width(code) == 4:
            code = bytes(self._read(address, 4))
        insn = next(self._cs.disasm(code, address, 1), None)
        if insn is None:
            # Undefined or data: time it as a 1-cycle instruction of its encoded width
            # (Unicorn raises the fault when it really executes).
            return Instr(
                address=address, size=thumb_width(code), id=0, text="(undefined)", klass=ALU
            )
        return classify(insn)


def thumb_width(code: bytes) -> int:
    """2 or 4: the width of the Thumb instruction starting with these bytes."""
    half = code[0] | code[1] << 8
    return 4 if (half >> 11) in (0b11101, 0b11110, 0b11111) else 2
