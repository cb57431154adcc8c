"""Runs a machine and counts: instructions per basic block, and the cycle clock the firmware sees.

Until the Cortex-M4 timing model lands, one instruction costs one cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs
from unicorn import UC_HOOK_BLOCK
from unicorn.arm_const import UC_ARM_REG_PC

from cmsim.errors import LimitReached
from cmsim.machine import Machine, Stop

DEFAULT_MAX_INSTRUCTIONS = 2_000_000_000


@dataclass
class RunResult:
    """What a run produced."""

    exit_code: int
    instructions: int
    cycles: int
    host_seconds: float
    output: bytes = field(repr=False)
    clock_hz: int

    @property
    def instructions_per_second(self) -> float:
        return self.instructions / self.host_seconds if self.host_seconds > 0 else 0.0

    @property
    def simulated_seconds(self) -> float:
        return self.cycles / self.clock_hz


class Engine:
    """Counts executed instructions by basic block and serves the clock to the peripherals."""

    def __init__(self, machine: Machine, max_instructions: int = DEFAULT_MAX_INSTRUCTIONS):
        self.machine = machine
        self.max_instructions = max_instructions
        self.instructions = 0  # up to and including the block being executed
        self._block_start = 0  # count before the current block
        self._block_addresses: tuple[int, ...] = ()
        self._blocks: dict[tuple[int, int], tuple[int, ...]] = {}
        self._disassembler = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
        self._block_observers: list[Callable[[int, int], None]] = []
        machine.clock = self
        machine.uc.hook_add(UC_HOOK_BLOCK, self._on_block)

    def add_block_observer(self, observer: Callable[[int, int], None]) -> None:
        """Call observer(block_address, cycle_at_block_start) for every executed basic block."""
        self._block_observers.append(observer)

    def _addresses(self, address: int, size: int) -> tuple[int, ...]:
        code = bytes(self.machine.uc.mem_read(address, size))
        found = tuple(a for a, _s, _m, _o in self._disassembler.disasm_lite(code, address))
        return found or (address,)

    def _on_block(self, _uc: object, address: int, size: int, _data: object) -> None:
        key = (address, size)
        addresses = self._blocks.get(key)
        if addresses is None:
            addresses = self._blocks[key] = self._addresses(address, size)
        if self.instructions + len(addresses) > self.max_instructions:
            where = self.machine.image.function_name(address)
            self.machine.stop(Stop(error=LimitReached(self.max_instructions, address, where)))
            return
        self._block_start = self.instructions
        self._block_addresses = addresses
        self.instructions += len(addresses)
        for observer in self._block_observers:
            observer(address, self._block_start)

    def _index_in_block(self) -> int:
        pc = self.machine.uc.reg_read(UC_ARM_REG_PC)
        try:
            return self._block_addresses.index(pc)
        except ValueError:
            return len(self._block_addresses)

    def issue_cycle(self) -> int:
        """Cycle at which the current instruction issues (1 cycle per instruction for now)."""
        return self._block_start + self._index_in_block()

    def next_issue_cycle(self) -> int:
        return self.issue_cycle() + 1

    def run(self) -> RunResult:
        """Reset and run the firmware to its exit; errors (faults, limits) propagate."""
        self.machine.reset()
        try:
            exit_code = self.machine.run()
        except Exception:
            self.instructions = self.issue_cycle()  # stop count at the faulting instruction
            raise
        return RunResult(
            exit_code=exit_code,
            instructions=self.instructions,
            cycles=self.instructions,
            host_seconds=self.machine.host_seconds,
            output=bytes(self.machine.semihost.output),
            clock_hz=self.machine.board.clock_hz,
        )
