"""Semihosting operations against a plain byte-array memory, then end to end in firmware."""

from __future__ import annotations

import io

import pytest

from cmsim import semihost as sh
from cmsim.board import load_board
from cmsim.engine import Engine
from cmsim.errors import FirmwareFault
from cmsim.image import load_image
from cmsim.machine import Machine


class ByteMemory:
    """Target memory as a bytearray based at address 0x1000."""

    def __init__(self, size: int = 4096):
        self.base = 0x1000
        self.data = bytearray(size)

    def put(self, offset: int, raw: bytes) -> int:
        self.data[offset : offset + len(raw)] = raw
        return self.base + offset

    def words(self, offset: int, *values: int) -> int:
        return self.put(offset, b"".join(v.to_bytes(4, "little") for v in values))

    def mem_read(self, address: int, size: int) -> bytes:
        start = address - self.base
        return bytes(self.data[start : start + size])


@pytest.fixture
def host():
    out, err = io.BytesIO(), io.BytesIO()
    return sh.Semihost(out, err, centiseconds=lambda: 1234), out, err


def test_writec_and_write0_go_to_stdout(host):
    semihost, out, _ = host
    memory = ByteMemory()
    assert semihost.handle(memory, sh.SYS_WRITEC, memory.put(0, b"Z")) == 0
    assert semihost.handle(memory, sh.SYS_WRITE0, memory.put(16, b"hi there\0junk")) == 0
    assert out.getvalue() == b"Zhi there"
    assert semihost.output == b"Zhi there"


def test_write0_reads_strings_longer_than_one_chunk(host):
    semihost, out, _ = host
    memory = ByteMemory()
    text = bytes(range(65, 91)) * 10
    semihost.handle(memory, sh.SYS_WRITE0, memory.put(3, text + b"\0"))
    assert out.getvalue() == text


def test_write_to_stdout_and_stderr_returns_bytes_not_written(host):
    semihost, out, err = host
    memory = ByteMemory()
    buffer = memory.put(100, b"abcdef")
    assert semihost.handle(memory, sh.SYS_WRITE, memory.words(0, 1, buffer, 3)) == 0
    assert semihost.handle(memory, sh.SYS_WRITE, memory.words(16, 2, buffer + 3, 3)) == 0
    assert (out.getvalue(), err.getvalue()) == (b"abc", b"def")


def test_open_tt_gives_stdout_or_stderr(host):
    semihost, _, _ = host
    memory = ByteMemory()
    name = memory.put(200, b":tt\0")
    assert semihost.handle(memory, sh.SYS_OPEN, memory.words(0, name, 4, 3)) == sh.STDOUT
    assert semihost.handle(memory, sh.SYS_OPEN, memory.words(16, name, 8, 3)) == sh.STDERR
    other = memory.put(300, b"data.bin\0")
    assert semihost.handle(memory, sh.SYS_OPEN, memory.words(32, other, 0, 8)) == -1


def test_clock_time_errno(host):
    semihost, _, _ = host
    memory = ByteMemory()
    assert semihost.handle(memory, sh.SYS_CLOCK, 0) == 1234
    assert semihost.handle(memory, sh.SYS_TIME, 0) > 1_600_000_000
    assert semihost.handle(memory, sh.SYS_ERRNO, 0) == 0


def test_exit_reasons_and_codes(host):
    semihost, _, _ = host
    memory = ByteMemory()
    assert semihost.handle(memory, sh.SYS_EXIT, sh.ADP_STOPPED_APPLICATION_EXIT) == sh.Exit(0)
    assert semihost.handle(memory, sh.SYS_EXIT, 0x20023) == sh.Exit(1)  # RunTimeErrorUnknown
    args = memory.words(0, sh.ADP_STOPPED_APPLICATION_EXIT, 42)
    assert semihost.handle(memory, sh.SYS_EXIT_EXTENDED, args) == sh.Exit(42)
    args = memory.words(8, sh.ADP_STOPPED_APPLICATION_EXIT, 0x1FF)
    assert semihost.handle(memory, sh.SYS_EXIT_EXTENDED, args) == sh.Exit(0xFF)


