"""The Unicorn M-profile machine: maps the board, loads the image, resets, runs, decodes faults."""

from __future__ import annotations

import ctypes
import mmap
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from unicorn import (
    UC_ARCH_ARM,
    UC_ERR_INSN_INVALID,
    UC_HOOK_INTR,
    UC_HOOK_MEM_INVALID,
    UC_MEM_FETCH_PROT,
    UC_MEM_FETCH_UNMAPPED,
    UC_MEM_READ_PROT,
    UC_MEM_READ_UNMAPPED,
    UC_MEM_WRITE_PROT,
    UC_MEM_WRITE_UNMAPPED,
    UC_MODE_MCLASS,
    UC_MODE_THUMB,
    UC_PROT_EXEC,
    UC_PROT_READ,
    UC_PROT_WRITE,
    Uc,
    UcError,
)
from unicorn.arm_const import (
    UC_ARM_REG_LR,
    UC_ARM_REG_PC,
    UC_ARM_REG_R0,
    UC_ARM_REG_R1,
    UC_ARM_REG_SP,
    UC_ARM_REG_XPSR,
)

from cmsim import exceptions as X
from cmsim.board import BITBAND_ALIAS_SIZE, Board, Region, bitband_target
from cmsim.errors import (
    BoardError,
    CmsimError,
    FirmwareFault,
    ImageError,
    Interrupted,
    OutputClosed,
    OutputError,
)
from cmsim.image import Image
from cmsim.peripherals import MARKER_BEGIN, PPB_BASE, PPB_SIZE, SystemPeripherals
from cmsim.semihost import Exit, Semihost, read_c_string

SEMIHOSTING_BKPT = 0xAB
# QEMU's exception numbers, as Unicorn reports them (EXCP_EXCEPTION_EXIT: a branch to EXC_RETURN)
EXCP_UDEF, EXCP_SWI, EXCP_PREFETCH_ABORT, EXCP_BKPT, EXCP_EXCEPTION_EXIT = 1, 2, 3, 7, 8
EXCP_NOCP, EXCP_INVSTATE = 17, 18
XPSR_T = 1 << 24  # the Thumb bit: clear after a branch to an even address
# Execute-never regions of the ARMv7-M default memory map (B3.1): Peripheral, Device, System
XN_RANGES = ((0x40000000, 0x60000000), (0xA0000000, 0x1_0000_0000))
NEVER = 0xFFFFFFFF  # an odd address: a Thumb PC can never equal it, so emu_start runs until stopped

ACCESS_FAULTS = {
    UC_MEM_READ_UNMAPPED: "read from unmapped memory",
    UC_MEM_WRITE_UNMAPPED: "write to unmapped memory",
    UC_MEM_FETCH_UNMAPPED: "bad PC: instruction fetch from unmapped memory",
    UC_MEM_WRITE_PROT: "write to read-only memory",
    UC_MEM_READ_PROT: "read from unreadable memory",
    UC_MEM_FETCH_PROT: "bad PC: instruction fetch from non-executable memory",
}


class Clock(Protocol):
    """What the machine asks of the engine: the model's time at the current instruction, and
    what to do on SVC and exception return (the engine models exceptions)."""

    def issue_cycle(self) -> int: ...

    def next_issue_cycle(self) -> int: ...

    def read_cycle(self) -> int: ...

    def profile_events(self, after: bool) -> tuple[int, int, int]: ...

    def on_svc(self, next_address: int) -> None: ...

    def on_exception_return(self, exc_return: int) -> None: ...

    def on_wfi(self, next_address: int) -> None: ...


class _NoClock:
    def issue_cycle(self) -> int:
        return 0

    def next_issue_cycle(self) -> int:
        return 0

    def read_cycle(self) -> int:
        return 0

    def profile_events(self, after: bool) -> tuple[int, int, int]:
        return (0, 0, 0)

    def on_svc(self, next_address: int) -> None:
        return None  # no engine: the machine reports a fault

    def on_exception_return(self, exc_return: int) -> None:
        return None

    def on_wfi(self, next_address: int) -> None:
        return None  # no engine: a WFI returns at once


@dataclass
class Stop:
    """Why the run ended: an exit code, or an error to raise."""

    exit_code: int | None = None
    error: CmsimError | None = None


