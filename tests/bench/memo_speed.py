"""C fast path speed and memo hit rate on the CIFAR-10 firmware (default board stm32f4, where the
ART caches make memoisation hard). Prints, per ELF, instructions, cycles, instructions per host
second and the share of blocks timed from the memo without Python.

Usage: python3 tests/bench/memo_speed.py [--board stm32f4] [ELF ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "simulator"))

from cmsim.board import load_board  # noqa: E402
from cmsim.engine import Engine  # noqa: E402
from cmsim.image import load_image  # noqa: E402
from cmsim.machine import Machine  # noqa: E402


def measure(elf: Path, board: str) -> dict:
    """Run `elf` on the C fast path; instructions, cycles, rate and memo hit rate."""
    machine = Machine(load_image(elf), load_board(board))
    engine = Engine(machine, path="fast")
    begin = time.perf_counter()
    result = engine.run()
    seconds = time.perf_counter() - begin
    native = engine._native
    hits = getattr(native, "memo_hits", 0)
    misses = getattr(native, "memo_misses", 0)
    return {
        "instructions": result.instructions,
        "cycles": result.cycles,
        "seconds": seconds,
        "rate": result.instructions / seconds,
        "hit_rate": hits / max(1, hits + misses),
        "misses": misses,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--board", default="stm32f4")
    parser.add_argument("elfs", nargs="*", type=Path)
    args = parser.parse_args()
    elfs = args.elfs or [
        ROOT / "firmware" / "build" / args.board / f"cifar10_{v}.elf" for v in ("ref", "opt", "asm")
    ]
    for elf in elfs:
        m = measure(elf, args.board)
        print(
            f"{elf.name:18s} {m['instructions']:>12,d} instr {m['cycles']:>13,d} cycles "
            f"{m['seconds']:7.1f} s {m['rate'] / 1e6:6.2f} M instr/s "
            f"hit {100 * m['hit_rate']:6.2f}% misses {m['misses']:,d}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
