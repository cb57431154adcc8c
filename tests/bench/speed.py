"""Simulator speed, measured in one process: bare Unicorn (the board's memory map and the
semihosting exit, no other hook), the C fast path and the reference path, on the 64x64 int8
matmul and the CIFAR-10 opt and ref builds, on m4-ideal and stm32f4. Prints simulated
instructions per host second and the ratios, as a Markdown table (the README keeps it).

Bare Unicorn and the fast path run the whole firmware; the reference path (about 0.2 M
instructions/s) runs the first --slow-limit instructions (a rate is a rate), where its cycles
must equal the fast path's on the same prefix.

Usage: python3 tests/bench/speed.py [--boards m4-ideal,stm32f4] [--elfs matmul,cifar10_opt]
                                    [--slow-limit 300000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "simulator"))

from cmsim.board import load_board  # noqa: E402
from cmsim.engine import Engine  # noqa: E402
from cmsim.errors import LimitReached  # noqa: E402
from cmsim.image import load_image  # noqa: E402
from cmsim.machine import Machine  # noqa: E402

ELFS = ("matmul", "cifar10_opt", "cifar10_ref")
BOARDS = ("m4-ideal", "stm32f4")


def bare(elf: Path, board: str) -> tuple[float, int]:
    """Unicorn alone: the machine without an engine (its only hooks: the interrupt hook for
    semihosting, which runs a handful of times, and invalid accesses). Seconds for the run."""
    machine = Machine(load_image(elf), load_board(board))
    machine.reset()
    begin = time.perf_counter()
    machine.run()
    return time.perf_counter() - begin


def engine_run(elf: Path, board: str, path: str, limit: int | None) -> tuple[float, int, int]:
    """(seconds, instructions, cycles) of one engine run, stopped after `limit` instructions."""
    machine = Machine(load_image(elf), load_board(board))
    engine = Engine(machine, max_instructions=limit or 10**12, path=path)
    if path == "fast" and engine._native is None:
        raise SystemExit("no C compiler: the fast path would run on the reference hooks")
    begin = time.perf_counter()
    try:
        engine.run()
    except LimitReached:
        pass
    seconds = time.perf_counter() - begin
    return seconds, engine.instructions, engine.cycles


def measure(elf: Path, board: str, slow_limit: int, repeat: int) -> dict:
    """Rates (M instr/s) of the three ways to run `elf`, best of `repeat` for the fast ones."""
    fast = min(engine_run(elf, board, "fast", None) for _ in range(repeat))
    total = fast[1]
    unicorn = min(bare(elf, board) for _ in range(repeat))
    ref = engine_run(elf, board, "reference", slow_limit)
    prefix = engine_run(elf, board, "fast", slow_limit)
    if (ref[1], ref[2]) != (prefix[1], prefix[2]):
        raise SystemExit(f"{elf.name} on {board}: paths disagree: ref {ref[1:]}, fast {prefix[1:]}")
    return {
        "instructions": total,
        "bare": total / unicorn / 1e6,
        "fast": total / fast[0] / 1e6,
        "reference": ref[1] / ref[0] / 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boards", default=",".join(BOARDS))
    parser.add_argument("--elfs", default=",".join(ELFS))
    parser.add_argument("--slow-limit", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    boards = args.boards.split(",")
    print(
        "| firmware | board | instructions | bare Unicorn | fast path | reference | "
        "bare / fast | fast / reference |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for board in boards:
        subprocess.run(["make", "-s", f"BOARD={board}"], cwd=ROOT / "firmware", check=True)
    for name in args.elfs.split(","):
        for board in boards:
            elf = ROOT / "firmware" / "build" / board / f"{name}.elf"
            m = measure(elf, board, args.slow_limit, args.repeat)
            print(
                f"| {name} | {board} | {m['instructions']:,} | {m['bare']:.0f} M/s | "
                f"{m['fast']:.1f} M/s | {m['reference']:.2f} M/s | "
                f"{m['bare'] / m['fast']:.1f}x | {m['fast'] / m['reference']:.0f}x |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
