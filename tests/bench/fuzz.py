"""Fuzz the ELF loader and the board-file parser: seeded mutants of the test firmware and of the
preset boards, each loaded, mapped and run for up to 2,000 instructions. Every mutant must be
answered with a result or a one-line CmsimError: any other exception is a crash (a traceback),
a worker that dies (a signal such as SIGBUS) is a crash, and a case that takes longer than
--hang seconds is a hang. Exits 1 when there was either.

The cases run in a worker process, watched by this one: a hang is killed and the worker goes on
from the next case. A case is (kind, seed) and reproduces alone with --seed N --cases 1.

Usage: python3 tests/bench/fuzz.py [--kind elf|board|both] [--cases 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "simulator"))
sys.path.insert(0, str(ROOT / "tests"))

import fuzzing  # noqa: E402

FIRMWARE = ROOT / "firmware" / "build" / "m4-ideal"


def worker(kind: str, start: int, stop: int) -> None:
    """Run cases [start, stop) of `kind`, one JSON line per case on stdout."""
    elves = {name: (FIRMWARE / f"{name}.elf").read_bytes() for name in fuzzing.ELF_SEEDS}
    boards = fuzzing.presets()
    with tempfile.TemporaryDirectory(prefix="cmsim-fuzz-") as tmp:
        folder = Path(tmp)
        for seed in range(start, stop):
            if kind == "elf":
                outcome = fuzzing.elf_case(seed, elves, folder)
            else:
                outcome = fuzzing.board_case(seed, boards, folder, FIRMWARE / "hello.elf")
            detail = outcome.detail if outcome.kind == "crash" else ""
            print(json.dumps({"seed": seed, "outcome": outcome.kind, "detail": detail}), flush=True)


def campaign(kind: str, first: int, cases: int, hang: float) -> tuple[Counter, list[dict]]:
    """Run cases first..first+cases-1 of `kind` in watched workers; (counts, problems)."""
    counts: Counter = Counter()
    problems: list[dict] = []
    seed, stop = first, first + cases
    while seed < stop:
        process = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, str(seed), str(stop)],
            stdout=subprocess.PIPE,
            text=True,
        )
        while seed < stop:
            ready, _, _ = select.select([process.stdout], [], [], hang)
            if not ready:  # no answer within the limit: a hang
                process.kill()
                process.wait()
                counts["hang"] += 1
                problems.append({"seed": seed, "outcome": "hang", "detail": f"> {hang} s"})
                seed += 1
                break
            line = process.stdout.readline()
            if not line:  # the worker died: a signal or an exit no exception explains
                code = process.wait()
                counts["crash"] += 1
                problems.append({"seed": seed, "outcome": "crash", "detail": f"worker exit {code}"})
                seed += 1
                break
            record = json.loads(line)
            counts[record["outcome"]] += 1
            if record["outcome"] == "crash":
                problems.append(record)
            seed = record["seed"] + 1
        else:
            process.wait()
    return counts, problems


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("elf", "board", "both"), default="both")
    parser.add_argument("--cases", type=int, default=10_000, help="cases per kind")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--hang", type=float, default=30.0, help="seconds before a case hangs")
    args = parser.parse_args()
    if not (FIRMWARE / "hello.elf").exists():
        subprocess.run(["make", "-s"], cwd=ROOT / "firmware", check=True)
    failed = False
    for kind in ("elf", "board") if args.kind == "both" else (args.kind,):
        begin = time.perf_counter()
        counts, problems = campaign(kind, args.seed, args.cases, args.hang)
        seconds = time.perf_counter() - begin
        print(
            f"{kind}: {args.cases:,} cases (seeds {args.seed}-{args.seed + args.cases - 1}) in "
            f"{seconds:.0f} s: {counts['ok']:,} ran, {counts['error']:,} one-line errors, "
            f"{counts['crash']} tracebacks or crashes, {counts['hang']} hangs"
        )
        for problem in problems[:10]:
            print(f"  seed {problem['seed']}: {problem['outcome']}\n{problem['detail']}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
