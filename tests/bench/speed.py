"""Simulator speed on a compute-heavy firmware (64x64 int8 matmul): Unicorn without hooks, the
reference path and the fast path, in one process. Prints simulated instructions per host second.

Usage: python3 tests/bench/speed.py [--board m4-ideal] [--elf firmware/build/m4-ideal/matmul.elf]
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

SLOW_LIMIT = 1_000_000


def no_hooks(elf: Path, board: str, _instructions: int) -> float:
    """Unicorn alone (semihosting interrupt hook only): seconds for the same run."""
    machine = Machine(load_image(elf), load_board(board))
    machine.reset()
    begin = time.perf_counter()
    machine.run()
    return time.perf_counter() - begin


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--board", default="m4-ideal")
    parser.add_argument("--elf", default=None)
    args = parser.parse_args()
    if args.elf is None:
        subprocess.run(["make", "-s", f"BOARD={args.board}"], cwd=ROOT / "firmware", check=True)
        elf = ROOT / "firmware" / "build" / args.board / "matmul.elf"
    else:
        elf = Path(args.elf)
    rates = {}
    results = {}
    # The slow paths are timed on the first SLOW_LIMIT instructions (a rate is a rate); the
    # C fast path and Unicorn alone on the whole run. Cycle equality is checked on the prefix.
    variants = {
        "reference": dict(path="reference"),
        "fast": dict(path="fast"),
    }
    for name, options in variants.items():
        for limit in (SLOW_LIMIT,) if name != "fast" else (SLOW_LIMIT, None):
            machine = Machine(load_image(elf), load_board(args.board))
            engine = Engine(machine, max_instructions=limit or 10**12, **options)
            begin = time.perf_counter()
            try:
                engine.run()
            except LimitReached:
                pass
            seconds = time.perf_counter() - begin
            if limit:
                results[name] = (engine.cycles, engine.instructions)
            rates[name] = engine.instructions / seconds
            total = engine.instructions
        if name == "fast" and getattr(engine, "_native", None) is None:
            print("  (no C compiler: 'fast' ran on the reference hooks)")
    rates["no hooks"] = total / no_hooks(elf, args.board, total)
    assert len(set(results.values())) == 1, f"paths disagree: {results}"
    print(
        f"{elf.name} on {args.board}: {total:,} instructions; the first {SLOW_LIMIT:,} take "
        f"{results['reference'][0]:,} cycles on every path"
    )
    for name in ("no hooks", *variants):
        print(f"  {name:14s} {rates[name] / 1e6:8.2f} M instr/s")
    fast = rates["fast"]
    print(
        f"  fast / reference = {fast / rates['reference']:.0f}x, "
        f"no hooks / fast = {rates['no hooks'] / fast:.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