def test_unknown_operation_is_reported_by_name(host):
    semihost, _, _ = host
    with pytest.raises(sh.UnsupportedSemihosting, match=r"0x12 \(SYS_SYSTEM\)"):
        semihost.handle(ByteMemory(), 0x12, 0)
    with pytest.raises(sh.UnsupportedSemihosting, match=r"0x77 \(unknown\)"):
        semihost.handle(ByteMemory(), 0x77, 0)


def test_every_operation_from_firmware(elf):
    out, err = io.BytesIO(), io.BytesIO()
    machine = Machine(load_image(elf("semihost_ops")), load_board("m4-ideal"), out, err)
    result = Engine(machine).run()
    assert result.exit_code == 0, "plain SYS_EXIT with ApplicationExit is a clean exit"
    assert err.getvalue() == b"to stderr\n"
    assert out.getvalue() == b"to stdout\nc\nvia :tt\nclock 0 time>0 1 errno 0\n"


# -- hostile pointers and lengths (checked against the board's memory before any read) --------


def test_hostile_write_length_is_a_fault_naming_the_buffer(elf):
    out = io.BytesIO()
    machine = Machine(load_image(elf("fault_semihost_write")), load_board("m4-ideal"), out, None)
    with pytest.raises(FirmwareFault) as caught:
        Engine(machine).run()
    message = str(caught.value)
    assert "SYS_WRITE buffer at 0x2000" in message and "(4,294,967,295 bytes)" in message
    assert "lies outside the board's memory" in message and "in sh_write" in message
    assert out.getvalue() == b"before\n"


@pytest.fixture
def bounded():
    """A Semihost whose memory is ByteMemory's 4 KiB at 0x1000 and nothing else."""
    out = io.BytesIO()
    memory = ByteMemory()
    inside = lambda a, n: memory.base <= a and a + n <= memory.base + len(memory.data)  # noqa: E731
    return sh.Semihost(out, None, lambda: 0, inside), memory, out


@pytest.mark.parametrize(
    ("operation", "words", "message"),
    [
        (sh.SYS_WRITE, (1, 0x1800, 0x1000), r"SYS_WRITE buffer at 0x00001800 \(4,096 bytes\)"),
        (sh.SYS_WRITE, (1, 0x9000, 1), r"SYS_WRITE buffer at 0x00009000 \(1 bytes\)"),
        (sh.SYS_OPEN, (0x50000000, 0, 3), r"SYS_OPEN file name at 0x50000000"),
    ],
)
def test_every_pointer_is_checked(bounded, operation, words, message):
    semihost, memory, out = bounded
    with pytest.raises(sh.BadSemihostingCall, match=message):
        semihost.handle(memory, operation, memory.words(0, *words))
    assert out.getvalue() == b""


def test_argument_blocks_and_strings_are_checked(bounded):
    semihost, memory, _ = bounded
    with pytest.raises(sh.BadSemihostingCall, match="SYS_WRITE argument block at 0x00001ffc"):
        semihost.handle(memory, sh.SYS_WRITE, 0x1FFC)
    with pytest.raises(sh.BadSemihostingCall, match="SYS_WRITE0 string at 0x00007000"):
        semihost.handle(memory, sh.SYS_WRITE0, 0x7000)
    memory.put(4032, b"x" * 64)  # no NUL before the end of memory
    with pytest.raises(sh.BadSemihostingCall, match="runs past the end of memory at 0x00002000"):
        semihost.handle(memory, sh.SYS_WRITE0, 0x1000 + 4032)
    with pytest.raises(sh.BadSemihostingCall, match="SYS_WRITEC character at 0xffffffff"):
        semihost.handle(memory, sh.SYS_WRITEC, 0xFFFFFFFF)


def test_long_writes_are_read_in_chunks(bounded, monkeypatch):
    monkeypatch.setattr(sh, "CHUNK", 100)
    semihost, memory, out = bounded
    memory.put(64, bytes(range(256)) * 15)
    assert semihost.handle(memory, sh.SYS_WRITE, memory.words(0, 1, 0x1040, 3840)) == 0
    assert out.getvalue() == bytes(range(256)) * 15