class Machine:
    """A Cortex-M4 with the board's memory map and the image loaded, ready to reset and run."""

    def __init__(
        self,
        image: Image,
        board: Board,
        stdout: BinaryIO | None = None,
        stderr: BinaryIO | None = None,
    ):
        self.image = image
        self.board = board
        self.clock: Clock = _NoClock()
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        self._buffers: list[mmap.mmap] = []  # keep host memory behind mem_map_ptr alive
        try:
            self._map_regions()
        except (UcError, OSError, ValueError) as exc:  # the host cannot give that memory
            raise BoardError(f"board {board.name!r}: cannot map its memory: {exc}") from None
        self.peripherals = SystemPeripherals(
            lambda: self.clock.issue_cycle(),
            lambda: self.clock.next_issue_cycle(),
            self._on_marker,
            lambda after: self.clock.profile_events(after),
            lambda: self.clock.read_cycle(),
        )
        self.peripherals.has_cyccnt = board.core_spec.cyccnt  # none on ARMv6-M (timing/cores.py)
        self.marker_listeners: list[Callable[[str | None, int], None]] = []
        # No memory hook here: in Unicorn any memory hook sends every load and store through
        # its slow path (2.3-2.7x slower), and Unicorn does not update the PC register during
        # an MMIO callback. The clock knows which instruction is executing (the engine's code
        # hooks see each one before it executes), which is all a CYCCNT read or a marker needs.
        self.semihost = Semihost(stdout, stderr, self._centiseconds, self._readable)
        self._map_ppb()
        self._map_bitband()
        self.load(image)
        self.uc.hook_add(UC_HOOK_INTR, self._on_interrupt)
        self.uc.hook_add(UC_HOOK_MEM_INVALID, self._on_invalid_access)
        self._stop: Stop | None = None
        self.interrupted = False  # Ctrl-C during the run (see catching_interrupts)
        self._catching = False
        self._pending_fault: X.Fault | None = None
        self._action: Callable[[], None] | None = None
        self.host_seconds = 0.0

    # -- memory ----------------------------------------------------------------------------
    def _map_regions(self) -> None:
        windows = [
            (alias, alias + BITBAND_ALIAS_SIZE) for _t, alias in self.board.bitband_windows()
        ]
        for region in self.board.regions:
            if region.kind == "ppb":
                continue  # served by SystemPeripherals through MMIO callbacks
            perms = UC_PROT_READ | (UC_PROT_EXEC if region.exec else 0)
            if region.kind != "flash":
                perms |= UC_PROT_WRITE
            if not region.aliases and region.kind != "flash":
                for start, end in _without(region.base, region.end, windows):
                    self.uc.mem_map(start, end - start, perms)
                continue
            # One host buffer mapped at every alias; anonymous mmap pages stay lazy. Flash
            # starts erased (0xFF, as on a real part): a jump past the image meets
            # 0xFFFF 0xFFFF, an undefined instruction, not a sled of zeros (MOVS r0, r0).
            buffer = (
                _erased_flash(region.size) if region.kind == "flash" else mmap.mmap(-1, region.size)
            )
            self._buffers.append(buffer)
            address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
            for start in (region.base, *region.aliases):
                self.uc.mem_map_ptr(start, region.size, perms, address)

    def _map_bitband(self) -> None:
        """Bit-band alias windows: a word access reads or writes one bit of the target byte
        (read-modify-write of the target, as the bus does)."""
        for _target, alias in self.board.bitband_windows():

            def read(_uc: Uc, offset: int, _size: int, _data: object, alias=alias) -> int:
                byte, bit = bitband_target(alias + offset)
                return (self.uc.mem_read(byte, 1)[0] >> bit) & 1

            def write(
                _uc: Uc, offset: int, _size: int, value: int, _data: object, alias=alias
            ) -> None:
                byte, bit = bitband_target(alias + offset)
                old = self.uc.mem_read(byte, 1)[0]
                new = (old | (1 << bit)) if value & 1 else (old & ~(1 << bit))
                self.uc.mem_write(byte, bytes([new & 0xFF]))

            self.uc.mmio_map(alias, BITBAND_ALIAS_SIZE, read, None, write, None)

    def _map_ppb(self) -> None:
        def read(_uc: Uc, offset: int, size: int, _data: object) -> int:
            address = PPB_BASE + offset
            word = self.peripherals.read(address & ~3)
            return (word >> (8 * (address & 3))) & ((1 << (8 * size)) - 1)

        def write(_uc: Uc, offset: int, size: int, value: int, _data: object) -> None:
            address = PPB_BASE + offset
            if size == 4:
                self.peripherals.write(address, value)
                return
            shift, mask = 8 * (address & 3), (1 << (8 * size)) - 1
            word = self.peripherals.registers.get(address & ~3, 0)
            word = (word & ~(mask << shift)) | ((value & mask) << shift)
            self.peripherals.write(address & ~3, word)

        self.uc.mmio_map(PPB_BASE, PPB_SIZE, read, None, write, None)

    def load(self, image: Image) -> None:
        """Write every segment at its load address; each must fit the board's memory map."""
        for segment in image.segments:
            _check_fits(self.board, segment.name, segment.load_address, len(segment.data))
            _check_fits(self.board, segment.name, segment.virtual_address, segment.memory_size)
            if segment.data:
                self.uc.mem_write(segment.load_address, segment.data)

    def read_word(self, address: int) -> int:
        return int.from_bytes(self.uc.mem_read(address, 4), "little")

    # -- reset and run ---------------------------------------------------------------------
    def reset(self) -> None:
        """Reset as the core does: SP from vector word 0, PC from word 1 (M-profile reset).

        Without a plausible vector table at address 0, start at the ELF entry with the stack at
        the top of the first SRAM region.
        """
        sp, pc = self._vector_reset() or self._entry_reset()
        self.uc.reg_write(UC_ARM_REG_SP, sp)
        self.uc.reg_write(UC_ARM_REG_LR, 0xFFFFFFFF)
        self.uc.reg_write(UC_ARM_REG_PC, pc)
        self.pc = pc
        self._stop = None
        self._pending_fault = None
        self._action = None
        self.peripherals.nvic.reset()

    def _vector_reset(self) -> tuple[int, int] | None:
        """(SP, PC) from the vector table at 0, when its reset vector points to Thumb code. The
        SP is taken as it is (bits 1:0 read as zero), in RAM or not: a core with its stack
        outside RAM faults at the first push, and so does the simulation."""
        if self.board.region_at(0, 8) is None:
            return None
        sp, reset = self.read_word(0), self.read_word(4)
        code = self.board.region_at(reset & ~1, 2)
        if not reset & 1 or code is None or not code.exec or reset == 0xFFFFFFFF:
            return None
        return sp & ~3, reset

    def _entry_reset(self) -> tuple[int, int]:
        sram = self.board.first_sram()
        return sram.end, self.image.entry | 1

    def stop(self, stop: Stop) -> None:
        """Ask the run loop to end (called from hooks)."""
        if self._stop is None:
            self._stop = stop
        on_stop = getattr(self.clock, "on_stop", None)
        if on_stop is not None:
            on_stop()  # the engine delivers events it still holds for the code run so far
        self.uc.emu_stop()

    def _after_wfi(self, pc: int) -> bool:
        """The instruction before `pc` is a WFI or WFE (16- or 32-bit encoding)."""
        try:
            narrow = bytes(self.uc.mem_read(pc - 2, 2))
            wide = bytes(self.uc.mem_read(pc - 4, 4))
        except UcError:
            return False
        return narrow in (b"\x30\xbf", b"\x20\xbf") or wide in (
            b"\xaf\xf3\x03\x80",
            b"\xaf\xf3\x02\x80",
        )

    def interrupt(self, action: Callable[[], None]) -> None:
        """Stop the emulation before the next instruction, run `action` (exception entry or
        return: it changes registers and memory) and go on at the PC it leaves."""
        self._action = action
        self.uc.emu_stop()

    @property
    def interrupting(self) -> bool:
        """An interrupt() is under way: hooks must not time anything more."""
        return self._action is not None

    def run(self, start: int | None = None) -> int:
        """Run until the firmware exits; return its exit code or raise the error that stopped it
        (Interrupted after Ctrl-C: the run stops at the next block)."""
        begin = time.perf_counter()
        pc = self.uc.reg_read(UC_ARM_REG_PC) if start is None else start
        with self.catching_interrupts():
            on_run = getattr(self.clock, "on_run", None)
            if on_run is not None:
                on_run()  # the engine's hooks become live again after an earlier stop
            try:
                self._loop(pc)
            finally:
                self._action = None
                self.host_seconds += time.perf_counter() - begin
                on_run_end = getattr(self.clock, "on_run_end", None)
                if on_run_end is not None:
                    on_run_end()
        if self._stop is None and self.interrupted:
            pc = self.uc.reg_read(UC_ARM_REG_PC)
            self._stop = Stop(error=Interrupted(pc, self.image.function_name(pc)))
        stop = self._stop or Stop(error=CmsimError("emulation stopped for an unknown reason"))
        if stop.error is not None:
            raise stop.error
        assert stop.exit_code is not None
        return stop.exit_code

    def _loop(self, pc: int) -> None:
        """emu_start until a hook stops the run, doing what hooks asked in between (exception
        entry and return, WFI)."""
        try:
            while not self.interrupted:
                try:
                    self.uc.emu_start(pc | 1, NEVER)
                except UcError as exc:  # an access or instruction the core faults on
                    found = self._fault_from(exc)
                    if self._stop is not None:
                        break
                    if isinstance(found, CmsimError):
                        raise found from None
                    self._action = lambda fault=found: self._take_fault(fault)
                pc = self.uc.reg_read(UC_ARM_REG_PC)
                if self._stop is None and self._action is None and self._after_wfi(pc):
                    self._action = lambda at=pc: self.clock.on_wfi(at)  # Unicorn halted
                if self._stop is not None or self._action is None:
                    break
                action, self._action = self._action, None
                action()
                pc = self.uc.reg_read(UC_ARM_REG_PC)
        except UcError as exc:
            found = self._fault_from(exc)
            if not isinstance(found, CmsimError):
                found = self.fault_error(found)
            self._stop = self._stop or Stop(error=found)
        except CmsimError as exc:  # an action found the firmware at fault
            self._stop = self._stop or Stop(error=exc)

    @contextmanager
    def catching_interrupts(self) -> Iterator[None]:
        """While the firmware runs, Ctrl-C (SIGINT) only sets `interrupted` (the engine stops
        the run at the next block with an Interrupted error), instead of raising
        KeyboardInterrupt inside whichever hook or C callback happens to run. Nests; a no-op
        outside the main thread, where Python cannot catch signals."""
        if self._catching or threading.current_thread() is not threading.main_thread():
            yield
            return
        self.interrupted = False

        def on_sigint(_signum: int, _frame: object) -> None:
            self.interrupted = True

        previous = signal.signal(signal.SIGINT, on_sigint)
        self._catching = True
        try:
            yield
        finally:
            self._catching = False
            signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)

    # -- hooks -----------------------------------------------------------------------------
    def _on_interrupt(self, uc: Uc, intno: int, _data: object) -> None:
        pc = uc.reg_read(UC_ARM_REG_PC)
        if intno == EXCP_BKPT:
            immediate = uc.mem_read(pc, 2)[0]
            if immediate == SEMIHOSTING_BKPT:
                self._semihosting_call(pc)
                return
            # No debugger attached: a BKPT escalates to HardFault (HFSR.DEBUGEVT).
            kind = f"breakpoint BKPT #{immediate} with no debugger attached"
            self._raise(X.Fault(kind, X.HARDFAULT, X.HFSR_DEBUGEVT, pc, timing="after"))
        elif intno == EXCP_SWI:
            self.clock.on_svc(pc)
            if self._action is None:
                self.stop(Stop(error=self.fault("SVC exception (no engine)", pc - 2)))
        elif intno == EXCP_EXCEPTION_EXIT and pc >= 0xFFFFFF00:
            self.clock.on_exception_return(pc | 1)
            if self._action is None:
                self.stop(Stop(error=self.fault("exception return (no engine)", pc)))
        elif intno in (EXCP_UDEF, EXCP_INVSTATE):
            self._raise(self._undefined(pc))
        elif intno == EXCP_NOCP:  # a coprocessor the core does not have (not the FPU)
            kind = "no coprocessor: an instruction for a coprocessor the core lacks"
            self._raise(X.Fault(kind, X.USAGEFAULT, X.NOCP, pc, timing="after"))
        elif intno == EXCP_PREFETCH_ABORT:  # executing from memory that forbids it
            self._raise(self._fetch_fault(pc))
        else:
            self.stop(Stop(error=self.fault(f"unhandled exception #{intno}", pc)))

    def _raise(self, fault: X.Fault) -> None:
        """Take `fault` (through the engine, which knows the vector table) before going on."""
        self.interrupt(lambda: self._take_fault(fault))

    def _take_fault(self, fault: X.Fault) -> None:
        on_fault = getattr(self.clock, "on_fault", None)
        if on_fault is None:  # no engine: the fault ends the run
            raise self.fault_error(fault)
        on_fault(fault)

    def _undefined(self, pc: int) -> X.Fault:
        """UNDEFINSTR or INVSTATE for the instruction at `pc` that the core cannot execute."""
        if not self.uc.reg_read(UC_ARM_REG_XPSR) & XPSR_T:
            kind = "invalid state: ARM state (a branch to an even address cleared the Thumb bit)"
            return X.Fault(kind, X.USAGEFAULT, X.INVSTATE, pc)
        try:
            word = bytes(self.uc.mem_read(pc, 4))
        except UcError:
            word = b""
        region = self.board.region_at(pc, 4)
        if word == b"\xff" * 4 and region is not None and region.kind == "flash":
            if self.image.read(self._image_address(pc), 2) is None:
                kind = "jump into erased flash (0xFFFFFFFF, an undefined instruction)"
                return X.Fault(kind, X.USAGEFAULT, X.UNDEFINSTR, pc)
        return X.Fault("undefined instruction", X.USAGEFAULT, X.UNDEFINSTR, pc)

    def _image_address(self, address: int) -> int:
        """`address` in the region's own range (aliases fold onto the base)."""
        region = self.board.region_at(address)
        if region is None:
            return address
        for start in region.aliases:
            if start <= address < start + region.size:
                return address - start + region.base
        return address

    def _fetch_fault(self, target: int, unmapped: bool = False) -> X.Fault:
        """An instruction fetch from `target` that the memory map forbids: MemManage IACCVIOL
        in the execute-never regions of the default map (B3.1: peripherals, devices, the
        system space), else BusFault IBUSERR (nothing there, or memory the bus cannot fetch
        from, like the STM32F4's CCM)."""
        if any(start <= target < end for start, end in XN_RANGES):
            kind = "bad PC: execute from an execute-never (XN) region"
            return X.Fault(kind, X.MEMMANAGE, X.IACCVIOL, target, timing="fetch")
        kind = "bad PC: instruction fetch from " + (
            "unmapped memory" if unmapped else "non-executable memory"
        )
        return X.Fault(kind, X.BUSFAULT, X.IBUSERR, target, timing="fetch")

    def _semihosting_call(self, pc: int) -> None:
        operation = self.uc.reg_read(UC_ARM_REG_R0)
        argument = self.uc.reg_read(UC_ARM_REG_R1)
        try:
            result = self.semihost.handle(self.uc, operation, argument)
        except (OutputClosed, OutputError) as exc:  # the host's side, not the firmware's
            self.stop(Stop(error=exc))
            return
        except CmsimError as exc:
            self.stop(Stop(error=FirmwareFault(str(exc), pc, self.image.function_name(pc))))
            return
        except UcError:
            fault = self.fault("semihosting argument points to unmapped memory", pc, argument)
            self.stop(Stop(error=fault))
            return
        if isinstance(result, Exit):
            self.stop(Stop(exit_code=result.code))
            return
        self.uc.reg_write(UC_ARM_REG_R0, result & 0xFFFFFFFF)
        self.uc.reg_write(UC_ARM_REG_PC, (pc + 2) | 1)

    def _on_invalid_access(
        self, uc: Uc, access: int, address: int, _size: int, _value: int, _data: object
    ) -> bool:
        pc = uc.reg_read(UC_ARM_REG_PC)
        if access in (UC_MEM_FETCH_UNMAPPED, UC_MEM_FETCH_PROT):
            unmapped = access == UC_MEM_FETCH_UNMAPPED
            self._pending_fault = self._fetch_fault(address, unmapped)
            return False
        kind = ACCESS_FAULTS.get(access, f"memory access fault ({access})")
        # The bus answers the data phase with an error: a precise BusFault, BFAR valid.
        self._pending_fault = X.Fault(kind, X.BUSFAULT, X.PRECISERR, pc, address, "after")
        return False

    def _fault_from(self, exc: UcError) -> X.Fault | CmsimError:
        """What an emulation error means: a fault to take, or an error that ends the run."""
        fault, self._pending_fault = self._pending_fault, None
        if fault is not None:
            return fault
        pc = self.uc.reg_read(UC_ARM_REG_PC)
        if exc.errno == UC_ERR_INSN_INVALID:
            return self._undefined(pc)
        return self.fault(f"emulation error: {exc}", pc)

    def fault_error(self, fault: X.Fault, prefix: str = "", suffix: str = "") -> FirmwareFault:
        """The FirmwareFault that ends a run on `fault`: what happened, its architectural name,
        where, the data address, and outside any function (a bad PC) where the code came from
        (the return address in LR)."""
        error = self.fault(f"{prefix}{fault.kind} ({fault.label}){suffix}", fault.pc, fault.address)
        if fault.timing == "fetch" or self.image.function_name(fault.pc) is None:
            caller = self.uc.reg_read(UC_ARM_REG_LR) & ~1
            where = self.image.function_name(caller)
            if where:
                error.args = (f"{error.args[0]} (return address 0x{caller:08x} in {where})",)
        return error

    def fault(self, kind: str, pc: int, address: int | None = None) -> FirmwareFault:
        """A FirmwareFault naming the function that holds `pc` (and the stack pointer when it
        lies outside RAM: the likely cause, e.g. a vector table whose initial SP is wrong)."""
        fault = FirmwareFault(kind, pc, self.image.function_name(pc), address)
        sp = self.uc.reg_read(UC_ARM_REG_SP)
        if not self.in_ram(sp - 4, 4):
            fault.args = (f"{fault.args[0]} (the stack pointer 0x{sp:08x} lies outside RAM)",)
        return fault

    def _readable(self, address: int, length: int) -> bool:
        """[address, address + length) is memory a semihosting call may read (not the PPB,
        whose registers have side effects)."""
        if address < 0 or address + length > 1 << 32:
            return False
        region = self.board.region_at(address, length)
        return region is not None and region.kind != "ppb"

    def in_ram(self, address: int, length: int) -> bool:
        """[address, address + length) lies in writable memory (SRAM or CCM)."""
        region = self.board.region_at(address & 0xFFFFFFFF, length)
        return region is not None and region.kind in ("sram", "ccm")

    def add_marker_listener(self, listener: Callable[[str | None, int], None]) -> None:
        """Call listener(name, cycle) for each region marker (cmsim_marker.h) the firmware writes.

        A begin marker passes the region's name; an end marker passes None.
        """
        self.marker_listeners.append(listener)

    def _on_marker(self, register: int, value: int, cycle: int) -> None:
        name = None
        if register == MARKER_BEGIN:
            try:
                name = read_c_string(self.uc, value, self._readable).decode(
                    "utf-8", errors="replace"
                )
            except (UcError, CmsimError):
                name = f"region@0x{value:08x}"  # a bad name pointer still marks a region
        for listener in self.marker_listeners:
            listener(name, cycle)

    def _centiseconds(self) -> int:
        return self.clock.issue_cycle() * 100 // self.board.clock_hz

    @property
    def registers(self) -> dict[str, int]:
        """r0, r1, sp, lr, pc: handy for tests and error reports."""
        names = {
            "r0": UC_ARM_REG_R0,
            "r1": UC_ARM_REG_R1,
            "sp": UC_ARM_REG_SP,
            "lr": UC_ARM_REG_LR,
            "pc": UC_ARM_REG_PC,
        }
        return {name: self.uc.reg_read(reg) for name, reg in names.items()}


