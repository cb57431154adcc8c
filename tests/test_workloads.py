"""cmsim.model.workloads: the four MLPerf Tiny models as int8 .tflite bytes.

Each model is read back with TFLite's schema reader and run in the LiteRT interpreter with its
reference kernels. Architecture figures are checked against published ones:

MACs, as Silicon Labs' MLTK reports them for its TFLite builds of the MLPerf Tiny reference
models (github.com/SiliconLabs/mltk, mltk/models/tinyml/{image_classification,
keyword_spotting, visual_wake_words, anomaly_detection}.py, "Total MACs"): ResNet-8 12.502 M,
DS-CNN 2.657 M (MLTK feeds 50x10 features; 49x10 gives the same 25x5 maps), MobileNetV1 0.25
7.490 M, FC autoencoder 264.192 k.

Parameters: weights + biases of every layer of the reference Keras code in
github.com/mlcommons/tiny (batch norm folded, so Keras' 4 batch-norm values per channel are
not counted), tallied below layer by layer from that code, independently of cmsim's builder.
"""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from cmsim.errors import CmsimError, ModelError
from cmsim.model import workloads as WL
from cmsim.model.reference import reference_interpreter

NAMES = ("ic", "kws", "vww", "ad")
OPS = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
ALLOWED = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "AVERAGE_POOL_2D",
    "ADD",
    "RESHAPE",
    "SOFTMAX",
}

PUBLISHED_MACS = {"ic": "12.502 M", "kws": "2.657 M", "vww": "7.490 M", "ad": "264.192 k"}


def conv_params(k: int, cin: int, cout: int) -> int:
    return k * cin * cout + cout


def _vww_params() -> int:
    blocks = [(8, 16), (16, 32), (32, 32), (32, 64), (64, 64), (64, 128)] + [(128, 128)] * 5
    blocks += [(128, 256), (256, 256)]
    return (
        conv_params(9, 3, 8)
        + sum(10 * cin + conv_params(1, cin, cout) for cin, cout in blocks)
        + conv_params(1, 256, 2)
    )


EXPECTED_PARAMS = {
    "ic": (
        conv_params(9, 3, 16)
        + 2 * conv_params(9, 16, 16)
        + conv_params(9, 16, 32)
        + conv_params(9, 32, 32)
        + conv_params(1, 16, 32)
        + conv_params(9, 32, 64)
        + conv_params(9, 64, 64)
        + conv_params(1, 32, 64)
        + conv_params(1, 64, 10)
    ),
    "kws": conv_params(40, 1, 64) + 4 * (10 * 64 + conv_params(1, 64, 64)) + conv_params(1, 64, 12),
    "vww": _vww_params(),
    "ad": (
        conv_params(1, 640, 128)
        + 3 * conv_params(1, 128, 128)
        + conv_params(1, 128, 8)
        + conv_params(1, 8, 128)
        + 3 * conv_params(1, 128, 128)
        + conv_params(1, 128, 640)
    ),
}

