"""ARM semihosting (BKPT 0xAB): console output, exit with a code, clock and time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from cmsim.errors import CmsimError, OutputClosed, OutputError

SYS_OPEN = 0x01
SYS_CLOSE = 0x02
SYS_WRITEC = 0x03
SYS_WRITE0 = 0x04
SYS_WRITE = 0x05
SYS_CLOCK = 0x10
SYS_TIME = 0x11
SYS_ERRNO = 0x13
SYS_EXIT = 0x18
SYS_EXIT_EXTENDED = 0x20

ADP_STOPPED_APPLICATION_EXIT = 0x20026
STDOUT, STDERR = 1, 2
MAX_STRING = 1 << 20  # a SYS_WRITE0 string longer than this is a firmware bug
CHUNK = 1 << 16  # SYS_WRITE reads the firmware's buffer this many bytes at a time

OPERATION_NAMES = {
    0x01: "SYS_OPEN",
    0x02: "SYS_CLOSE",
    0x03: "SYS_WRITEC",
    0x04: "SYS_WRITE0",
    0x05: "SYS_WRITE",
    0x06: "SYS_READ",
    0x07: "SYS_READC",
    0x08: "SYS_ISERROR",
    0x09: "SYS_ISTTY",
    0x0A: "SYS_SEEK",
    0x0C: "SYS_FLEN",
    0x0D: "SYS_TMPNAM",
    0x0E: "SYS_REMOVE",
    0x0F: "SYS_RENAME",
    0x10: "SYS_CLOCK",
    0x11: "SYS_TIME",
    0x12: "SYS_SYSTEM",
    0x13: "SYS_ERRNO",
    0x15: "SYS_GET_CMDLINE",
    0x16: "SYS_HEAPINFO",
    0x18: "SYS_EXIT",
    0x20: "SYS_EXIT_EXTENDED",
    0x30: "SYS_ELAPSED",
    0x31: "SYS_TICKFREQ",
}


class Memory(Protocol):
    def mem_read(self, address: int, size: int) -> bytes | bytearray: ...


class UnsupportedSemihosting(CmsimError):
    """The firmware asked for a semihosting operation cmsim does not provide."""

    exit_code = 134


class BadSemihostingCall(CmsimError):
    """A semihosting call's pointer or length lies outside the board's memory."""

    exit_code = 134


@dataclass
class Exit:
    """Returned by Semihost.handle when the firmware asked to exit."""

    code: int


class Semihost:
    """Serves semihosting calls; output goes to the given binary streams and is also kept."""

    def __init__(
        self,
        stdout: BinaryIO | None,
        stderr: BinaryIO | None,
        centiseconds: Callable[[], int],
        readable: Callable[[int, int], bool] | None = None,
    ):
        """`readable(address, length)` says whether the firmware's memory holds those bytes
        (the board's map): every pointer and length a call passes is checked against it
        before anything is read, so a hostile length cannot make the host allocate gigabytes."""
        self.streams = {STDOUT: stdout, STDERR: stderr}
        self.centiseconds = centiseconds
        self.readable = readable or (lambda _address, _length: True)
        self.output = bytearray()

    def handle(self, memory: Memory, operation: int, argument: int) -> int | Exit:
        """Serve one call: returns the value for r0, or Exit when the firmware stops."""
        name = OPERATION_NAMES.get(operation, "unknown")
        if operation == SYS_WRITEC:
            self._emit(STDOUT, self._read(memory, argument, 1, f"{name} character"))
            return 0
        if operation == SYS_WRITE0:
            self._emit(STDOUT, self._string(memory, argument, f"{name} string"))
            return 0
        if operation == SYS_WRITE:
            handle, buffer, length = self._words(memory, argument, 3, name)
            self._check(buffer, length, f"{name} buffer")
            for start in range(0, length, CHUNK):  # bounded host memory per read
                piece = self._read(memory, buffer + start, min(CHUNK, length - start), name)
                self._emit(handle, piece)
            return 0  # bytes *not* written
        if operation == SYS_OPEN:
            name_ptr, mode, _length = self._words(memory, argument, 3, name)
            if self._string(memory, name_ptr, f"{name} file name") == b":tt":
                return STDERR if mode >= 8 else STDOUT  # modes "a"/"a+"/"ab" select stderr
            return -1
        if operation == SYS_CLOSE:
            return 0
        if operation == SYS_CLOCK:
            return self.centiseconds()
        if operation == SYS_TIME:
            return int(time.time())
        if operation == SYS_ERRNO:
            return 0
        if operation == SYS_EXIT:
            return Exit(0 if argument == ADP_STOPPED_APPLICATION_EXIT else 1)
        if operation == SYS_EXIT_EXTENDED:
            reason, subcode = self._words(memory, argument, 2, name)
            return Exit(_signed_byte_code(subcode) if reason == ADP_STOPPED_APPLICATION_EXIT else 1)
        raise UnsupportedSemihosting(
            f"unsupported semihosting operation 0x{operation:02x} ({name})"
        )

    def _check(self, address: int, length: int, what: str) -> None:
        if not self.readable(address, max(length, 1)):
            raise BadSemihostingCall(
                f"{what} at 0x{address:08x} ({length:,} bytes) lies outside the board's memory"
            )

    def _read(self, memory: Memory, address: int, length: int, what: str) -> bytes:
        self._check(address, length, what)
        return bytes(memory.mem_read(address, length))

    def _words(self, memory: Memory, address: int, count: int, name: str) -> list[int]:
        raw = self._read(memory, address, 4 * count, f"{name} argument block")
        return [int.from_bytes(raw[4 * i : 4 * i + 4], "little") for i in range(count)]

    def _string(self, memory: Memory, address: int, what: str) -> bytes:
        """A NUL-terminated string, each chunk checked before it is read."""
        self._check(address, 1, what)
        return read_c_string(memory, address, lambda a, n: self.readable(a, n))

    def _emit(self, handle: int, data: bytes) -> None:
        self.output += data
        stream = self.streams.get(handle)
        if stream is None:
            return
        try:
            stream.write(data)
            stream.flush()
        except BrokenPipeError:
            raise OutputClosed() from None
        except (OSError, ValueError) as exc:  # a full disk, a closed stream
            reason = getattr(exc, "strerror", None) or str(exc)
            raise OutputError(f"cannot write the firmware's output: {reason}") from None


def read_c_string(
    memory: Memory, address: int, readable: Callable[[int, int], bool] | None = None
) -> bytes:
    """Read a NUL-terminated string, a chunk at a time (chunks never cross a 64-byte line, so
    the string may end just before the end of memory)."""
    text = bytearray()
    while len(text) < MAX_STRING:
        at = address + len(text)
        size = 64 - at % 64
        if readable is not None and not readable(at, size):
            raise BadSemihostingCall(
                f"string at 0x{address:08x} runs past the end of memory at 0x{at:08x}"
            )
        chunk = bytes(memory.mem_read(at, size))
        end = chunk.find(b"\0")
        if end >= 0:
            return bytes(text + chunk[:end])
        text += chunk
    raise UnsupportedSemihosting(f"unterminated string at 0x{address:08x}")


def _signed_byte_code(value: int) -> int:
    """Process exit codes are 0..255, as a shell sees `exit(code)`."""
    return value & 0xFF
