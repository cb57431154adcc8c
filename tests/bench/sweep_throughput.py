"""Sweep throughput: the 504-point grid of tests/bench/sweep500.toml (conv2d, depthwise,
fully connected; ref/opt/asm; m4-ideal and stm32f4) with -j 1, with -j 2, from the cache, and on
a local Dask cluster (a scheduler and two single-threaded workers on 127.0.0.1, started with
dask's own commands). Checks that the three computed runs give identical rows (host seconds
aside) and prints, as a Markdown table, points per wall second and per CPU second (all the
processes of a run: cmsim, its workers, for the cluster also the scheduler and the workers over
their whole life); the second tells the work apart from the machine's other load.

Usage: python3 tests/bench/sweep_throughput.py [--grid-file F.toml] [--out DIR] [--skip-j1]
Takes about 5 minutes on 2 idle cores. Outputs go to DIR/<run>/, the plot (drawn by the third,
cached run) to DIR/sweep.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "simulator"))

from cmsim.sweep.output import read_rows  # noqa: E402

BIN = Path(sys.executable).parent
SUMMARY = re.compile(r"^(\d+) points, (\d+) from the cache, (\d+) computed, (\d+) failed.* in ")


def children_cpu() -> float:
    """CPU seconds of the finished child processes (and theirs: sweep workers included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sweep(grid: Path, out: Path, cache: Path, *extra: str) -> tuple[float, float, str]:
    """Run `cmsim sweep` as a user would; (wall seconds, CPU seconds, its summary line)."""
    command = [str(BIN / "cmsim"), "sweep", "--grid-file", str(grid), "--out", str(out),
               "--cache", str(cache), *extra]  # fmt: skip
    begin, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - begin, children_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    line = done.stdout.splitlines()[0]
    print(f"  {' '.join(extra)}: {line} [{seconds:.1f} s wall, {cpu:.1f} s CPU]", flush=True)
    return seconds, cpu, line


def rows(folder: Path) -> list[tuple]:
    found = read_rows(folder / "rows.jsonl")
    return [dataclasses.astuple(dataclasses.replace(r, host_seconds=0.0)) for r in found]


def start_cluster(folder: Path) -> tuple[list[subprocess.Popen], Path]:
    scheduler_file = folder / "scheduler.json"
    common = ["--no-dashboard", "--scheduler-file", str(scheduler_file)]
    log = open(folder / "dask.log", "w")  # noqa: SIM115 (the processes write to it)
    processes = [
        subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                          *common], cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    ]  # fmt: skip
    while not scheduler_file.exists():
        time.sleep(0.1)
    processes.append(
        subprocess.Popen([str(BIN / "dask"), "worker", "--host", "127.0.0.1", "--nworkers", "2",
                          "--nthreads", "1", *common], cwd=folder, stdout=log,
                         stderr=subprocess.STDOUT)
    )  # fmt: skip
    from distributed import Client

    with Client(scheduler_file=str(scheduler_file), timeout=30) as client:
        client.wait_for_workers(2, timeout=120)
    return processes, scheduler_file


def stop(processes: list[subprocess.Popen]) -> float:
    """End the cluster; the CPU seconds its processes used in their whole life."""
    cpu = children_cpu()
    for process in reversed(processes):
        process.terminate()
    for process in reversed(processes):
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return children_cpu() - cpu


def rate(line: str, seconds: float) -> str:
    computed = int(SUMMARY.match(line).group(3))
    return f"{computed / seconds:.2f}" if computed else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grid-file", type=Path, default=ROOT / "tests/bench/sweep500.toml")
    parser.add_argument("--out", type=Path, default=None, help="keep the outputs here")
    parser.add_argument("--skip-j1", action="store_true", help="leave out the -j 1 run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cmsim-sweep-bench-"))
    out = args.out or work
    out.mkdir(parents=True, exist_ok=True)
    runs: list[tuple[str, float, float, str]] = []
    load = os.getloadavg()[0]
    print(f"sweep {args.grid_file.name}, outputs in {out}; load average {load:.1f} on "
          f"{os.cpu_count()} cores at the start", flush=True)  # fmt: skip
    if not args.skip_j1:
        runs.append(("-j 1", *sweep(args.grid_file, out / "j1", work / "c1", "-j", "1")))
    runs.append(("-j 2", *sweep(args.grid_file, out / "j2", work / "c2", "-j", "2")))
    runs.append(("second run (cache)", *sweep(args.grid_file, out / "j2c", work / "c2")))
    plotted = sweep(args.grid_file, out / "j2p", work / "c2", "--plot", str(out / "sweep.png"))
    runs.append(("third run (cache), with --plot", *plotted))
    processes, scheduler_file = start_cluster(work)
    try:
        seconds, cpu, line = sweep(args.grid_file, out / "cluster", work / "c3", "--cluster",
                                   str(scheduler_file))  # fmt: skip
    finally:
        cluster_cpu = stop(processes)
    runs.append(("local Dask cluster, 2 workers", seconds, cpu + cluster_cpu, line))
    reference = rows(out / "j2")
    for folder in ("j1", "j2c", "j2p", "cluster"):
        if (out / folder).exists() and rows(out / folder) != reference:
            sys.exit(f"rows of {folder} differ from those of -j 2")
    print("rows identical across runs (host seconds aside)\n")
    print("| run | points computed | wall s | points/s | CPU s | points per CPU s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, seconds, cpu, line in runs:
        computed = SUMMARY.match(line).group(3)
        print(f"| {name} | {computed} | {seconds:.1f} | {rate(line, seconds)} | {cpu:.1f} "
              f"| {rate(line, cpu)} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
