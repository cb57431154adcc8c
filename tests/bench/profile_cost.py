"""How much profiling costs: simulation time with the profiler attached / without, one process.

    python3 tests/bench/profile_cost.py [firmware.elf ...] [--repeat N]

Builds the firmwares (m4-ideal) when no ELF is given and runs the three CIFAR-10 builds (one
inference each) and calls_compute.elf, a compute-heavy int8 workload with ~39k calls. Each
configuration runs `--repeat` times on a fresh machine; the best time of each is compared
(the least disturbed by the host). Times are the process's CPU time (Unicorn runs in this
thread), so other work on a shared host does not skew the ratio. The budget (issue 4) is a
ratio of at most 2.0.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "simulator"))

from cmsim.board import load_board  # noqa: E402
from cmsim.engine import Engine  # noqa: E402
from cmsim.image import load_image  # noqa: E402
from cmsim.machine import Machine  # noqa: E402
from cmsim.profile import Profiler  # noqa: E402


def _time_run(elf: Path, profile: bool, record_events: bool) -> tuple[float, int]:
    machine = Machine(load_image(elf), load_board("m4-ideal"), stdout=io.BytesIO())
    engine = Engine(machine)
    profiler = Profiler.attach(engine, record_events=record_events) if profile else None
    begin = time.process_time()
    result = engine.run()
    if profiler is not None:
        profiler.finish(result)
    return time.process_time() - begin, result.instructions


def _measure(elf: Path, repeat: int) -> None:
    configs = {"off": (False, False), "profile": (True, False), "profile+trace": (True, True)}
    best: dict[str, float] = {}
    instructions = 0
    for _ in range(repeat):
        for name, (profile, record) in configs.items():
            seconds, instructions = _time_run(elf, profile, record)
            best[name] = min(best.get(name, seconds), seconds)
    print(f"{elf.name}: {instructions:,} instructions, best of {repeat}")
    for name, seconds in best.items():
        print(
            f"  {name:14} {seconds:.3f} s  {instructions / seconds / 1e6:6.2f} M instr/s  "
            f"ratio {seconds / best['off']:.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("elf", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    elves = args.elf
    if not elves:
        import subprocess

        subprocess.run(["make", "-s", "BOARD=m4-ideal"], cwd=ROOT / "firmware", check=True)
        build = ROOT / "firmware" / "build" / "m4-ideal"
        names = ("cifar10_ref", "cifar10_opt", "cifar10_asm", "calls_compute")
        elves = [build / f"{name}.elf" for name in names]
    for elf in elves:
        _measure(elf, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
