"""Errors a user can cause or a firmware can raise; each renders as one clear line."""

from __future__ import annotations

MAX_SHOWN = 160  # characters of a user-given name shown in a message


def shown(name: object) -> str:
    """A file name or other user text for a one-line message: long ones are cut in the middle."""
    text = str(name)
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[: MAX_SHOWN // 2]}...{text[-MAX_SHOWN // 2 :]}"


class CmsimError(Exception):
    """Base class: a problem the CLI reports as one line and a non-zero exit code."""

    exit_code = 2


class ImageError(CmsimError):
    """The file is missing, not an ELF, for another architecture, or does not fit the board."""


class BoardError(CmsimError):
    """Unknown board name or malformed board file."""


class FirmwareFault(CmsimError):
    """The firmware faulted: bad memory access, undefined instruction, bad PC."""

    exit_code = 134

    def __init__(self, kind: str, pc: int, function: str | None, address: int | None = None):
        self.kind = kind
        self.pc = pc
        self.function = function
        self.address = address
        where = f"pc=0x{pc:08x} in {function or '<no symbol>'}"
        extra = f", address 0x{address:08x}" if address is not None else ""
        super().__init__(f"firmware fault: {kind} at {where}{extra}")


class LimitReached(CmsimError):
    """The firmware ran past the instruction limit without exiting."""

    exit_code = 124

    def __init__(self, limit: int, pc: int, function: str | None):
        self.limit = limit
        self.pc = pc
        self.function = function
        super().__init__(
            f"firmware did not exit within {limit:,} instructions "
            f"(--max-instructions); stopped at pc=0x{pc:08x} in {function or '<no symbol>'}"
        )


class ModelError(CmsimError):
    """A model graph or .tflite file is malformed or unsupported, or a workload is unknown."""


class Interrupted(CmsimError):
    """The user interrupted the run (Ctrl-C, SIGINT)."""

    exit_code = 130

    def __init__(self, pc: int | None = None, function: str | None = None):
        self.pc = pc
        self.function = function
        where = ""
        if pc is not None:
            where = f" at pc=0x{pc:08x} in {function or '<no symbol>'}"
        super().__init__(f"interrupted (Ctrl-C){where}")


class OutputClosed(CmsimError):
    """Whoever read standard output went away (EPIPE, e.g. `| head`): stop quietly, as Unix
    tools do when SIGPIPE ends them (exit 128 + 13)."""

    exit_code = 141

    def __init__(self) -> None:
        super().__init__("standard output closed by its reader")


class OutputError(CmsimError):
    """Writing the output failed (disk full, closed or bad file descriptor)."""

    exit_code = 74  # EX_IOERR (sysexits.h)
