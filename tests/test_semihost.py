"""Semihosting operations against a plain byte-array memory, then end to end in firmware."""

from __future__ import annotations

import io

import pytest

from cmsim import semihost as sh
from cmsim.board import load_board
from cmsim.engine import Engine
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
