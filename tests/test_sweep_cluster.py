"""`cmsim sweep --cluster`: a real Dask cluster on the loopback address (a scheduler and two
worker processes started with dask's own commands) gives the rows of a local run."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmsim.cli import main
from cmsim.sweep import cluster
from cmsim.sweep.output import read_rows

DASK = str(Path(sys.executable).parent / "dask")
MODEL = Path(__file__).parent / "data" / "tflite" / "dense_keep_dims.tflite"
SWEEP = [
    "--kernel", "depthwise_conv2d", "--grid", "h=4,6 w=h c=4 k=3 pad=same",
    "--models", str(MODEL), "--variants", "ref,asm", "--boards", "m4-ideal,stm32f4",
]  # fmt: skip


@pytest.fixture(scope="module")
def scheduler_file(tmp_path_factory):
    """A scheduler and two single-threaded workers on 127.0.0.1; their scheduler file."""
    folder = tmp_path_factory.mktemp("dask")
    path = folder / "scheduler.json"
    common = ["--no-dashboard", "--scheduler-file", str(path)]
    logs = open(folder / "dask.log", "w")  # noqa: SIM115 (closed below)
    processes = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", *common],
            cwd=folder, stdout=logs, stderr=subprocess.STDOUT,
        )
    ]  # fmt: skip
    try:
        _wait_for(path.exists, 30, "the scheduler file")
        processes.append(
            subprocess.Popen(
                [DASK, "worker", "--host", "127.0.0.1", "--nworkers", "2", "--nthreads", "1",
                 *common],
                cwd=folder, stdout=logs, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        from distributed import Client

        with Client(scheduler_file=str(path), timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield str(path)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        logs.close()


def _wait_for(ready, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not appear within {seconds} s")
        time.sleep(0.1)


def _rows(folder: Path) -> list[tuple]:
    rows = read_rows(folder / "rows.jsonl")
    return [dataclasses.astuple(dataclasses.replace(r, host_seconds=0.0)) for r in rows]


def test_cluster_rows_equal_local_rows(tmp_path, capsys, scheduler_file):
    local = ["--cache", str(tmp_path / "c1"), "--out", str(tmp_path / "local"), "-j", "1"]
    assert main(["sweep", *SWEEP, *local]) == 0
    remote = ["--cache", str(tmp_path / "c2"), "--out", str(tmp_path / "cluster")]
    assert main(["sweep", *SWEEP, *remote, "--cluster", scheduler_file]) == 0
    out = capsys.readouterr()
    assert "12 points, 0 from the cache, 12 computed, 0 failed" in out.out
    assert "sweep on " in out.err
    rows = _rows(tmp_path / "cluster")
    assert len(rows) == 8 + 8  # (2 shapes + 2 operators) x 2 variants x 2 boards
    assert rows == _rows(tmp_path / "local")
    # the cluster's results went into its cache like local ones
    assert main(["sweep", *SWEEP, *remote, "--cluster", scheduler_file]) == 0
    assert capsys.readouterr().out.startswith("12 points, 12 from the cache, 0 computed")


def test_unreachable_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1)
    args = ["sweep", *SWEEP[:4], "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o")]
    assert main([*args, "--cluster", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err[0]
