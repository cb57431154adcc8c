"""Cortex-M4 timing rules (shared/timing/cortex-m4.md) as pure functions, and the pipeline
sequencer that applies them to instructions one at a time in execution order.

Accounting (M4-ACC-1): each executed or condition-failed instruction k has an issue cycle t_k
and a cost c_k = t_{k+1} - t_k. Pairing discounts and penalties that depend on the next
instruction are charged to the earlier one, so c_k is final only when k+1 is known; the
sequencer therefore keeps one *pending* instruction and settles it when the next one arrives.

Explaining (`Pipeline.explain`, for `cmsim annotate`): when set, the sequencer also reports each
settled instruction's cost as (reason, cycles) parts, recorded by the same code that applies
each rule, so the parts always sum to the cost; when unset, no parts are built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cmsim import decode as D
from cmsim.decode import LR, PC, SP, Instr
from cmsim.memory import PPB_BLOCK, MemoryModel

# -- base costs (section 2) ---------------------------------------------------------------------

# Executed, not-taken cost per class. Single loads are 2 before pipelining (§2.5); LDRD/STRD 3
# (M4-LS-MULTI); LDM/STM 1 + N is computed from the register count.
BASE_COST = {
    D.ALU: 1,  # M4-DP-1, M4-MUL-1, M4-DSP-1, hints, MRS/MSR/CPS (§2.8: 1 chosen)
    D.NOP: 1,  # §2.8
    D.IT: 1,  # M4-IT-FOLD: 1 unless folded
    D.LOAD: 2,  # §2.5
    D.STORE: 1,  # §2.5 immediate offset
    D.STORE_REG: 2,  # §2.5 register offset / STREX
    D.LOAD_DOUBLE: 3,  # M4-LS-MULTI
    D.STORE_DOUBLE: 3,  # M4-LS-MULTI
    D.BARRIER: 1,  # §2.8 DMB/DSB (+1 after a single store)
    D.B: 1,  # not taken (M4-BR-NT adds the bubble)
    D.BL: 1,
    D.BX: 1,  # only not taken inside IT
    D.CBZ: 1,  # M4-BR-1: CBZ not taken 1
    D.LDR_PC: 1,
    D.POP_PC: 1,
    D.TB: 1,
    D.BKPT: 1,  # §2.8: semihosting host time not counted
    D.SVC: 1,
    D.WFI: 1,
}

# M4-BR-1: taken costs at 0 WS (the branch's own cost, refill included).
TAKEN_DECODE_TIME = 2  # B, B<cond>, BL, BX LR with clean LR
TAKEN_EXECUTE_TIME = 3  # BX Rm, BLX Rm, MOV PC,Rm, ADD PC,Rm, dirty BX LR
TAKEN_CBZ = 3
TAKEN_LDR_PC = 5
TAKEN_POP_PC_EXTRA = 4  # N + 4 (N counts PC)
TAKEN_TB = 6
CONDITION_FAILED = 1  # M4-IT-SKIP

# -- cost components (for `cmsim annotate`) ------------------------------------------------------
# An explained instruction's cost is a list of (reason, cycles) parts that sums to the cost; each
# reason names the rule that charged it. Savings are negative.
Part = tuple[str, int]
BASE = "base"  # section 2 base cost (executed, not taken)
FAILED = "condition failed (M4-IT-SKIP)"
DIVIDE = "divide (M4-DIV-1)"  # operand-dependent, 2..12
REFILL = "branch refill (M4-BR-1)"  # for loads to PC it includes the load's data phase
LR_DIRTY = "LR dirty (M4-BR-LR)"
MISALIGNED_TARGET = "misaligned target (M4-BR-F1)"
NOT_TAKEN = "not-taken bubble (M4-BR-NT)"
PIPELINED = "pipelined load (M4-LS-PIPE)"
STORE_LOAD = "store->load (M4-LS-STLD)"
ABSORBED = "absorbed (M4-LS-ABS)"
FOLDED = "folded IT (M4-IT-FOLD)"
AGU = "AGU stall (M4-LS-AGU)"
LOADED_ADDRESS = "address loaded late (M4-LS-AGU)"  # see loaded_address_stall
UNALIGNED = "unaligned (M4-LS-UNAL)"
WAIT_STATES = "wait states (M4-MEM-DATA)"
DEVICE_STORE = "device store wait states (M4-LS-WB)"
STORE_WAIT = "store wait states (M4-MEM-1)"
BITBAND = "bit-band read-modify-write (M4-MEM-BB)"
# M4-MEM-BB: a store to a bit-band alias reads the target, modifies it and writes it back,
# locked: 3 cycles more than a store to the target (CMEmu-HW misc/bitbanding/ldr_str: str.w to
# an alias 7 against 4 between two CYCCNT reads, CC2652, code in flash behind the line buffer).
BITBAND_STORE = 3
# M4-MEM-BB: a bit-band access reaches the memory one cycle late, so a code read that starts
# with it takes the bus first (CMEmu-HW bitbanding/ldr_str from SRAM: ldr.w 3, str.w 6).
BITBAND_LAG = 1
# M4-LS-WB: an unbuffered immediate-offset store's second cycle, with code read registered over
# its bus (see Pipeline.issue)
UNBUFFERED_SECOND_CYCLE = 1
WRITE_BUFFER_OFF = "write buffer off (M4-LS-WB)"  # ACTLR.DISDEFWBUF: the store is not buffered
BARRIER_DRAIN = "barrier drain (§2.8)"
BUS_WAIT = "bus taken by a fetch (M4-MEM-BUS)"  # the access waits for a code read's cycle
FETCH = "fetch stall (M4-MEM-FETCH)"  # waiting for the next instruction's flash line
EXC_ENTRY = "exception entry (M4-EXC-ENTRY)"  # on the handler's first instruction, as profiles do
EXC_RETURN = "exception return (M4-EXC-EXIT/TAIL)"  # replaces the return instruction's cost
ASLEEP = "asleep (§2.8 WFI)"  # a WFI's time asleep, until an exception wakes the core
WIDE_RUN = "unaligned 32-bit run (M4-FE-1)"  # only with the board option
EXTRA = "other stalls"  # `extra` whose parts were not recorded (a restored snapshot)

# explain(step, cost, parts): a settled instruction, its cost and the parts that sum to it.
Explainer = Callable[["Step", int, list[Part]], None]


def base_cost(ins: Instr) -> int:
    """Executed cost of an instruction before pairing, memory and branch effects (section 2)."""
    k = ins.klass
    if k in (D.LOAD_MULTI, D.STORE_MULTI):
        return 1 + ins.nregs  # M4-LS-MULTI: 1 + N
    if k in (D.FIXED, D.VLOAD, D.VSTORE, D.VLOAD_MULTI, D.VSTORE_MULTI, D.ISB):
        return ins.cost  # M4-FPU-1 table values, ISB 3 (§2.8)
    return BASE_COST[k]


def highest_bit(x: int) -> int:
    """h(x) of M4-DIV-1: floor(log2 x) for x > 0."""
    return x.bit_length() - 1


def udiv_cycles(n: int, m: int) -> int:
    """M4-DIV-1, UDIV: cycles from the operand values (unsigned 32-bit)."""
    n &= 0xFFFFFFFF
    m &= 0xFFFFFFFF
    if n == 0 or m == 0:
        return 2
    if highest_bit(n) < highest_bit(m):
        return 3
    return 5 + (highest_bit(n) - highest_bit(m)) // 4


def sdiv_cycles(n: int, m: int) -> int:
    """M4-DIV-1, SDIV: cycles from the operand values (signed 32-bit, given as raw words)."""
    n &= 0xFFFFFFFF
    m &= 0xFFFFFFFF
    if n == 0 or m == 0:
        return 2
    int_min = 0x80000000
    neg_n, neg_m = n & int_min, m & int_min
    a = ((-n) & 0xFFFFFFFF) if neg_n else n  # |INT_MIN| = 0x80000000 as unsigned
    b = ((-m) & 0xFFFFFFFF) if neg_m else m
    d = highest_bit(a) - highest_bit(b)
    power_of_two = b & (b - 1) == 0
    if neg_m and power_of_two and n != int_min:
        d += 1
    if neg_m and not power_of_two and n == int_min:
        d -= 1
    return 3 if d < 0 else 5 + d // 4


def unaligned_extra(ins: Instr, address: int) -> int:
    """M4-LS-UNAL: extra cycles of an unaligned LDR/LDRH/LDRSH/STR/STRH."""
    if not ins.may_unalign:
        return 0
    if ins.width == 4:
        low = address & 3
        return 0 if low == 0 else (1 if low == 2 else 2)
    if ins.width == 2:
        return address & 1
    return 0


def taken_cost(ins: Instr, lr_dirty: bool) -> int:
    """M4-BR-1 (with M4-BR-LR for BX LR): cost of a taken branch before M4-BR-F1."""
    k = ins.klass
    if k in (D.B, D.BL):
        return TAKEN_DECODE_TIME
    if k == D.BX:
        if ins.reads - {PC} == {LR} and not lr_dirty:
            return TAKEN_DECODE_TIME  # BX LR / BLX LR / MOV PC, LR with clean LR
        return TAKEN_EXECUTE_TIME
    if k == D.CBZ:
        return TAKEN_CBZ
    if k == D.LDR_PC:
        return TAKEN_LDR_PC
    if k == D.POP_PC:
        return ins.nregs + TAKEN_POP_PC_EXTRA
    if k == D.TB:
        return TAKEN_TB
    raise ValueError(f"not a branch: {ins.text}")


def target_misaligned(target: Instr) -> int:
    """M4-BR-F1: +1 when a taken branch lands on a 32-bit instruction at 2 mod 4."""
    return 1 if target.size == 4 and target.address & 2 else 0


def not_taken_bubble(next_sizes: tuple[int, int]) -> int:
    """M4-BR-NT: a not-taken B<cond> costs 1 more unless the next two instructions fetched for
    execution are 16-bit. When the fall-through instruction always writes PC, nothing after it
    is executed next: the engine gives its own width twice (issue 13, silicon check)."""
    return 0 if next_sizes == (2, 2) else 1


def always_writes_pc(ins: Instr) -> bool:
    """An instruction that branches whenever it executes (what follows it in memory is not the
    next instruction): B, BL, BX/BLX, LDR PC, POP/LDM {PC}, TBB/TBH; not B<cond>, CBZ/CBNZ."""
    if ins.klass == D.B:
        return ins.cond == D.COND_AL
    return ins.klass in (D.BL, D.BX, D.LDR_PC, D.POP_PC, D.TB)


def writes_lr(ins: Instr) -> bool:
    """M4-BR-LR: does executing `ins` make LR dirty? (BL immediate does not.)"""
    return LR in ins.writes and ins.klass != D.BL


def it_folds(prev: Instr, prev_in_it: bool) -> bool:
    """M4-IT-FOLD: an IT costs 0 after a 16-bit, non-memory, non-branch instruction that does
    not write SP, is not CMP SP,Rm or CPS, and is not itself in an IT block."""
    return (
        prev.size == 2
        and not prev.memory
        and not prev.branch
        and prev.klass not in (D.IT, D.BKPT, D.SVC)
        and SP not in prev.writes
        and not prev.cmp_sp_first
        and not prev.cps
        and not prev_in_it
    )


def is_single_load(ins: Instr) -> bool:
    """Spec §3 notation: a single load (LDR PC excluded, M4-LS-PIPE condition 3)."""
    return ins.klass in D.SINGLE_LOAD


def pipelines(
    i: Instr, i_block: str, j: Instr, j_block: str, i_bus: str = "", j_bus: str = ""
) -> bool:
    """M4-LS-PIPE: the single load i overlaps its data phase with the executed access j (the
    buses are the regions' named buses, where the board names them)."""
    if j.klass not in D.SINGLE_LOAD and j.klass not in D.SINGLE_STORE:
        return False
    if j.addr_regs & i.writes:  # condition 1: j's address needs i's result or writeback
        return False
    if i_block != j_block and not _store_on_other_bus(j, i_bus, j_bus):
        return False  # condition 2 (M4-MEM-BLOCK)
    # condition 3: i does not *load* SP (PC Rt is LDR_PC, not here). A writeback of SP as the
    # base does not count: `ldr r8, [sp], #4; ldr r0, [ip]` pairs to 3 on an STM32F407
    # (issue 13, spec M4-LS-PIPE silicon check).
    return SP not in loaded_registers(i)


def _store_on_other_bus(j: Instr, i_bus: str, j_bus: str) -> bool:
    """M4-MEM-BLOCK: a store on another bus than the load before it (both named) overlaps the
    load's data phase although the blocks differ: the D-Code bus's load and the System bus's
    store do not meet. CMEmu-HW `ldr_str_timing` on the CC2652, code in SRAM: `ldr.n r0, [r5]`
    from flash, `str.n r1, [r6]` to SRAM, write buffer off, cost 6 per pair, not 7 (from GPRAM,
    on the System bus as the SRAM, 4 per pair instead of 3: no overlap)."""
    return j.klass in D.SINGLE_STORE and bool(i_bus) and bool(j_bus) and i_bus != j_bus


def unbuffered_store_pipelined(i: Step | None, j: Step, code_ready: int | None) -> bool:
    """M4-LS-WB: the unbuffered immediate-offset store j follows the unbuffered one i and its
    code was in the fetch queue when i issued (`code_ready`: when j's last code word arrived,
    None or earlier when it was there before); its address phase then overlaps i's write and
    j does not hold the bus for its own write, so a code read may take that cycle. Neither
    writes back its base. CMEmu-HW on the CC2652, code and data in SRAM, write buffer off:
    `str_imm` T1/T2, `str.n r5, [r6, #k]` runs cost 3, 3, then 2 per store (the code is
    queued ahead); `str.w` runs cost 3 each (each store's word arrives as it issues);
    `strb_strh`: `strb.n`/`strh.n` with an immediate offset as `str.n`."""
    return (
        i is not None
        and i.executed
        and i.unbuffered
        and j.unbuffered
        and i.ins.klass == D.STORE
        and j.ins.klass == D.STORE
        and not (i.ins.writeback or j.ins.writeback)
        and (code_ready is None or code_ready <= i.t)
    )


def loaded_registers(ins: Instr) -> frozenset[int]:
    """The registers a load writes with data from memory (its writeback base excluded)."""
    if ins.writeback and ins.mem is not None:
        return ins.writes - {ins.mem.base}
    return ins.writes


def agu_stall(i: Instr, j: Instr) -> int:
    """M4-LS-AGU: +1 on j when the non-load instruction i wrote one of j's address registers."""
    if i.klass in D.LOAD_CLASS or not j.memory:
        return 0
    return 1 if j.addr_regs & i.writes or _implicit_sp(j) & i.writes else 0


def loaded_address_stall(i: Instr, j: Instr) -> int:
    """M4-LS-AGU: +1 on the access j when one of its address registers is the one the last beat
    of the load i loaded, and i wrote back its base (LDR, LDRD or LDM with writeback, POP) or is
    a 16-bit LDM (its encoding writes the base back unless the list holds it, and a loaded base
    comes as late). A plain LDR or LDRD, or a 32-bit LDM/LDMDB without writeback, forwards its
    data to the next address in time, and so does an earlier beat of an LDM or LDRD. An LDM
    loads its list in register order; for an LDRD the higher register is taken as the second
    (as compilers write it). The cycle counts as the access's (LSUCNT); its bus beats keep their
    place and hold the bus that cycle longer. CMEmu-HW on the CC2652, code in SRAM and in flash:
    `ldm_narrow`, `ldm.n r5, {r5}` chains cost 3 each, `ldr.n r5, [r5]` chains 2 (also
    `linked_list`); `ldr_ldm_ldmdb_ldrd_deps`, `ldr.w r5, [r7, #8]!; ldr.n r3, [r5]`,
    `ldm.n r5, {r4, r5}; ldr.n r3, [r5]` and `ldm.w r5!, {r6, r7}; ldr.n r3, [r7]` cost 3,
    not 2, for the dependent load, with `[r4]` instead 2; `ldm.w r5, {r4, r5}` and
    `ldmdb.w r6, {r4, r5}` then `ldr.n r3, [r5]` cost 2. Counted so, `ldm_narrow`'s CPICNT and
    LSUCNT arrays are byte-exact (#0, #1, #2, #4)."""
    if i.klass not in D.LOAD_CLASS or not j.memory:
        return 0
    loaded = loaded_registers(i)
    if not loaded or max(loaded) not in j.addr_regs | _implicit_sp(j):
        return 0
    wrote_back = i.writeback and i.klass in (D.LOAD, D.LOAD_DOUBLE, D.LOAD_MULTI)
    late_data = wrote_back or (i.klass == D.LOAD_MULTI and i.size == 2)
    return 1 if late_data else 0


def _implicit_sp(j: Instr) -> frozenset[int]:
    return frozenset({SP}) if j.mem is not None and j.mem.base == SP else frozenset()


def read_beats(ins: Instr) -> int:
    """Bus beats of a load-class access (M4-MEM-DATA: wait states per beat)."""
    k = ins.klass
    if k in (D.LOAD_MULTI, D.POP_PC, D.VLOAD_MULTI):
        return ins.nregs
    if k == D.LOAD_DOUBLE:
        return 2
    if k == D.VLOAD:
        return ins.width // 4
    return 1


def access_bytes(ins: Instr) -> int:
    """Bytes covered by the access (for cache lines and region lookups)."""
    k = ins.klass
    if k in (D.LOAD_MULTI, D.STORE_MULTI, D.POP_PC, D.VLOAD_MULTI, D.VSTORE_MULTI):
        return 4 * ins.nregs
    if k in (D.LOAD_DOUBLE, D.STORE_DOUBLE):
        return 8
    return max(1, ins.width)


# -- exceptions (section 7) --------------------------------------------------------------------

EXCEPTION_ENTRY = 12  # M4-EXC-ENTRY: end of the interrupted instruction to the handler's first
EXCEPTION_EXIT = 10  # M4-EXC-EXIT: BX LR with EXC_RETURN to the returned-to instruction
TAIL_CHAIN = 6  # M4-EXC-TAIL: return instruction to the next handler's first instruction


def exception_return_cycles(ins: Instr, tail_chain: bool) -> int:
    """M4-EXC-EXIT / M4-EXC-TAIL: cycles from the issue of the exception-return instruction to
    the next instruction (returned-to context, or the chained handler). A POP/LDM of N registers
    adds N - 1 (the spec's attribution for exit [I]; tail-chaining mirrors it [I])."""
    cycles = TAIL_CHAIN if tail_chain else EXCEPTION_EXIT
    if ins.klass == D.POP_PC:
        cycles += ins.nregs - 1
    return cycles


def max_cycles(ins: Instr, wait_states: int) -> int:
    """An upper bound on one instruction's cycles, issue to next issue, when no access or fetch
    waits more than `wait_states`: the engine looks for exception points only in blocks whose
    bound reaches an exception's pend cycle."""
    cycles = 12 if ins.klass == D.DIV else base_cost(ins)  # M4-DIV-1: at most 12
    if ins.branch:
        cycles += TAKEN_TB + ins.nregs + 2  # M4-BR-1 (POP N + 4), M4-BR-LR, M4-BR-F1
    if ins.memory:
        beats = max(1, ins.nregs, ins.width // 4)
        cycles += 3 + beats * wait_states  # M4-LS-STLD, -AGU, -UNAL; M4-MEM-DATA
    return cycles + 2 + wait_states  # M4-BR-NT or a barrier drain; M4-MEM-FETCH


# -- the sequencer -----------------------------------------------------------------------------


@dataclass(slots=True)
class Step:
    """One issued instruction (executed or condition-failed) with its run-time facts."""

    ins: Instr
    executed: bool
    t: int  # issue cycle
    block: str = ""  # memory block of its access (executed memory instructions)
    bus: str = ""  # the named bus of its access's region (M4-MEM-BLOCK)
    extra: int = 0  # wait states, unaligned penalty, AGU stall, barrier drain
    absorbed: bool = False  # M4-LS-ABS decided by the predecessor
    folded: bool = False  # M4-IT-FOLD: an IT that costs 0
    in_it: bool = False
    div: int = 0  # value-dependent divide cost
    lr_dirty: bool = False  # M4-BR-LR: LR written by the predecessor
    device_store: bool = False
    unbuffered: bool = False  # a store to normal memory with the write buffer off (M4-LS-WB)
    write_ws: int = 0
    wide: int = 0  # the M4-FE-1 penalty in `extra`
    paired: int = 0  # dual issued with its predecessor (other cores' rules, e.g. M33-PAIR)
    agu: int = 0  # the M4-LS-AGU stall in `extra`
    loaded: int = 0  # the M4-LS-AGU wait for a late loaded address, in `extra`


NO_WIDE_RUN = (0, True, False)


class Pipeline:
    """Applies the Cortex-M4 rules to a stream of instructions in execution order.

    Call `issue(...)` for each instruction as it is about to execute; it returns the
    instruction's issue cycle. `finish()` settles the last one and returns the total cycles.
    """

    def __init__(self, memory: MemoryModel, next_sizes):
        self.memory = memory
        self.next_sizes = next_sizes  # address -> sizes of the two fall-through instructions
        self.pending: Step | None = None
        self.before_it: Step | None = None  # the instruction a folded IT sits on (M4-LS-AGU)
        self.time = 0  # issue cycle of the pending instruction
        self.instructions = 0
        # Set to explain every settled instruction's cost (annotate). Off, the rules only add
        # numbers; on, the same code paths also record which rule added what.
        self.explain: Explainer | None = None
        self._why: tuple[Step, list[Part]] | None = None  # parts of a step's extra (explaining)
        # Running [CPI, LSU, FOLD] totals of the DWT profiling counters (M4-DWT-2), from the
        # same parts, when set; exception and sleep cycles are counted by the engine.
        self.tally: list[int] | None = None
        # Cycles after an exception entry or return that belong to the next instruction (the
        # entry, a fetch stall), charged to its Step once it issues, as profiles charge them.
        self._carry: tuple[Step | None, list[Part]] | None = None
        # M4-FE-1 (a board option, off by default): the run of unaligned 32-bit instructions
        # in progress, as (length, first three all single loads/stores, penalty charged).
        self.wide_run_penalty = False
        self._wide_run = NO_WIDE_RUN

    def issue(self, ins: Instr, executed: bool, address: int | None, div: int, in_it: bool) -> int:
        """Add the next instruction; return its issue cycle.

        `address` is the first byte its memory access touches (None when it has none or its
        condition failed); `div` its divide cost (M4-DIV-1) when it is an executed divide.
        """
        prev = self.pending
        step = Step(ins, executed, 0, in_it=in_it, div=div)
        mem = self.memory
        # the parts of step.extra (explaining or counting)
        why = None if self.explain is None and self.tally is None else []
        if executed and address is not None:
            place = mem.place(address)
            step.block = place.block
            step.bus = place.region.bus if place.region is not None else ""
            k = ins.klass
            if k in D.LOAD_CLASS:
                wait = mem.read_wait(address, access_bytes(ins), read_beats(ins))
                reason = WAIT_STATES
            elif mem.unbuffered(address):
                step.device_store = True  # M4-LS-WB: unbuffered, full transfer now
                step.unbuffered = not mem.is_device(address)  # normal memory, buffer off
                wait = mem.write_wait(address, max(1, ins.nregs))
                reason = DEVICE_STORE
            else:
                step.write_ws = mem.write_wait(address, max(1, ins.nregs))
                wait, reason = 0, STORE_WAIT  # charged in _settle, if on the critical path
            unaligned = unaligned_extra(ins, address)  # M4-LS-UNAL
            if k not in D.LOAD_CLASS and mem.bitband(address):
                step.extra += BITBAND_STORE  # M4-MEM-BB: a locked read-modify-write
                if why is not None:
                    _note(why, BITBAND, BITBAND_STORE)
            step.extra += wait + unaligned
            if why is not None:
                _note(why, reason, wait)
                _note(why, UNALIGNED, unaligned)
        t = self.time
        if prev is not None:
            parts = None if why is None else []
            t += self._settle(prev, step, parts)
            self._decide_from_predecessor(prev, step, why)
        if self.wide_run_penalty:
            penalty = self._unaligned_wide_run(prev, step)
            step.extra += penalty
            step.wide = penalty
            if why is not None:
                _note(why, WIDE_RUN, penalty)
        if mem.has_slow_fetch:
            restart = prev is None or _flushes(prev, ins)
            if not restart and _speculated(prev):
                mem.speculate(prev.t)
            early = restart and prev is not None and _decode_time_taken(prev)
            # M4-MEM-FETCH, M4-MEM-BUS
            after_load = prev is not None and prev.executed and (
                prev.ins.klass in D.LOAD_CLASS or prev.device_store or prev.ins.klass == D.DIV
            )
            branch = restart and prev is not None and prev.ins.klass in D.BRANCH_CLASS
            stall = mem.fetch_stall(ins.address, ins.size, t, restart, early, after_load, branch)
            t += stall
            if stall and step.agu:
                self._hide_agu(step, min(stall, step.agu), why)
            if step.folded and not _in_queue_for(prev, mem.code_arrived()):
                step.folded = False  # M4-IT-FOLD: the IT was not fetched in time to fold
            if step.absorbed and not _fetched_for_data_phase(prev, mem.code_ready()):
                step.absorbed = False  # M4-LS-ABS: it came too late to run in the data phase
            if why is not None:
                if prev is not None:
                    _note(parts, FETCH, stall)  # the cycles before this issue are prev's (M4-ACC-1)
                elif self._carry is not None:  # after an exception: the new instruction's
                    _note(self._carry[1], FETCH, stall)
                if prev is None and self.tally is not None:  # no predecessor to charge it to
                    self.tally[0] += stall  # a fetch stall is CPI (M4-DWT-2)
        if why is not None:
            if prev is not None:
                self._report(prev, t - self.time, parts)
            elif self._carry is not None:  # the first instruction after an exception
                self._carry = (step, self._carry[1])
            self._why = (step, why)
        step.t = t
        if executed and address is not None and mem.has_slow_fetch:  # M4-MEM-BUS contention
            beats = read_beats(ins) if ins.klass in D.LOAD_CLASS else max(1, ins.nregs)
            # M4-MEM-BB: the bit-band unit reaches the memory a cycle after the core's address
            lag = BITBAND_LAG if mem.bitband(address) else 0
            if (
                step.unbuffered
                and ins.klass == D.STORE
                and not lag
                and mem.shares_registered_fetch(address)
            ):
                # M4-LS-WB: with code read registered over the same bus, an unbuffered
                # immediate-offset store takes a second cycle, as a register-offset one does
                # (CMEmu-HW `writes_pipelining`, `strb_strh`: a lone `str.w r5, [r7]` between
                # CYCCNT reads costs 3, as `str.w r5, [r6, r7]` does)
                step.extra += UNBUFFERED_SECOND_CYCLE
                if why is not None:
                    _note(why, WRITE_BUFFER_OFF, UNBUFFERED_SECOND_CYCLE)
            # the address phase waits out the AGU stall left (M4-LS-AGU)
            at = t + lag + step.agu
            # an unbuffered store holds the bus for its write (unless pipelined after another),
            # a late address for its cycle
            write = step.device_store and not unbuffered_store_pipelined(
                prev, step, mem.code_ready()
            )
            hold = int(write) + step.loaded
            loads_pc = ins.klass in (D.LDR_PC, D.POP_PC)
            wait = mem.data_access(address, beats, at, hold, step.agu > 0, loads_pc)
            if wait:
                step.extra += wait
                if why is not None:
                    _note(why, BUS_WAIT, wait)
        self.time = t
        self.pending = step
        self.instructions += 1
        return t

    @staticmethod
    def _hide_agu(step: Step, hidden: int, why: list[Part] | None) -> None:
        """M4-LS-AGU: an instruction that waited for its code had its address register by then;
        the stall overlaps the fetch wait (CMEmu-HW `ldr_ldm_ldmdb_ldrd_deps`: `ldr.n r5, [r7]`
        after `adds.n r7, r2` costs as after `adds.n r4, r2` when code streams from SRAM)."""
        step.agu -= hidden
        step.extra -= hidden
        if why is not None:
            why[:] = [(r, c - hidden if r == AGU else c) for r, c in why]
            why[:] = [(r, c) for r, c in why if c]

    def _unaligned_wide_run(self, prev: Step | None, step: Step) -> int:
        """M4-FE-1: in a run of consecutive executed 32-bit instructions at addresses = 2 mod 4
        (broken by a 16-bit or aligned one, a taken branch or an exception), the 3rd costs +1,
        or the 4th when the first three are single loads or stores; once per run."""
        ins = step.ins
        if not (step.executed and ins.size == 4 and ins.address % 4 == 2):
            self._wide_run = NO_WIDE_RUN
            return 0
        length, loads_stores, charged = self._wide_run
        if prev is None or (prev.ins.branch and ins.address != prev.ins.address + prev.ins.size):
            length, loads_stores, charged = NO_WIDE_RUN
        length += 1
        if length <= 3:
            loads_stores = loads_stores and ins.klass in D.SINGLE_LOAD | D.SINGLE_STORE
        penalty = 0
        if not charged and length == (4 if loads_stores else 3):
            penalty, charged = 1, True
        self._wide_run = (length, loads_stores, charged)
        return penalty

    def _decide_from_predecessor(self, prev: Step, step: Step, why: list[Part] | None) -> None:
        """Effects the predecessor has on the new instruction's own cost (`why` collects the
        parts it adds to step.extra when explaining)."""
        ins, p = step.ins, prev.ins
        if prev.folded:  # a folded IT does not separate i and j (M4-LS-AGU [I])
            before = self.before_it
        else:
            before = prev
        if step.executed:
            # M4-LS-AGU (a condition-failed predecessor writes nothing)
            if before is not None and before.executed and ins.memory:
                stall = agu_stall(before.ins, ins)
                step.extra += stall
                step.agu = stall
                if why is not None:
                    _note(why, AGU, stall)
                late = loaded_address_stall(before.ins, ins)
                step.extra += late
                step.loaded = late
                if why is not None:
                    _note(why, LOADED_ADDRESS, late)
            # M4-BR-LR
            step.lr_dirty = prev.executed and writes_lr(p)
            # §2.8 DMB/DSB: +1 after a single store (write buffer drain) [I]
            if ins.klass == D.BARRIER and prev.executed and p.klass in D.SINGLE_STORE:
                step.extra += 1
                if why is not None:
                    why.append((BARRIER_DRAIN, 1))
            # M4-IT-FOLD
            if ins.klass == D.IT and it_folds(p, prev.in_it or not prev.executed):
                step.folded = True
                self.before_it = prev
        # M4-LS-ABS: a NOP or condition-failed non-load, non-branch after an unpipelined load
        if prev.executed and not prev.absorbed:
            absorbable_nop = ins.klass == D.NOP and step.executed
            failed_plain = not step.executed and not ins.memory and not ins.branch
            if p.klass in D.SINGLE_LOAD and (absorbable_nop or failed_plain):
                step.absorbed = True
            elif (
                p.klass == D.STORE_REG and p.mem is not None and p.mem.index >= 0 and absorbable_nop
            ):
                step.absorbed = True

    def _settle(self, i: Step, j: Step, parts: list[Part] | None = None) -> int:
        """Final cost of the pending instruction i, now that the next one j is known.

        With `parts` (explaining), also append the (reason, cycles) parts of that cost.
        """
        ins = i.ins
        if i.absorbed and not self._folds_on(i, j):
            if parts is not None:
                self._explain_absorbed(i, parts)
            return 0  # M4-LS-ABS (a NOP carrying a folded IT is not absorbed)
        if not i.executed:
            cost = CONDITION_FAILED  # M4-IT-SKIP
            if parts is not None:
                parts.append((FAILED, cost))
            if ins.klass == D.B:  # M4-BR-NT also applies to a failed B inside an IT block
                bubble = not_taken_bubble(self.next_sizes(ins))
                if parts is not None:
                    _note(parts, NOT_TAKEN, bubble)
                cost += bubble
            return cost
        k = ins.klass
        if k == D.IT:
            if parts is not None:
                parts.append((BASE, 1))
                _note(parts, FOLDED, -i.folded)
            return 0 if i.folded else 1  # M4-IT-FOLD
        cost = i.div if k == D.DIV else base_cost(ins)
        cost += i.extra
        if parts is not None:
            parts.append((DIVIDE, i.div) if k == D.DIV else (BASE, base_cost(ins)))
            parts.extend(self._extra_parts(i))
        if ins.branch:
            fall_through = ins.address + ins.size
            conditional = k == D.CBZ or (k == D.B and ins.cond != D.COND_AL)
            taken = j.ins.address != fall_through if conditional else True
            if taken:
                # M4-BR-1 + M4-BR-F1; the load part's wait states stay in `extra`
                misaligned = target_misaligned(j.ins)
                if parts is not None:
                    _explain_taken(i, misaligned, parts)
                return taken_cost(ins, i.lr_dirty) + i.extra + misaligned
            if k == D.B:
                bubble = not_taken_bubble(self.next_sizes(ins))  # M4-BR-NT
                if parts is not None:
                    _note(parts, NOT_TAKEN, bubble)
                return cost + bubble
            return cost
        jx = j.executed
        if k in D.SINGLE_LOAD and jx and pipelines(ins, i.block, j.ins, j.block, i.bus, j.bus):
            cost -= 1  # M4-LS-PIPE: the next access overlaps this load's data phase
            if parts is not None:
                parts.append((PIPELINED, -1))
        elif k in D.SINGLE_STORE and jx and j.ins.klass in D.LOAD_CLASS and not i.device_store:
            cost += 1  # M4-LS-STLD
            if parts is not None:
                parts.append((STORE_LOAD, 1))
        if i.unbuffered and jx and j.ins.klass not in D.STORE_CLASS:
            cost += 1  # M4-LS-WB: write buffer off, the next non-store waits for the store
            if parts is not None:
                parts.append((WRITE_BUFFER_OFF, 1))
        if i.write_ws and jx and j.ins.memory:
            cost += i.write_ws  # §9.1 write_ws on the critical path
            if parts is not None:
                parts.append((STORE_WAIT, i.write_ws))
        return cost

    def _extra_parts(self, i: Step) -> list[Part]:
        """The recorded parts of the pending step's `extra` (one lump if they were not kept)."""
        why = self._why[1] if self._why is not None and self._why[0] is i else None
        if why is None:
            why = []
            _note(why, WIDE_RUN, i.wide)  # kept apart: it is CPI even on a load (M4-DWT-2)
            _note(why, AGU, i.agu)  # so is the wait for an address register
            _note(why, EXTRA, i.extra - i.wide - i.agu)
        return why

    def _explain_absorbed(self, i: Step, parts: list[Part]) -> None:
        """M4-LS-ABS: the cost the instruction would have had, then the same taken back."""
        cost = base_cost(i.ins) if i.executed else CONDITION_FAILED
        parts.append((BASE if i.executed else FAILED, cost))
        parts.append((ABSORBED, -cost))

    @staticmethod
    def _folds_on(i: Step, j: Step) -> bool:
        return j.ins.klass == D.IT and j.executed and it_folds(i.ins, i.in_it or not i.executed)

    # -- state snapshots (the fast path memoises blocks by the state they start from) ---------
    def snapshot(self) -> tuple:
        """The sequencer's state apart from time: hashable; equal states time equally."""
        return (
            _step_key(self.pending),
            _step_key(self.before_it) if self.pending is not None and self.pending.folded else None,
            self._wide_run,
            self._explained() if self.explain is not None else None,
        )

    def _explained(self) -> tuple:
        """While explaining: the parts kept for the pending step's extra, and what an exception
        left for the next instruction (or the pending one), so a restored sequencer explains
        exactly as the one it was saved from (the fast path times blocks from snapshots)."""
        pending = self.pending
        why = self._why
        kept = None
        if why is not None and pending is not None and why[0] is pending:
            kept = tuple(why[1])
        carry = self._carry
        left = None
        if carry is not None and (carry[0] is None or carry[0] is pending):
            left = (carry[0] is None, tuple(carry[1]))
        return kept, left

    def restore(self, snapshot: tuple, decode, time: int = 0) -> None:
        """Put the sequencer back in a snapshot's state, with the pending instruction at `time`."""
        pending, before, self._wide_run, explained = snapshot
        self.pending = _step_from_key(pending, decode, time)
        self.before_it = _step_from_key(before, decode, time)
        self.time = time
        if explained is not None:
            kept, left = explained
            self._why = None if kept is None else (self.pending, list(kept))
            self._carry = None
            if left is not None:
                self._carry = (None if left[0] else self.pending, list(left[1]))

    def enter_exception(self, cycles: int) -> int:
        """M4-EXC-ENTRY: the pending instruction ends with no successor to pair with, and the
        handler's first instruction issues `cycles` after its end; returns that cycle."""
        if self.explain is not None or self.tally is not None:
            self._report_final()
        if self.explain is not None:
            self._carry = (None, [(EXC_ENTRY, cycles)])
        self.time = self.total_if_finished() + cycles
        self.pending = None
        self.before_it = None
        self._wide_run = NO_WIDE_RUN  # an exception breaks the run (M4-FE-1)
        return self.time

    def wake_at(self, t: int) -> int:
        """§2.8 WFI/WFE: 1 + time asleep. The pending WFI ends no earlier than cycle `t`, when
        an exception wakes the core; returns when the next instruction (or entry) can start."""
        end = self.total_if_finished()
        if (self.explain is not None or self.tally is not None) and self.pending is not None:
            parts: list[Part] = []
            cost = self._final_cost(self.pending, parts)
            if t > end:
                parts.append((ASLEEP, t - end))
            self._report(self.pending, cost + max(0, t - end), parts)
        self.time = max(end, t)
        self.pending = None
        self.before_it = None
        self._wide_run = NO_WIDE_RUN  # an exception breaks the run (M4-FE-1)
        return self.time

    def return_from_exception(self, cycles: int) -> int:
        """M4-EXC-EXIT / M4-EXC-TAIL: the pending instruction is the exception return; the next
        instruction issues `cycles` after it (its own cost is replaced); returns that cycle."""
        if (self.explain is not None or self.tally is not None) and self.pending is not None:
            self._report(self.pending, cycles, [(EXC_RETURN, cycles)])
        if self.explain is not None and self.pending is not None:
            self._carry = (None, [])
        self.time += cycles
        self.pending = None
        self.before_it = None
        self._wide_run = NO_WIDE_RUN  # an exception breaks the run (M4-FE-1)
        return self.time

    def finish(self) -> int:
        """Settle the last instruction (no successor: not taken, no pairing); total cycles."""
        if self.explain is not None or self.tally is not None:
            self._report_final()
        self.time = self.total_if_finished()
        self.pending = None
        return self.time

    def total_if_finished(self) -> int:
        """The total `finish()` would give now, without changing the state."""
        i = self.pending
        if i is None:
            return self.time
        return self.time + self._final_cost(i)

    def events_if_last(self, i: Step) -> dwt_counters.Counts:
        """i's profiling counter events if nothing followed it (as `finish()` would settle it)."""
        parts: list[Part] = []
        self._final_cost(i, parts)
        return _events(i, parts)

    def _report_final(self) -> None:
        """Explain the pending instruction as the last before a stop or an exception entry."""
        i = self.pending
        if i is not None:
            parts: list[Part] = []
            self._report(i, self._final_cost(i, parts), parts)

    def _report(self, i: Step, cost: int, parts: list[Part]) -> None:
        """Hand a settled instruction to the explainer, with what an exception before it left,
        and count its parts (not what the exception left: the engine counts that itself)."""
        if self.tally is not None:
            _tally(self.tally, _events(i, parts))
        if self.explain is None:
            return
        carry = self._carry
        if carry is not None and carry[0] is i:
            self._carry = None
            parts[:0] = carry[1]
            cost += sum(cycles for _reason, cycles in carry[1])
        self.explain(i, cost, parts)

    def _final_cost(self, i: Step, parts: list[Part] | None = None) -> int:
        """Cost of the last instruction of a run (nothing follows it); `parts` as in _settle."""
        ins = i.ins
        if not i.executed:
            cost = CONDITION_FAILED
            if parts is not None:
                parts.append((FAILED, cost))
        elif ins.klass == D.IT:
            cost = 0 if i.folded else 1
            if parts is not None:
                parts.append((BASE, 1))
                _note(parts, FOLDED, -i.folded)
        elif i.absorbed:
            cost = 0
            if parts is not None:
                self._explain_absorbed(i, parts)
        else:
            cost = (i.div if ins.klass == D.DIV else base_cost(ins)) + i.extra
            if parts is not None:
                parts.append((DIVIDE, i.div) if ins.klass == D.DIV else (BASE, base_cost(ins)))
                parts.extend(self._extra_parts(i))
        return cost


def _speculated(prev: Step) -> bool:
    """Did prev (not taken: the next instruction follows it) have the fetch unit read its
    target speculatively: a decode-time conditional branch, B<cond> or, last in an IT block,
    B, BL, or BX/BLX/MOV PC with a clean LR (CMEmu decode.rs, Brchstat; ARM TRM 15.3)."""
    p = prev.ins
    if p.klass == D.B:
        return p.cond != D.COND_AL or prev.in_it
    if p.klass == D.BL:
        return prev.in_it
    if p.klass == D.BX and prev.in_it:
        return p.reads - {PC} == {LR} and not prev.lr_dirty
    return False


def _in_queue_for(prev: Step | None, arrived: int | None) -> bool:
    """M4-IT-FOLD: an IT folds only when decode sees it beside its predecessor, that is when
    its halfword is in the fetch queue by the time the predecessor leaves decode. From a
    word-by-word region it may arrive later (CMEmu-HW it_and_blx_bx_mov_pc_lr, code in SRAM:
    `movs.n; it.n` in one word fold, across two words after a branch they do not)."""
    return prev is None or arrived is None or arrived <= prev.t


def _fetched_for_data_phase(load: Step, ready: int | None) -> bool:
    """M4-LS-ABS: an absorbable NOP (or failed instruction) runs in the data phase of the
    access before it only if its code could issue then. From a word-by-word region it may
    arrive later: it then takes its own cycle and a fetch stall after it is CPI (CMEmu-HW
    umlal_mla_str_reg_agu_deps, code in SRAM: `ldr.n r6, [r5, #4]; nop.w; ldr.w r3, [CPICNT]`
    with the `nop.w` across two words counts LSUCNT 2 and CPICNT 3, not 1 and 4)."""
    return ready is None or ready <= load.t + 1


def _flushes(prev: Step, ins: Instr) -> bool:
    """Did the fetch restart between prev and the next instruction: a taken branch (also one to
    the next address), an ISB, or any jump in the address stream?"""
    p = prev.ins
    if p.address + p.size != ins.address or p.klass == D.ISB:
        return True
    return prev.executed and always_writes_pc(p)


def _decode_time_taken(prev: Step) -> bool:
    """Was prev a taken branch resolved in decode (M4-BR-1: B, BL, BX LR with a clean LR)?"""
    p = prev.ins
    decode_time = p.klass in (D.B, D.BL, D.BX) and taken_cost(p, prev.lr_dirty) == TAKEN_DECODE_TIME
    return prev.executed and decode_time


def _events(i: Step, parts: list[Part]) -> dwt_counters.Counts:
    """A settled instruction's profiling counter events (M4-DWT-2) from its cost parts. A
    condition-failed load/store makes no access: its stalls count as CPI, not LSU."""
    return dwt_counters.count_events(i.ins.memory and i.executed, parts)


def _tally(totals: list[int], counts: dwt_counters.Counts) -> None:
    """Add one settled instruction's CPI, LSU and FOLD counts to running totals."""
    totals[0] += counts.cpi
    totals[1] += counts.lsu
    totals[2] += counts.fold


def _note(parts: list[Part], reason: str, cycles: int) -> None:
    """Append a part unless it is zero (a rule that did not apply this time)."""
    if cycles:
        parts.append((reason, cycles))


def _explain_taken(i: Step, misaligned: int, parts: list[Part]) -> None:
    """M4-BR-1 taken cost as parts on top of the base already listed: the refill, the dirty-LR
    upgrade to an execute-time branch (M4-BR-LR) and M4-BR-F1."""
    ins = i.ins
    clean = taken_cost(ins, False)
    _note(parts, REFILL, clean - base_cost(ins))
    _note(parts, LR_DIRTY, taken_cost(ins, i.lr_dirty) - clean)
    _note(parts, MISALIGNED_TARGET, misaligned)


_STEP_FIELDS = (
    "executed",
    "block",
    "bus",
    "extra",
    "absorbed",
    "folded",
    "in_it",
    "div",
    "lr_dirty",
    "device_store",
    "unbuffered",
    "write_ws",
    "wide",
    "paired",
    "agu",
    "loaded",
)


def _step_key(step: Step | None) -> tuple | None:
    if step is None:
        return None
    return (step.ins.address,) + tuple(getattr(step, f) for f in _STEP_FIELDS)


def _step_from_key(key: tuple | None, decode, time: int) -> Step | None:
    if key is None:
        return None
    step = Step(decode(key[0]), key[1], time)
    for name, value in zip(_STEP_FIELDS[1:], key[2:], strict=True):
        setattr(step, name, value)
    return step


# The counter table names this module's reasons, so it is imported once they exist.
from cmsim.timing import dwt_counters  # noqa: E402

__all__ = [
    "BASE_COST",
    "EXCEPTION_ENTRY",
    "EXCEPTION_EXIT",
    "Explainer",
    "Part",
    "TAIL_CHAIN",
    "exception_return_cycles",
    "max_cycles",
    "Pipeline",
    "Step",
    "agu_stall",
    "loaded_address_stall",
    "base_cost",
    "it_folds",
    "not_taken_bubble",
    "pipelines",
    "sdiv_cycles",
    "taken_cost",
    "target_misaligned",
    "udiv_cycles",
    "unaligned_extra",
    "PPB_BLOCK",
]
