"""Baseline comparison and report rendering on hand-made results (the gate logic itself)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from cmsim.bench.baseline import (
    BaselineError,
    compare,
    load_baseline,
    save_baseline,
)
from cmsim.bench.report import render_changes, render_csv, render_markdown, render_rich
from cmsim.bench.results import BenchResult, Footprint, LayerResult


def make_result(conv_opt: int = 250, total_opt: int = 400, asm: bool = True) -> BenchResult:
    cycles = {"ref": 1000, "opt": conv_opt}
    if asm:
        cycles["asm"] = 200
    layers = [
        LayerResult("conv", "conv", "8x8x4 -> 8x8x4", 100, cycles, {v: True for v in cycles}),
        LayerResult("relu", "relu", "8x8x4", 0, {"ref": 50, "opt": 50}, {"ref": True}),
    ]
    totals = {"ref": 1100, "opt": total_opt}
    return BenchResult(
        workload="tiny",
        board="m4-ideal",
        clock_hz=100_000_000,
        variants=["ref", "opt", "asm"] if asm else ["ref", "opt"],
        layers=layers,
        totals=totals,
        footprints={"ref": Footprint(1000, 200, 64, 0)},
    )


def test_speedups_and_cycles_per_mac():
    result = make_result()
    conv = result.layers[0]
    assert conv.speedup("opt") == 4.0 and conv.speedup("asm") == 5.0
    assert conv.cycles_per_mac("ref") == 10.0
    assert result.layers[1].speedup("asm") is None
    assert result.total_speedup("opt") == pytest.approx(2.75)


def test_identical_results_have_no_changes():
    assert compare(make_result(), make_result()) == []


def test_cycles_growing_beyond_tolerance_regress():
    changes = compare(make_result(), make_result(conv_opt=260))  # +4% cycles, speedup -3.8%
    assert {(c.layer, c.variant, c.metric) for c in changes} == {
        ("conv", "opt", "cycles"),
        ("conv", "opt", "speedup"),
    }
    assert all(c.regressed for c in changes)
    cycles = next(c for c in changes if c.metric == "cycles")
    assert cycles.relative == pytest.approx(0.04)


def test_small_moves_within_tolerance_pass_and_improvements_never_fail():
    within = compare(
        make_result(), make_result(conv_opt=252), cycle_tolerance=0.01, speedup_tolerance=0.01
    )
    assert within and not any(c.regressed for c in within)
    better = compare(make_result(), make_result(conv_opt=200, total_opt=300))
    assert better and not any(c.regressed for c in better)


def test_tolerance_is_a_parameter():
    assert any(c.regressed for c in compare(make_result(), make_result(conv_opt=252), 0.001))


def test_missing_variant_is_a_regression():
    current = make_result(asm=False)
    current.variants.append("asm")  # asked for, but no cycles came back
    changes = compare(make_result(), current)
    missing = [c for c in changes if c.variant == "asm"]
    assert missing and all(c.regressed and math.isnan(c.current) for c in missing)


def test_variant_not_run_is_left_out():
    """A baseline with cmsis-nn numbers still gates a run without a CMSIS-NN checkout."""
    assert not [c for c in compare(make_result(), make_result(asm=False)) if c.variant == "asm"]


def test_total_regression_is_reported():
    changes = compare(make_result(), make_result(total_opt=500))
    assert {(c.layer, c.metric) for c in changes if c.regressed} == {
        ("total", "cycles"),
        ("total", "speedup"),
    }


def test_baseline_round_trip(tmp_path: Path):
    path = tmp_path / "traces" / "baseline-m4-ideal.json"
    save_baseline(make_result(), path)
    data = json.loads(path.read_text())
    assert data["layers"][0]["speedup"]["opt"] == 4.0 and data["all_matched"] is True
    assert compare(load_baseline(path), make_result()) == []


def test_missing_and_broken_baselines_are_clear_errors(tmp_path: Path):
    with pytest.raises(BaselineError, match="no baseline at"):
        load_baseline(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"layers": 3}')
    with pytest.raises(BaselineError, match="unreadable baseline"):
        load_baseline(broken)


def test_renderers_show_every_layer_and_the_total():
    result = make_result()
    console = Console(file=io.StringIO(), width=200)
    render_rich(result, console)
    text = console.file.getvalue()
    assert "conv" in text and "4.00x" in text and "5.00x" in text and "total" in text
    assert "every layer matched" in text
    rows = list(csv.reader(io.StringIO(render_csv(result))))
    assert rows[0][:3] == ["layer", "shape", "MACs"] and rows[-1][0] == "total"
    assert rows[1][3] == "1000"
    markdown = render_markdown(result)
    assert markdown.count("\n") == 2 + len(result.layers) + 1


def test_mismatch_is_visible():
    result = make_result()
    result.layers[0].matched["asm"] = False
    assert not result.all_matched
    assert "MISMATCH" in render_markdown(result)


def test_changes_table_marks_regressions():
    console = Console(file=io.StringIO(), width=200)
    render_changes(compare(make_result(), make_result(conv_opt=300)), console)
    assert "REGRESSION" in console.file.getvalue()
