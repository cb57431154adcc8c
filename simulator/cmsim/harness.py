"""Call firmware functions from Python with numpy buffers (AAPCS), and measure each call.

The harness loads an ELF once, places arrays in simulated memory (activations in the free SRAM
after ``__heap_start``, constant data in SRAM or in the unused flash after the image), calls a
function by name with the AAPCS convention (r0-r3, then the stack), runs until it returns to
the firmware's ``harness_return`` sentinel, and reports the cycles and instructions of the call
alone and its peak stack use.

Example::

    import numpy as np
    from cmsim.harness import Harness

    h = Harness("firmware/build/m4-ideal/kernel_harness.elf")
    data = h.put(np.array([-5, 3, -1, 7], dtype=np.int8))
    result = h.call("nn_relu_opt", data, 4, 0)      # int8 ReLU in place, zero point 0
    print(h.read(data), result.cycles, result.stack_bytes)
    h.free()                                        # release all buffers before the next case
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import numpy as np
from unicorn import UC_HOOK_CODE, UcError
from unicorn.arm_const import (
    UC_ARM_REG_LR,
    UC_ARM_REG_R0,
    UC_ARM_REG_R1,
    UC_ARM_REG_R2,
    UC_ARM_REG_R3,
    UC_ARM_REG_SP,
)

from cmsim.board import Board, load_board
from cmsim.engine import Engine
from cmsim.errors import CmsimError
from cmsim.image import load_image
from cmsim.machine import Machine, Stop

RETURN_SYMBOL = "harness_return"
STACK_FILL = 0xA5  # the stack is painted with this byte before each call (high-water mark)
OUTPUT_FILL = 0xCD  # fresh buffers hold this, so a kernel that skips an output is caught
ARGUMENT_REGISTERS = (UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3)
DEFAULT_CALL_LIMIT = 1_000_000_000
NEEDED_SYMBOLS = (RETURN_SYMBOL, "__heap_start", "__stack_limit", "__stack_top")
NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floating point


class HarnessError(CmsimError):
    """Misuse of the harness: unknown function, out of simulated memory, bad argument."""


@dataclass(frozen=True)
class Buffer:
    """An array placed in simulated memory."""

    address: int
    shape: tuple[int, ...]
    dtype: np.dtype
    region: str  # "sram" or "flash"

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@dataclass(frozen=True)
class CallResult:
    """What one call did: its return value (r0, signed) and its cost."""

    function: str
    value: int
    cycles: int  # engine cycles from the function's first instruction to its return
    instructions: int
    stack_bytes: int  # peak stack below the caller's SP, stack arguments excluded


class _Arena:
    """A bump allocator over [start, end)."""

    def __init__(self, name: str, start: int, end: int):
        self.name, self.start, self.end = name, start, end
        self.next = start

    def take(self, size: int, align: int) -> int:
        address = (self.next + align - 1) & ~(align - 1)
        if address + size > self.end:
            raise HarnessError(
                f"out of {self.name}: {size} bytes requested, "
                f"{max(self.end - address, 0)} free of {self.end - self.start}"
            )
        self.next = address + size
        return address


class Harness:
    """A firmware image loaded into a machine, ready for repeated function calls."""

    def __init__(
        self,
        elf: str | Path,
        board: str | Board = "m4-ideal",
        call_limit: int = DEFAULT_CALL_LIMIT,
        path: str = "fast",
    ):
        """Load `elf` on `board`; `call_limit` caps the instructions of any one call; `path`
        is the engine path ("fast" or "reference").

        The ELF must define the symbols of firmware/ld/sections.ld and harness/harness.c:
        `harness_return` (where a call returns to), `__heap_start` (free SRAM for buffers),
        `__stack_limit` and `__stack_top` (the stack the calls run on)."""
        if isinstance(call_limit, bool) or not isinstance(call_limit, Integral):
            raise HarnessError(f"call_limit must be an integer, not {type(call_limit).__name__}")
        if not 0 < call_limit < 1 << 62:
            raise HarnessError(f"call_limit must be from 1 to 2^62 - 1, not {call_limit}")
        self.image = load_image(elf)
        self.board = board if isinstance(board, Board) else load_board(board)
        symbols = {name: self._needed(name) for name in NEEDED_SYMBOLS}
        self._return = symbols[RETURN_SYMBOL] & ~1
        self.stack_top = symbols["__stack_top"]
        self.stack_limit = symbols["__stack_limit"]
        self._check_ram(symbols["__heap_start"])
        self.machine = Machine(self.image, self.board)
        self.engine = Engine(self.machine, path=path)
        self.call_limit = int(call_limit)
        self.uc = self.machine.uc
        self._sram = _Arena("sram", symbols["__heap_start"], self.stack_limit)
        self._flash = self._flash_arena()
        # Bounds of the running call: cycles from the engine's block observer (the cycle at
        # which the function's first block and the return sentinel's block start), and the
        # instruction count when the sentinel is reached.
        self._start_cycle: int | None = None
        self._exit_cycle: int | None = None
        self._exit_instructions: int | None = None
        self._entry = -1
        self.engine.add_block_observer(self._on_block)
        self.uc.hook_add(UC_HOOK_CODE, self._on_return, begin=self._return, end=self._return)

    def _needed(self, name: str) -> int:
        if name not in self.image.symbols:
            raise HarnessError(
                f"{self.image.path.name} has no symbol {name!r}; the harness needs "
                f"{', '.join(NEEDED_SYMBOLS)} (link with firmware/ld/sections.ld and "
                "firmware/harness/harness.c)"
            )
        return self.image.symbols[name]

    def _check_ram(self, heap_start: int) -> None:
        """The heap and the stack lie in the board's RAM (else the ELF was linked for another
        board); adjacent RAM regions (STM32F4's SRAM1 and SRAM2) count as one."""
        address, end = heap_start, self.stack_top
        while address < end:
            region = self.board.region_at(address)
            if region is None or region.kind not in ("sram", "ccm"):
                raise HarnessError(
                    f"{self.image.path.name} was linked for another board: its heap and stack "
                    f"0x{heap_start:08x}-0x{end:08x} are not in the RAM of board "
                    f"{self.board.name!r} (nothing writable at 0x{address:08x})"
                )
            starts = (region.base, *region.aliases)
            address = next(a + region.size for a in starts if a <= address < a + region.size)
        if end <= heap_start:
            raise HarnessError(f"{self.image.path.name}: __stack_top lies below __heap_start")

    def _flash_arena(self) -> _Arena:
        flash = next((r for r in self.board.regions if r.kind == "flash"), None)
        if flash is None:
            raise HarnessError(f"board {self.board.name!r} has no flash region")
        used = [
            s.load_address + len(s.data)
            for s in self.image.segments
            if flash.contains(s.load_address)
        ]
        return _Arena("flash", max(used, default=flash.base), flash.end)

    # -- memory ----------------------------------------------------------------------------
    def put(self, array: np.ndarray, region: str = "sram", align: int = 8) -> Buffer:
        """Copy `array` (C order, little endian) into a fresh buffer in `region`."""
        try:
            data = np.ascontiguousarray(array)
        except (TypeError, ValueError) as exc:
            raise HarnessError(f"cannot place {type(array).__name__} in memory: {exc}") from None
        buffer = self.alloc(data.shape, data.dtype, region, align)
        self.uc.mem_write(buffer.address, data.astype(data.dtype.newbyteorder("<")).tobytes())
        return buffer

    def alloc(
        self,
        shape: int | tuple[int, ...],
        dtype: np.dtype | type = np.int8,
        region: str = "sram",
        align: int = 8,
    ) -> Buffer:
        """A buffer of `shape` and `dtype` filled with 0xCD bytes (so unwritten outputs show)."""
        shape = _shape(shape)
        dtype = _dtype(dtype)
        if isinstance(align, bool) or not isinstance(align, Integral) or align <= 0:
            raise HarnessError(f"align must be a positive power of two, not {align!r}")
        if align & (align - 1) or align > 1 << 20:
            raise HarnessError(f"align must be a power of two up to 1 MiB, not {align}")
        align = int(align)
        arena = (
            {"sram": self._sram, "flash": self._flash}.get(region)
            if isinstance(region, str)
            else None
        )
        if arena is None:
            raise HarnessError(f"unknown region {region!r} (use 'sram' or 'flash')")
        size = math.prod(shape) * dtype.itemsize
        address = arena.take(max(size, 1), align)
        self.uc.mem_write(address, bytes([OUTPUT_FILL]) * size)
        return Buffer(address, shape, dtype, region)

    def struct(self, *fields: int, region: str = "sram") -> Buffer:
        """A struct of int32 fields (pointers included: pass Buffer.address or 0)."""
        return self.put(np.array([_word(f) for f in fields], dtype=np.uint32), region)

    def read(self, buffer: Buffer) -> np.ndarray:
        """The current contents of `buffer` as a numpy array of its shape and dtype."""
        if not isinstance(buffer, Buffer):
            raise HarnessError(f"read takes a Buffer (from put or alloc), not {_kind(buffer)}")
        shape = _shape(buffer.shape)
        size = math.prod(shape) * _dtype(buffer.dtype).itemsize
        address = buffer.address
        if isinstance(address, bool) or not isinstance(address, Integral) or address < 0:
            raise HarnessError(f"a Buffer's address must be an address, not {_kind(address)}")
        try:
            raw = bytes(self.uc.mem_read(int(address), size))
        except (UcError, OverflowError):
            raise HarnessError(
                f"cannot read {size:,} bytes at 0x{address:08x}: not in the board's memory"
            ) from None
        return np.frombuffer(raw, dtype=buffer.dtype.newbyteorder("<")).reshape(shape)

    def free(self) -> None:
        """Release every buffer (SRAM and flash) for the next case."""
        self._sram.next = self._sram.start
        self._flash.next = self._flash.start

    def reset_memory(self) -> None:
        """Start the next call from a cold memory system (empty flash caches, no prefetched
        line), as the first call of a fresh harness does: its cycles then do not depend on
        the calls before it."""
        self.engine.reset_memory()

    @property
    def sram_free(self) -> int:
        """Bytes still free in the SRAM arena."""
        return self._sram.end - self._sram.next

    # -- calls -----------------------------------------------------------------------------
    def call(self, function: str, *args: int | Buffer | None) -> CallResult:
        """Call `function(*args)`; Buffers pass their address, None passes NULL.

        Raises FirmwareFault (with PC and function) when the call faults, LimitReached when it
        runs past `call_limit` instructions.
        """
        entry = self.image.symbols.get(function) if isinstance(function, str) else None
        if entry is None or self.image.function_at(entry & ~1) is None:
            raise HarnessError(f"{self.image.path.name}: no function {function!r}")
        words = [_argument(k, a) for k, a in enumerate(args, start=1)]
        register_args, stack_args = words[:4], words[4:]
        sp = (self.stack_top - 4 * len(stack_args)) & ~7  # AAPCS: 8-byte aligned at the call
        if sp - 64 < self.stack_limit:
            raise HarnessError(f"too many stack arguments for {function}")
        painted = sp - self.stack_limit
        self.uc.mem_write(self.stack_limit, bytes([STACK_FILL]) * painted)
        if stack_args:
            self.uc.mem_write(sp, np.array(stack_args, dtype="<u4").tobytes())

        self.machine.reset()  # clears the previous run's stop reason
        for register, value in zip(ARGUMENT_REGISTERS, register_args, strict=False):
            self.uc.reg_write(register, value)
        self.uc.reg_write(UC_ARM_REG_SP, sp)
        self.uc.reg_write(UC_ARM_REG_LR, self._return | 1)
        self._start_cycle = self._exit_cycle = None
        self._exit_instructions = None
        self._entry = entry & ~1
        start_instructions = self.engine.instructions
        self.engine.max_instructions = start_instructions + self.call_limit
        self.machine.run(start=entry)
        if None in (self._start_cycle, self._exit_cycle, self._exit_instructions):
            raise HarnessError(f"{function} did not return to {RETURN_SYMBOL}")
        value = self.uc.reg_read(UC_ARM_REG_R0)
        return CallResult(
            function=function,
            value=value - (1 << 32) if value & 0x80000000 else value,
            cycles=self._exit_cycle - self._start_cycle,
            instructions=self._exit_instructions - start_instructions,
            stack_bytes=sp - self._lowest_touched(painted),
        )

    def _on_block(self, address: int, cycle: int) -> None:
        """Engine block observer: the cycle at which each block's first instruction issues."""
        if address == self._entry and self._start_cycle is None:
            self._start_cycle = cycle
        elif address == self._return and self._start_cycle is not None:
            if self._exit_cycle is None:
                self._exit_cycle = cycle

    def _on_return(self, _uc: object, _address: int, _size: int, _data: object) -> None:
        if self._exit_instructions is None:
            # The engine has counted the sentinel's one-instruction block by now: leave it out.
            self._exit_instructions = self.engine.instructions - 1
        self.machine.stop(Stop(exit_code=0))

    def _lowest_touched(self, painted: int) -> int:
        stack = np.frombuffer(bytes(self.uc.mem_read(self.stack_limit, painted)), dtype=np.uint8)
        touched = np.flatnonzero(stack != STACK_FILL)
        return self.stack_limit + int(touched[0]) if touched.size else self.stack_limit + painted


def _word(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise HarnessError(f"a 32-bit word must be an integer, not {_kind(value)}")
    if not -(1 << 31) <= value < (1 << 32):
        raise HarnessError(f"argument {value} does not fit in 32 bits")
    return int(value) & 0xFFFFFFFF


def _argument(position: int, value: object) -> int:
    """A call argument as a register word: an integer, a Buffer's address, or NULL for None."""
    if value is None:
        return 0
    if isinstance(value, Buffer):
        return value.address
    if isinstance(value, np.ndarray):
        raise HarnessError(
            f"argument {position} is a numpy array: place it in memory first "
            "(buffer = harness.put(array)) and pass the Buffer"
        )
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise HarnessError(
            f"argument {position} must be an integer, a Buffer or None, not {_kind(value)}"
        )
    return _word(value)


def _shape(shape: object) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, Integral) else shape
    try:
        dims = tuple(dims)
    except TypeError:
        message = f"shape must be an integer or a tuple of them, not {_kind(shape)}"
        raise HarnessError(message) from None
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, Integral) or dim < 0:
            raise HarnessError(f"shape {shape!r}: every size must be an integer >= 0")
    if math.prod(dims) > 1 << 32:
        raise HarnessError(f"shape {shape!r} holds more elements than 4 GiB of memory")
    return tuple(int(d) for d in dims)


def _dtype(dtype: object) -> np.dtype:
    try:
        found = np.dtype(dtype)
    except TypeError as exc:
        raise HarnessError(f"not a numpy dtype: {dtype!r} ({exc})") from None
    if found.kind not in NUMERIC_KINDS or found.subdtype is not None:
        raise HarnessError(
            f"dtype {found} cannot be placed in simulated memory: use a bool, integer or "
            "floating-point dtype"
        )
    return found


def _kind(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:30]}"
