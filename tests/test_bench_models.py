"""`cmsim bench --model / --workload`: whole models built, run and checked against TFLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmsim.bench import models
from cmsim.bench.baseline import baseline_path, compare, load_baseline
from cmsim.bench.results import VARIANTS
from cmsim.board import load_board
from cmsim.cli import main
from cmsim.engine import Engine
from cmsim.image import load_image
from cmsim.machine import Machine
from cmsim.model.build import build_model
from cmsim.model.workloads import WORKLOADS, build_workload
from cmsim.profile import Profiler

FIXTURES = Path(__file__).parent / "data" / "tflite"
TRACES = Path(__file__).parent.parent / "traces"
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@pytest.fixture(scope="module")
def m4() -> object:
    return load_board("m4-ideal")


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_workload_end_to_end(m4, workload: str) -> None:
    """Every layer of every variant equals TFLite's reference kernels; opt beats ref on every
    layer with weights (the kernels' reason to exist)."""
    model = models.prepare(build_workload(workload), workload)
    result = models.bench_model(model, m4, VARIANTS)
    assert result.all_matched
    assert [row.name for row in result.layers] == [s.name for s in model.steps]
    for row in result.layers:
        if row.kind in WEIGHTED:
            assert row.cycles["opt"] < row.cycles["ref"], row.name
            assert row.macs > 0
    assert result.total_macs() == sum(s.macs for s in model.steps)
    assert sum(r.cycles["ref"] for r in result.layers) < result.totals["ref"]
    footprint = result.footprints["opt"]
    assert footprint.arena_bytes == model.plan.size <= footprint.ram_bytes
    baseline = load_baseline(baseline_path(TRACES, "m4-ideal", workload))
    regressions = [c for c in compare(baseline, result) if c.regressed]
    assert not regressions, regressions


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.tflite")))
def test_converter_made_models(m4, name: str) -> None:
    """Models written by TensorFlow's converter (tests/data/tflite/make_fixtures.py)."""
    result = models.bench_model(models.load(FIXTURES / name), m4, VARIANTS)
    assert result.all_matched, [r.name for r in result.layers if not all(r.matched.values())]


def test_a_changed_kernel_is_caught(m4) -> None:
    """The golden comparison can fail: the firmware's first layer clamps at 0, TFLite's not."""
    model = models.prepare(build_workload("kws"), "kws")
    step = next(s for s in model.steps if s.op.opcode == "CONV_2D")
    step.params["act_max"] = 0
    from cmsim.model.codegen import generate

    model.sources = generate(model.graph, model.steps, model.plan, model.inputs)
    result = models.bench_model(model, m4, ("ref",))
    assert not result.layers[0].matched["ref"]


def test_builds_are_cached_by_content(m4) -> None:
    model = models.prepare(build_workload("ad"), "ad")
    first = build_model("ad", model.sources, m4, ("ref",))["ref"]
    stamp = first.stat().st_mtime_ns
    again = build_model("ad", models.prepare(build_workload("ad"), "ad").sources, m4, ("ref",))
    assert again["ref"] == first and first.stat().st_mtime_ns == stamp
    other = models.prepare(build_workload("ad"), "ad", seed=2)  # another input: another build
    assert build_model("ad", other.sources, m4, ("ref",))["ref"] != first


def test_operators_are_profile_regions(m4) -> None:
    model = models.prepare(build_workload("kws"), "kws")
    elf = build_model("kws", model.sources, m4, ("opt",))["opt"]
    machine = Machine(load_image(elf), m4)
    engine = Engine(machine)
    profiler = Profiler.attach(engine)
    regions = {r.name for r in profiler.finish(engine.run()).regions}
    assert {s.name for s in model.layer_steps} | {"inference"} <= regions


def test_cli_model_json_and_check(capfd, tmp_path: Path) -> None:
    path = FIXTURES / "mlp_uint8_in.tflite"
    baseline = tmp_path / "mlp.json"
    assert main(["bench", "--model", str(path), "--json", "--save-baseline", str(baseline)]) == 0
    out = json.loads(capfd.readouterr().out.split("baseline written")[0])
    assert [row["name"] for row in out["layers"]] == [
        "0 QUANTIZE",
        "1 FULLY_CONNECTED",
        "2 FULLY_CONNECTED",
    ]
    assert out["all_matched"] and baseline.is_file()
    assert main(["check", "--model", str(path), "--baseline", str(baseline)]) == 0
    assert "OK: no regression" in capfd.readouterr().out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["bench", "--model", "/no/such.tflite"], "cannot read model"),
        (["bench", "--model", "{notmodel}"], "not a TFLite model"),
        (["bench", "--workload", "xyz"], "invalid choice"),
        (["bench", "--model", "{model}", "--workload", "kws"], "not allowed with"),
        (["bench", "--kernel", "relu", "--workload", "kws"], "does not go with"),
    ],
)
def test_bad_model_input_is_one_line(capfd, tmp_path: Path, args, fragment) -> None:
    notmodel = tmp_path / "x.tflite"
    notmodel.write_bytes(b"definitely not a flatbuffer")
    values = {"notmodel": str(notmodel), "model": str(FIXTURES / "mlp_uint8_in.tflite")}
    code = main([a.format(**values) for a in args])
    err = capfd.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cmsim: error: ") and fragment in lines[0]


def test_cli_model_write_and_show(capfd, tmp_path: Path) -> None:
    out = tmp_path / "vww.tflite"
    assert main(["model", "write", "--workload", "vww", "-o", str(out)]) == 0
    assert out.read_bytes() == build_workload("vww")
    assert main(["model", "show", str(out)]) == 0
    text = capfd.readouterr().out
    assert "31 operators as cmsim runs them" in text and "nn_depthwise_conv2d" in text
    assert "7,489,664 MACs" in text
    assert main(["model", "write", "--workload", "vww", "-o", str(tmp_path / "no" / "x")]) == 2
    assert "cannot write" in capfd.readouterr().err
