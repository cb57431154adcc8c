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
from cmsim.image import load_image  # noqa: E402
from cmsim.machine import Machine  # noqa: E402


def no_hooks(elf: Path, board: str, instructions: int) -> float:
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
    for path in ("reference", "fast"):
        machine = Machine(load_image(elf), load_board(args.board))
        begin = time.perf_counter()
        result = Engine(machine, path=path).run()
        seconds = time.perf_counter() - begin
        results[path] = result
        rates[path] = result.instructions / seconds
    instructions = results["fast"].instructions
    rates["no hooks"] = instructions / no_hooks(elf, args.board, instructions)
    assert results["fast"].cycles == results["reference"].cycles
    print(f"{elf.name} on {args.board}: {instructions:,} instructions, "
          f"{results['fast'].cycles:,} cycles (fast == reference)")
    for name in ("no hooks", "reference", "fast"):
        print(f"  {name:10s} {rates[name] / 1e6:8.2f} M instr/s")
    print(f"  fast / reference = {rates['fast'] / rates['reference']:.2f}x, "
          f"no hooks / fast = {rates['no hooks'] / rates['fast']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
