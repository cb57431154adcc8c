"""`cmsim sweep` end to end: local processes, the cache (resume, corruption, --fresh), models,
failures as rows, and bad input as one line with exit code 2."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cmsim.cli import main
from cmsim.sweep.output import read_rows

GRID = ["--kernel", "conv2d", "--grid", "h=4,6 w=h c=4 o=4 k=3 pad=same"]
SMALL = [*GRID, "--variants", "ref,asm", "--boards", "m4-ideal,stm32f4"]
MODEL = Path(__file__).parent / "data" / "tflite" / "dense_keep_dims.tflite"


def _sweep(tmp_path: Path, *extra: str, out: str = "out", cache: str = "cache") -> int:
    return main(["sweep", *extra, "--cache", str(tmp_path / cache), "--out", str(tmp_path / out)])


def _results(tmp_path: Path, out: str = "out") -> list[tuple]:
    """Rows without their host seconds (the one column that differs between runs)."""
    rows = read_rows(tmp_path / out / "rows.jsonl")
    return [dataclasses.astuple(dataclasses.replace(r, host_seconds=0.0)) for r in rows]


def test_local_sweep_then_cache_then_corruption_then_fresh(tmp_path, capsys):
    plot = tmp_path / "sweep.png"
    assert _sweep(tmp_path, *SMALL, "-j", "2", "--plot", str(plot)) == 0
    first = capsys.readouterr()
    assert first.out.startswith("8 points, 0 from the cache, 8 computed, 0 failed in ")
    assert "sweep -j 2" in first.err and "8/8 points" in first.err  # the progress bar
    assert plot.stat().st_size > 10_000
    for name in ("rows.csv", "rows.parquet", "latency.json"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    rows = read_rows(tmp_path / "out" / "rows.jsonl")
    assert len(rows) == 8 and all(r.golden == "match" for r in rows)
    assert {r.speedup for r in rows if r.variant == "ref"} == {1.0}
    assert all(r.speedup > 1 for r in rows if r.variant == "asm")

    assert _sweep(tmp_path, *SMALL, "-j", "2", out="again") == 0
    assert capsys.readouterr().out.startswith("8 points, 8 from the cache, 0 computed")
    assert read_rows(tmp_path / "again" / "rows.jsonl") == rows  # host seconds too

    entries = sorted((tmp_path / "cache").glob("*/*.json"))
    assert len(entries) == 8
    entries[3].write_text('{"format": 1, "key": "trunc')
    assert _sweep(tmp_path, *SMALL, "-j", "1", out="healed") == 0
    healed = capsys.readouterr()
    warnings = [line for line in healed.err.splitlines() if line.startswith("cmsim: warning")]
    assert warnings == [
        f"cmsim: warning: 1 unreadable sweep cache entry under {tmp_path / 'cache'} ignored "
        "(computed again)"
    ]
    assert healed.out.startswith("8 points, 7 from the cache, 1 computed")
    assert _results(tmp_path, "healed") == _results(tmp_path)

    assert _sweep(tmp_path, *SMALL, "-j", "1", "--fresh", out="fresh") == 0
    assert capsys.readouterr().out.startswith("8 points, 0 from the cache, 8 computed")
    assert _results(tmp_path, "fresh") == _results(tmp_path)  # -j 1 equals -j 2


def test_model_sweep_rows_per_operator(tmp_path, capsys):
    assert _sweep(tmp_path, "--models", str(MODEL), "--variants", "ref,opt", "-j", "1") == 0
    assert capsys.readouterr().out.startswith("2 points, 0 from the cache, 2 computed")
    rows = read_rows(tmp_path / "out" / "rows.jsonl")
    assert [(r.operator, r.variant) for r in rows] == [
        ("0 FULLY_CONNECTED", "ref"),
        ("0 FULLY_CONNECTED", "opt"),
        ("1 FULLY_CONNECTED", "ref"),
        ("1 FULLY_CONNECTED", "opt"),
    ]
    assert all(r.model == MODEL.name and r.golden == "match" and r.macs > 0 for r in rows)
    assert all(r.speedup > 1 for r in rows if r.variant == "opt")


def test_invalid_points_are_skipped_and_failures_are_rows(tmp_path, capsys):
    grid = ["--kernel", "fully_connected", "--grid", "n=16,400000 m=2", "--variants", "opt"]
    assert _sweep(tmp_path, *grid, "-j", "1") == 1
    out = capsys.readouterr().out
    assert out.startswith("2 points, 0 from the cache, 2 computed, 1 failed in ")
    assert "failed: fully_connected n=400000,m=2 opt on m4-ideal: out of sram" in out
    assert _sweep(tmp_path, *grid, "-j", "1") == 1  # a failed point is tried again
    assert capsys.readouterr().out.startswith("2 points, 1 from the cache, 1 computed, 1 failed")

    skipping = ["--kernel", "conv2d", "--grid", "h=4 w=h c=2 o=2 k=1,5 pad=0", "--variants", "asm"]
    assert _sweep(tmp_path, *skipping, "-j", "1") == 0
    assert "1 points, 0 from the cache, 1 computed, 0 failed, 1 invalid skipped" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--grid", "h=8"], "--grid needs --kernel"),
        (["--kernel", "conv2d", "--grid", "q=1"], "conv2d takes shape keys"),
        (["--grid-file", "/no/such.toml"], "cannot read grid file"),
        ([*GRID, "--boards", "nope"], "unknown board 'nope'"),
        ([*GRID, "--variants", "ref,fast"], "unknown variant 'fast'"),
        (["--models", "/no/such.tflite"], "/no/such.tflite"),
        ([], "nothing to sweep"),
        ([*GRID, "-j", "0"], "must be a positive integer"),
        ([*GRID, "--plot", "/no/such/dir/p.png"], "no such directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    assert _sweep(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("cmsim: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
