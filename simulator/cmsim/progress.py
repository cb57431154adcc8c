"""A live status line on stderr while a long run goes on: instructions and cycles so far and the
simulation speed. Only on a terminal, and only once the run has taken more than DELAY seconds;
nothing when stderr is piped or the output is JSON.

The engine runs in the main thread, mostly inside Unicorn's C code (ctypes lets other Python
threads run meanwhile). A background thread reads the engine's counters (`Engine.progress`:
plain integers, read without changing any state) and redraws the line.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from cmsim.engine import Engine

DELAY = 2.0  # seconds before a run shows progress (short runs stay quiet)
REFRESH = 0.25  # seconds between redraws


def stderr_is_terminal(stream: TextIO | None = None) -> bool:
    """Progress is for a person watching a terminal, not for a pipe or a log file."""
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def status(label: str, instructions: int, cycles: int, seconds: float) -> str:
    """The status line: `label: 12.3 M instructions, 18.0 M cycles, 45.1 M instr/s`."""
    rate = instructions / seconds / 1e6 if seconds > 0 else 0.0
    return (
        f"{label}: {instructions / 1e6:,.1f} M instructions, {cycles / 1e6:,.1f} M cycles, "
        f"{rate:.1f} M instr/s"
    )


@contextmanager
def show_progress(engine: Engine, label: str, enabled: bool) -> Iterator[None]:
    """While the body runs `engine`, show its progress on stderr (when `enabled` and stderr is
    a terminal) after DELAY seconds; the line goes away when the body ends."""
    if not enabled or not stderr_is_terminal():
        yield
        return
    done = threading.Event()
    begin = time.perf_counter()

    def watch() -> None:
        if done.wait(DELAY):
            return
        console = Console(file=sys.stderr, force_terminal=True)
        with Live(
            console=console,
            transient=True,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        ) as live:
            while True:  # at least one line once DELAY has passed
                instructions, cycles = engine.progress()
                line = status(label, instructions, cycles, time.perf_counter() - begin)
                live.update(Text(line), refresh=True)
                if done.wait(REFRESH):
                    break

    thread = threading.Thread(target=watch, name="cmsim-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
