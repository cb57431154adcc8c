"""Sweep outputs: speedups over ref, canonical order, CSV / JSON lines / Parquet / lookup table,
and the plot."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq

from cmsim.sweep.output import finish_rows, read_rows, write_outputs
from cmsim.sweep.plot import choose_axes, plot_sweep
from cmsim.sweep.points import ERROR, MATCH, MISMATCH, Row


def _row(shape: str, variant: str, cycles: int | None, golden=MATCH, board="m4-ideal", **kw):
    return Row("conv2d", shape, variant, board, cycles, 100, None if cycles is None else
               cycles / 100, None, golden, 0.1, **kw)  # fmt: skip


def _rows() -> list[Row]:
    return [
        _row("h=16,w=16,c=4", "asm", 100),
        _row("h=16,w=16,c=4", "ref", 400),
        _row("h=8,w=8,c=4", "opt", 50),
        _row("h=8,w=8,c=4", "ref", 200),
        _row("h=8,w=8,c=4", "asm", None, ERROR, error="firmware fault"),
        _row("h=16,w=16,c=4", "opt", 300, MISMATCH),
        _row("h=8,w=8,c=4", "ref", 210, board="stm32f4"),
        _row("h=8,w=8,c=8", "ref", 500),
    ]


def test_speedups_and_canonical_order():
    rows = finish_rows(_rows())
    order = [(r.shape, r.board, r.variant) for r in rows]
    assert order == [
        ("h=8,w=8,c=4", "m4-ideal", "ref"),
        ("h=8,w=8,c=4", "m4-ideal", "opt"),
        ("h=8,w=8,c=4", "m4-ideal", "asm"),
        ("h=8,w=8,c=4", "stm32f4", "ref"),
        ("h=8,w=8,c=8", "m4-ideal", "ref"),  # by the shape's numbers: 8 before 16
        ("h=16,w=16,c=4", "m4-ideal", "ref"),
        ("h=16,w=16,c=4", "m4-ideal", "opt"),
        ("h=16,w=16,c=4", "m4-ideal", "asm"),
    ]
    speedups = [r.speedup for r in rows]
    assert speedups == [1.0, 4.0, None, 1.0, 1.0, 1.0, None, 4.0]
    assert finish_rows(list(reversed(_rows()))) == rows


def test_files(tmp_path):
    rows = finish_rows(_rows())
    paths = write_outputs(rows, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == [
        "latency.json",
        "rows.csv",
        "rows.jsonl",
        "rows.parquet",
    ]
    assert read_rows(paths["jsonl"]) == rows
    with paths["csv"].open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows) and table[2]["cycles"] == "" and table[2]["golden"] == ERROR
    assert table[1]["speedup"] == "4.0"
    parquet = pq.read_table(paths["parquet"]).to_pylist()
    assert [Row(**r) for r in parquet] == rows
    lut = json.loads(paths["lut"].read_text())
    assert lut["conv2d/h=8,w=8,c=4/opt/m4-ideal"] == 50
    assert len(lut) == 6  # the failed and the mismatched rows are not latencies


def test_plot_axes_and_picture(tmp_path):
    rows = finish_rows(
        [
            _row(f"h={h},w={h},c={c},k={k}", v, h * c * k * (4 if v == "ref" else 1))
            for h in (4, 8)
            for c in (2, 4, 8)
            for k in (1, 3)
            for v in ("ref", "asm")
        ]
    )
    assert choose_axes(rows) == ("c", "h")  # w repeats h; c has the most values
    out = plot_sweep(rows, tmp_path / "sweep.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