_RESNET = (
    ["CONV_2D"] * 3
    + ["ADD"]
    + (["CONV_2D"] * 3 + ["ADD"]) * 2
    + ["AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
)
_HEAD = ["AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
EXPECTED_OPS = {
    "ic": _RESNET,
    "kws": ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 4 + _HEAD,
    "vww": ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 13 + _HEAD,
    "ad": ["FULLY_CONNECTED"] * 10,
}

# Output shape of every operator, from the reference architectures.
_MOBILENET = (
    [
        (48, 48, 8),
        (48, 48, 8),
        (48, 48, 16),
        (24, 24, 16),
        (24, 24, 32),
        (24, 24, 32),
        (24, 24, 32),
        (12, 12, 32),
        (12, 12, 64),
        (12, 12, 64),
        (12, 12, 64),
        (6, 6, 64),
        (6, 6, 128),
    ]
    + [(6, 6, 128)] * 10
    + [(3, 3, 128), (3, 3, 256), (3, 3, 256), (3, 3, 256)]
)
EXPECTED_SHAPES = {
    "ic": [(1, 32, 32, 16)] * 4
    + [(1, 16, 16, 32)] * 4
    + [(1, 8, 8, 64)] * 4
    + [(1, 1, 1, 64), (1, 64), (1, 10), (1, 10)],
    "kws": [(1, 25, 5, 64)] * 9 + [(1, 1, 1, 64), (1, 64), (1, 12), (1, 12)],
    "vww": [(1, *s) for s in _MOBILENET] + [(1, 1, 1, 256), (1, 256), (1, 2), (1, 2)],
    "ad": [(1, 128)] * 4 + [(1, 8)] + [(1, 128)] * 4 + [(1, 640)],
}
INPUT_SHAPES = {"ic": (1, 32, 32, 3), "kws": (1, 49, 10, 1), "vww": (1, 96, 96, 3), "ad": (1, 640)}


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    return {name: WL.build_workload(name) for name in NAMES}


def read_back(model: bytes) -> tuple[schema.ModelT, schema.SubGraphT, list[str]]:
    m = schema.ModelT.InitFromPackedBuf(model, 0)
    sub = m.subgraphs[0]
    kinds = [OPS[m.operatorCodes[op.opcodeIndex].builtinCode] for op in sub.operators]
    return m, sub, kinds


interpreter = reference_interpreter


@pytest.mark.parametrize("name", NAMES)
def test_runs_in_the_reference_interpreter(models, name):
    it = interpreter(models[name])
    (inp,), (out,) = it.get_input_details(), it.get_output_details()
    assert tuple(inp["shape"]) == INPUT_SHAPES[name] and inp["dtype"] == np.int8
    assert out["dtype"] == np.int8
    it.set_tensor(inp["index"], WL.sample_input(name, 0))
    it.invoke()
    y = it.get_tensor(out["index"])
    assert y.shape == EXPECTED_SHAPES[name][-1]
    if name != "ad":  # softmax probabilities at scale 1/256 sum to ~1
        assert abs(int(y.astype(np.int32).sum()) + 128 * y.size - 256) <= y.size


@pytest.mark.parametrize("name", NAMES)
def test_operators_and_shapes(models, name):
    _, sub, kinds = read_back(models[name])
    assert set(kinds) <= ALLOWED
    assert kinds == EXPECTED_OPS[name]
    shapes = [tuple(sub.tensors[op.outputs[0]].shape) for op in sub.operators]
    assert shapes == EXPECTED_SHAPES[name]


def _macs_and_params(model: bytes) -> tuple[int, int]:
    """Counted from the flatbuffer itself (independent of the builder's own counts)."""
    _, sub, kinds = read_back(model)
    macs = params = 0
    for op, kind in zip(sub.operators, kinds, strict=True):
        if kind not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        out = int(np.prod(sub.tensors[op.outputs[0]].shape))
        w = [int(d) for d in sub.tensors[op.inputs[1]].shape]
        b = [int(d) for d in sub.tensors[op.inputs[2]].shape]
        params += int(np.prod(w)) + int(np.prod(b))
        if kind == "CONV_2D":
            macs += out * w[1] * w[2] * w[3]
        elif kind == "DEPTHWISE_CONV_2D":
            macs += out * w[1] * w[2]
        else:
            macs += out * w[1]
    return macs, params


@pytest.mark.parametrize("name", NAMES)
def test_macs_and_parameters_match_the_published_architectures(models, name):
    macs, params = _macs_and_params(models[name])
    unit = {"M": 1e6, "k": 1e3}[PUBLISHED_MACS[name][-1]]
    assert f"{macs / unit:.3f} {PUBLISHED_MACS[name][-1]}" == PUBLISHED_MACS[name]
    assert params == EXPECTED_PARAMS[name]
    graph = WL.build_graph(name)
    assert (graph.mac_count(), graph.param_count()) == (macs, params)


def test_exact_figures():
    """The exact counts behind the rounded published MACs (for the README)."""
    exact = {name: _macs_and_params(WL.build_workload(name)) for name in NAMES}
    assert exact == {
        "ic": (12_501_632, 77_706),
        "kws": (2_656_768, 22_604),
        "vww": (7_489_664, 210_850),
        "ad": (264_192, 265_864),
    }


@pytest.mark.parametrize("name", NAMES)
def test_quantization_follows_the_int8_spec(models, name):
    _, sub, kinds = read_back(models[name])
    t = sub.tensors

    def q(i):
        return list(t[i].quantization.scale), list(t[i].quantization.zeroPoint)

    for op, kind in zip(sub.operators, kinds, strict=True):
        x, y = op.inputs[0], op.outputs[0]
        assert t[x].type == t[y].type == schema.TensorType.INT8
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w, b = t[op.inputs[1]], t[op.inputs[2]]
            axis = 3 if kind == "DEPTHWISE_CONV_2D" else 0
            assert w.quantization.quantizedDimension == axis
            assert len(w.quantization.scale) == w.shape[axis]  # per output channel
            assert not any(w.quantization.zeroPoint) and not any(b.quantization.zeroPoint)
            want = np.float32(q(x)[0][0]) * np.asarray(w.quantization.scale, np.float32)
            np.testing.assert_allclose(b.quantization.scale, want, rtol=1e-6)
            assert b.type == schema.TensorType.INT32
        if kind in ("AVERAGE_POOL_2D", "RESHAPE"):
            assert q(x) == q(y)
        if kind == "SOFTMAX":
            assert q(y) == ([1 / 256], [-128])
        if getattr(op.builtinOptions, "fusedActivationFunction", 0):  # RELU: real 0 at -128
            assert q(y)[1] == [-128]
        assert -128 <= q(y)[1][0] <= 127


def _saturated(v: np.ndarray, zero_point: int) -> int:
    """Elements clipped by the int8 range: 127, or -128 where -128 is not real 0 (ReLU)."""
    return int(np.sum((v == 127) | ((v == -128) & (zero_point != -128))))


@pytest.mark.parametrize("name", NAMES)
def test_intermediate_tensors_are_not_degenerate(models, name):
    """On fresh seeded inputs every int8 activation spreads over the int8 range, few saturate.

    Bounds this calibration achieves (worst over seeds 0..9 when written): tensors of >= 256
    elements use >= 47 distinct values and >= 24% of the range, <= 0.2% saturated; pooled
    features (64..256 elements) >= 21 distinct values; the classifier heads (2..12 logits,
    8-unit bottleneck) at most one element saturated.
    """
    it = interpreter(models[name])
    details = [
        d
        for d in it.get_tensor_details()
        if d["dtype"] == np.int8 and d["name"] != "input" and "/weights" not in d["name"]
    ]
    assert len(details) == len(EXPECTED_OPS[name])
    for seed in range(3):
        it.set_tensor(it.get_input_details()[0]["index"], WL.sample_input(name, seed))
        it.invoke()
        for d in details:
            v = it.get_tensor(d["index"])
            distinct = len(np.unique(v))
            where = f"{name} {d['name']} seed {seed}"
            assert distinct >= min(32, max(2, v.size // 4)), f"{where}: {distinct} values"
            assert _saturated(v, d["quantization"][1]) <= max(1, 0.02 * v.size), where
            if v.size >= 256:
                assert (int(v.max()) - int(v.min()) + 1) / 256 >= 0.2, where


def test_deterministic_bytes_and_seeds(models):
    assert WL.build_workload("kws") == models["kws"]
    other = WL.build_workload("kws", seed=WL.DEFAULT_SEED + 1)
    assert other != models["kws"] and len(other) == len(models["kws"])


def test_write_workload(tmp_path, models):
    path = WL.write_workload("ad", tmp_path / "ad.tflite")
    assert path.read_bytes() == models["ad"]


def test_unknown_workload_is_a_one_line_error():
    with pytest.raises(ModelError) as e:
        WL.build_workload("resnet50")
    assert isinstance(e.value, CmsimError) and e.value.exit_code == 2
    assert str(e.value) == "unknown workload 'resnet50' (known workloads: ic, kws, vww, ad)"


def test_records():
    assert list(WL.WORKLOADS) == list(NAMES)
    for name, w in WL.WORKLOADS.items():
        assert w.name == name and w.input_shape == INPUT_SHAPES[name]
        assert "mlcommons/tiny" in w.source and w.description
        assert WL.sample_input(name, 3).shape == w.input_shape
