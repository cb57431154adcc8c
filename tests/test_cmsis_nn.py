"""Real CMSIS-NN as the cmsis-nn variant, built from ../shared/third_party (skipped without it).

Every layer of the CIFAR-10 network and of every built-in workload must equal the golden
model (numpy for CIFAR-10, TFLite's reference kernels for the models), on the pinned
checkout and on the v6.0.0 release; random operator shapes through the harness too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from model_cases import OPERATOR_MODELS

from cmsim import cmsis_nn
from cmsim.bench import golden, models
from cmsim.bench import kernels as K
from cmsim.bench.baseline import baseline_path, compare, load_baseline
from cmsim.bench.results import VARIANTS
from cmsim.bench.runner import FUSED_RELUS, BenchError, run_bench
from cmsim.bench.single import KernelCase, bench_kernel
from cmsim.board import load_board
from cmsim.cli import main
from cmsim.harness import Harness
from cmsim.model.lower import lower
from cmsim.model.reference import reference_tensors, seeded_inputs
from cmsim.model.tflite import parse_model
from cmsim.model.workloads import WORKLOADS, build_workload

THIRD_PARTY = Path(__file__).resolve().parents[2] / "shared" / "third_party"
MAIN = THIRD_PARTY / "CMSIS-NN"
V6 = THIRD_PARTY / "CMSIS-NN-v6.0.0"
TRACES = Path(__file__).parent.parent / "traces"
ALL = (*VARIANTS, cmsis_nn.VARIANT)

pytestmark = pytest.mark.skipif(
    not MAIN.is_dir(), reason=f"no CMSIS-NN checkout at {MAIN} (../shared/third_party)"
)


@pytest.fixture(scope="module")
def board():
    return load_board("m4-ideal")


@pytest.fixture(scope="module")
def main_build(board) -> cmsis_nn.Build:
    return cmsis_nn.build(cmsis_nn.detect(MAIN), board)


@pytest.fixture(scope="module")
def v6_build(board) -> cmsis_nn.Build:
    if not V6.is_dir():
        pytest.skip(f"no CMSIS-NN v6.0.0 checkout at {V6}")
    return cmsis_nn.build(cmsis_nn.detect(V6), board)


def test_api_family_detected_from_the_headers() -> None:
    main_checkout = cmsis_nn.detect(MAIN)
    assert main_checkout.api == 7 and main_checkout.revision.startswith("V.")
    if V6.is_dir():
        old = cmsis_nn.detect(V6)
        assert (old.api, old.revision) == (6, "V.16.0.0")
        assert old.label == "CMSIS-NN v6 (arm_nnfunctions.h V.16.0.0)"


def _copy_with_header(tmp_path: Path, change) -> Path:
    copy = tmp_path / "CMSIS-NN"
    (copy / "Include").mkdir(parents=True)
    (copy / "Source").mkdir()
    text = (MAIN / "Include" / "arm_nnfunctions.h").read_text()
    (copy / "Include" / "arm_nnfunctions.h").write_text(change(text))
    return copy


def test_unsupported_checkouts_are_named(tmp_path: Path) -> None:
    older = _copy_with_header(
        tmp_path, lambda t: t.replace("$Revision:    V.19", "$Revision:    V.14")
    )
    with pytest.raises(cmsis_nn.CmsisNnError, match=r"revision V\.14\.\d+\.\d+ is older than v6"):
        cmsis_nn.detect(older)
    with pytest.raises(cmsis_nn.CmsisNnError, match="not a CMSIS-NN checkout"):
        cmsis_nn.detect(tmp_path)
    with pytest.raises(cmsis_nn.CmsisNnError, match="not found"):
        cmsis_nn.detect(tmp_path / "nowhere")


def test_cifar10_four_variants(board, main_build) -> None:
    result = run_bench(board, ALL, cmsis_nn_elf=main_build.cifar10)
    assert result.all_matched
    rows = {row.name: row for row in result.layers}
    for relu in FUSED_RELUS:
        assert rows[relu].cycles["cmsis-nn"] == 0
    assert any("fused" in note for note in result.notes)
    baseline = load_baseline(baseline_path(TRACES, "m4-ideal"))
    assert "cmsis-nn" in baseline.totals  # the gate covers the cmsis-nn / ref ratio
    regressions = [c for c in compare(baseline, result) if c.regressed]
    assert not regressions, regressions


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_workloads_bit_exact(board, main_build, workload: str) -> None:
    model = models.prepare(build_workload(workload), workload)
    result = models.bench_model(model, board, ("ref", "cmsis-nn"), cmsis_nn=main_build)
    assert result.all_matched, [r.name for r in result.layers if not all(r.matched.values())]
    baseline = load_baseline(baseline_path(TRACES, "m4-ideal", workload))
    regressions = [c for c in compare(baseline, result) if c.regressed]
    assert not regressions, regressions


def test_v6_release_family(board, v6_build) -> None:
    """v6 has no per-channel fully connected: cmsim calls arm_fully_connected_s8 per channel."""
    model = models.prepare(build_workload("kws"), "kws")
    result = models.bench_model(model, board, ("ref", "cmsis-nn"), cmsis_nn=v6_build)
    assert result.all_matched


@pytest.fixture(scope="module")
def cmsis_harness(main_build, board) -> Harness:
    return Harness(main_build.harness, board)


@pytest.mark.parametrize(
    "operator",
    ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD",
     "SOFTMAX"],
)  # fmt: skip
def test_random_operators_bit_exact(cmsis_harness, operator: str) -> None:
    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(data=OPERATOR_MODELS[operator])
    def check(data: bytes) -> None:
        graph = parse_model(data, "case")
        (step,) = lower(graph)
        inputs = seeded_inputs(graph, seed=len(data))
        want = reference_tensors(data, graph, inputs, {step.output})[step.output]
        activations = [inputs[i] for i in step.inputs if not graph.tensor(i).is_constant]
        cmsis_harness.free()
        got, _ = K.call_step(cmsis_harness, step, "cmsis-nn", activations)
        assert got.tobytes() == np.ascontiguousarray(want).tobytes()

    check()


def test_harness_calls_cmsis_nn_like_cmsim_kernels(cmsis_harness) -> None:
    """kernels.conv2d(h, "cmsis-nn", ...) from Python, as for cmsim's own variants."""
    rng = np.random.default_rng(4)
    x = rng.integers(-128, 128, (6, 6, 8)).astype(np.int8)
    w = rng.integers(-127, 128, (4, 3, 3, 8)).astype(np.int8)
    q = K.ConvQuant(np.full(4, 1 << 30), np.full(4, -8), input_offset=3, output_offset=-2)
    cmsis_harness.free()
    got, result, scratch = K.conv2d(
        cmsis_harness, "cmsis-nn", x, w, None, q, pad=(1, 1), out_size=(6, 6)
    )
    want = golden.conv2d(x, w, np.zeros(4), q.multiplier, q.shift, pad=(1, 1),
                         input_offset=3, output_offset=-2)  # fmt: skip
    assert np.array_equal(got, want) and result.cycles > 0 and scratch > 0


