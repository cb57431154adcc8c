"""The default workload end to end: every layer bit-exact, speedups held against the baseline.

The benchmark runs once per test session (it simulates ~130 M instructions); the tests then
check its results. `cmsim check` is also run for real through the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmsim.bench import cifar10
from cmsim.bench.baseline import baseline_path, compare, load_baseline
from cmsim.bench.results import BenchResult
from cmsim.bench.runner import run_bench
from cmsim.board import load_board
from cmsim.cli import main

TRACES = Path(__file__).resolve().parent.parent / "traces"
MAC_LAYERS = [layer.name for layer in cifar10.NETWORK if layer.kind in ("conv", "fc")]


@pytest.fixture(scope="session")
def bench(firmware_dir) -> BenchResult:
    return run_bench(load_board("m4-ideal"))


@pytest.fixture(scope="session")
def baseline() -> BenchResult:
    return load_baseline(baseline_path(TRACES, "m4-ideal"))


def test_every_layer_of_every_variant_matches_the_golden_model(bench: BenchResult):
    assert [layer.name for layer in bench.layers] == [layer.name for layer in cifar10.NETWORK]
    for layer in bench.layers:
        assert layer.matched == {"ref": True, "opt": True, "asm": True}, layer.name


@pytest.mark.parametrize("layer_name", MAC_LAYERS)
def test_opt_beats_ref_and_asm_beats_opt_on_conv_and_fc(bench: BenchResult, layer_name: str):
    layer = next(layer for layer in bench.layers if layer.name == layer_name)
    assert layer.cycles["opt"] < layer.cycles["ref"]
    assert layer.cycles["asm"] < layer.cycles["opt"]


def test_layer_cycles_add_up_to_the_inference(bench: BenchResult):
    for variant in bench.variants:
        layers = sum(layer.cycles[variant] for layer in bench.layers)
        # The inference region also holds the layers' markers: 6 cycles per layer outside
        # the layer regions (cmsim_marker.h: 5 per marker, 4 of the end marker inside).
        assert 0 < bench.totals[variant] - layers <= 10 * len(bench.layers)


def test_footprints_are_measured(bench: BenchResult):
    weights = sum(p.weights.size for p in cifar10.make_model().params.values())
    for variant in bench.variants:
        footprint = bench.footprints[variant]
        assert footprint.flash_bytes > weights
        assert 0 < footprint.peak_stack_bytes < 16 * 1024
        assert footprint.scratch_bytes > 0
        assert footprint.ram_bytes >= 32 * 32 * 32  # at least the conv1 output buffer


def test_no_regression_against_the_committed_baseline(bench: BenchResult, baseline: BenchResult):
    regressions = [c for c in compare(baseline, bench) if c.regressed]
    assert not regressions, "\n".join(
        f"{c.layer} {c.variant} {c.metric}: {c.baseline:.4g} -> {c.current:.4g}"
        for c in regressions
    )


def test_speedups_are_within_the_baseline_tolerance(bench: BenchResult, baseline: BenchResult):
    for old, new in zip(baseline.layers, bench.layers, strict=True):
        for variant in ("opt", "asm"):
            assert new.speedup(variant) == pytest.approx(old.speedup(variant), rel=0.01), (
                old.name,
                variant,
            )
    for variant in ("opt", "asm"):
        assert bench.total_speedup(variant) == pytest.approx(
            baseline.total_speedup(variant), rel=0.01
        )


def test_cmsim_check_fails_when_the_baseline_was_faster(capfd, tmp_path: Path, baseline):
    # A baseline that claims opt was 10% faster than it is must fail the gate, end to end.
    tighter = baseline.to_dict()
    for layer in tighter["layers"]:
        layer["cycles"]["opt"] = int(layer["cycles"]["opt"] * 0.9)
    tighter["totals"]["opt"] = int(tighter["totals"]["opt"] * 0.9)
    path = tmp_path / "tight.json"
    path.write_text(json.dumps(tighter))
    assert main(["check", "--variants", "ref,opt", "--baseline", str(path)]) == 1
    out = capfd.readouterr().out
    assert "REGRESSION" in out and "FAIL: " in out
    assert "conv2" in out


def test_stm32f4_baseline_costs_at_least_the_zero_wait_state_one(baseline: BenchResult):
    """Flash wait states only add cycles: every layer of the committed stm32f4 baseline
    (weights in 5-WS flash behind the ART) costs at least its m4-ideal count, and the kernels'
    ranking holds there too."""
    slow = load_baseline(baseline_path(TRACES, "stm32f4"))
    assert slow.all_matched
    for fast_layer, slow_layer in zip(baseline.layers, slow.layers, strict=True):
        for variant in ("ref", "opt", "asm"):
            assert slow_layer.cycles[variant] >= fast_layer.cycles[variant], slow_layer.name
        if slow_layer.name in MAC_LAYERS:
            assert slow_layer.cycles["asm"] < slow_layer.cycles["opt"] < slow_layer.cycles["ref"]


def test_cmsim_check_on_stm32f4_matches_its_baseline(capfd):
    """The flash-wait-state board end to end (5 WS, ART caches kept by the C fast path): every
    layer re-simulated, bit-exact, and no cycle count moved from the committed baseline."""
    assert main(["check", "--board", "stm32f4"]) == 0
    assert "OK: no regression" in capfd.readouterr().out