_ERASED_TEMPLATES: dict[int, int] = {}  # size -> file descriptor of an erased (0xFF) image


def _erased_flash(size: int) -> mmap.mmap:
    """`size` bytes of 0xFF for a flash region. On Linux a private (copy-on-write) mapping of
    one shared erased file per size: a machine pays only for the pages it writes."""
    if not hasattr(os, "memfd_create"):
        buffer = mmap.mmap(-1, size)
        buffer.write(b"\xff" * size)
        return buffer
    fd = _ERASED_TEMPLATES.get(size)
    if fd is None:
        fd = os.memfd_create("cmsim-erased-flash")
        os.write(fd, b"\xff" * size)
        _ERASED_TEMPLATES[size] = fd
    return mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)


def _check_fits(board: Board, name: str, address: int, length: int) -> None:
    if length == 0:
        return
    region: Region | None = board.region_at(address, length)
    if region is None or region.kind == "ppb":
        raise ImageError(
            f"segment {name} at 0x{address:08x}-0x{address + length - 1:08x} lies outside "
            f"the memory of board {board.name!r}"
        )


def _without(start: int, end: int, holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) less the holes (the bit-band alias windows inside a peripheral region)."""
    spans = [(start, end)]
    for h0, h1 in holes:
        spans = [
            piece
            for s0, s1 in spans
            for piece in ((s0, min(s1, h0)), (max(s0, h1), s1))
            if piece[0] < piece[1]
        ]
    return spans