def test_bench_kernel_and_relu_refusal(board, main_build) -> None:
    case = KernelCase("depthwise_conv2d", {"h": 8, "w": 8, "c": 16, "k": 3, "stride": 1, "pad": 1})
    result = bench_kernel(board, case, ALL, main_build.harness)
    assert result.all_matched and set(result.layers[0].cycles) == set(ALL)
    relu = KernelCase("relu", {"h": 4, "w": 4, "c": 4})
    with pytest.raises(BenchError, match="no int8 ReLU"):
        bench_kernel(board, relu, ALL, main_build.harness)


def test_cli_environment_and_errors(capfd, monkeypatch, main_build) -> None:
    monkeypatch.setenv(cmsis_nn.ENVIRONMENT, str(MAIN))
    assert main(["bench", "--kernel", "fully_connected", "--shape", "n=64,m=8", "--csv"]) == 0
    out = capfd.readouterr().out
    assert "cmsis-nn/ref" in out.splitlines()[0]
    monkeypatch.delenv(cmsis_nn.ENVIRONMENT)
    assert main(["bench", "--kernel", "relu", "--variants", "ref,cmsis-nn"]) == 2
    assert "needs --cmsis-nn PATH" in capfd.readouterr().err
    assert main(["bench", "--cmsis-nn", "/no/such/dir"]) == 2
    assert "CMSIS-NN checkout not found" in capfd.readouterr().err


def test_sweep_times_the_cmsis_nn_variant(tmp_path: Path, capfd, monkeypatch, main_build) -> None:
    from cmsim.sweep.output import read_rows

    model = Path(__file__).parent / "data" / "tflite" / "dense_keep_dims.tflite"
    grid = ["--kernel", "relu", "--grid", "h=4 w=h c=4"]
    common = ["--cache", str(tmp_path / "cache"), "-j", "1", "--variants", "ref,cmsis-nn"]
    args = ["sweep", *grid, "--models", str(model), *common, "--out", str(tmp_path / "out")]
    assert main([*args, "--cmsis-nn", str(MAIN)]) == 0
    assert "3 points, 0 from the cache, 3 computed, 0 failed, 1 invalid skipped" in (
        capfd.readouterr().out
    )  # relu has no CMSIS-NN version; the model's two layers do
    rows = read_rows(tmp_path / "out" / "rows.jsonl")
    assert [(r.kernel, r.variant) for r in rows if not r.model] == [("relu", "ref")]
    layers = [r for r in rows if r.model and r.variant == cmsis_nn.VARIANT]
    assert len(layers) == 2 and all(r.golden == "match" and r.speedup > 1 for r in layers)
    monkeypatch.delenv(cmsis_nn.ENVIRONMENT, raising=False)
    assert main(args) == 2
    assert "the cmsis-nn variant needs --cmsis-nn PATH" in capfd.readouterr().err


def test_a_broken_checkout_is_one_clear_error(tmp_path: Path, board) -> None:
    broken = tmp_path / "CMSIS-NN"
    shutil.copytree(MAIN / "Include", broken / "Include")
    (broken / "Source" / "Bad").mkdir(parents=True)
    (broken / "Source" / "Bad" / "oops.c").write_text("this is not C\n")
    with pytest.raises(cmsis_nn.CmsisNnError, match="failed"):
        cmsis_nn.build(cmsis_nn.detect(broken), board)
