"""cmsim.model.writer: .tflite bytes that TFLite's own schema reader and interpreter accept.

Round trip: a graph using every supported operator is written, read back with the schema's
object API, and every shape, quantization parameter, option and constant compared. Hypothesis
builds random single-operator models, runs them in the LiteRT interpreter with its reference
kernels, and compares the int8 outputs with a float computation of the same arithmetic
(within the 1 LSB that TFLite's fixed-point requantization may differ from exact rounding).
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmsim.errors import CmsimError, ModelError
from cmsim.model import calibrate
from cmsim.model import writer as W
from cmsim.model.reference import reference_interpreter
from cmsim.model.writer import Quantization as Q
from cmsim.model.writer import Tensor

FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


interpreter = reference_interpreter


def run(model: bytes, *inputs: np.ndarray) -> np.ndarray:
    it = interpreter(model)
    for detail, x in zip(it.get_input_details(), inputs, strict=True):
        it.set_tensor(detail["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def read_back(model: bytes) -> schema.ModelT:
    assert schema.Model.ModelBufferHasIdentifier(model, 0)
    return schema.ModelT.InitFromPackedBuf(model, 0)


def act(scale: float, zero_point: int) -> Q:
    return Q.per_tensor(scale, zero_point)


def weighted(g: W.Graph, name: str, w: np.ndarray, scales, axis: int, in_scale: float):
    """Add int8 weights (per-channel along axis, or per-tensor for one scale) and int32 bias."""
    scales = np.asarray(scales, np.float32)
    channels = w.shape[axis]
    wq = Q.per_channel(scales, axis) if len(scales) > 1 else Q.per_tensor(scales[0], 0)
    bias_scales = np.float32(in_scale) * scales
    bq = Q.per_channel(bias_scales, 0) if len(scales) > 1 else Q.per_tensor(bias_scales[0], 0)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    b = rng.integers(-2000, 2000, channels).astype(np.int32)
    wi = g.add_tensor(Tensor(f"{name}/weights", w.shape, "int8", wq, w))
    bi = g.add_tensor(Tensor(f"{name}/bias", (channels,), "int32", bq, b))
    return wi, bi


# ------------------------------------------------------------------------- round trip


def every_op_graph() -> W.Graph:
    """input 6x6x4 -> conv 3x3/2 -> depthwise x2 -> maxpool -> add -> avgpool -> reshape -> fc
    -> softmax: every supported operator, per-channel and per-tensor weights."""
    rng = np.random.default_rng(5)
    g = W.Graph(description="every op")
    x = g.add_tensor(Tensor("input", (1, 6, 6, 4), quant=act(0.02, -5)))
    w = rng.integers(-127, 128, (8, 3, 3, 4)).astype(np.int8)
    c = g.add_tensor(Tensor("conv", (1, 3, 3, 8), quant=act(0.05, -128)))
    g.add_operator(
        W.Conv2D((2, 2), "SAME", "RELU"),
        (x, *weighted(g, "conv", w, rng.uniform(0.001, 0.01, 8), 0, 0.02)),
        (c,),
    )
    w = rng.integers(-127, 128, (1, 3, 3, 16)).astype(np.int8)
    d = g.add_tensor(Tensor("dw", (1, 3, 3, 16), quant=act(0.04, 10)))
    g.add_operator(
        W.DepthwiseConv2D((1, 1), "SAME", "RELU6", 2),
        (c, *weighted(g, "dw", w, rng.uniform(0.001, 0.01, 16), 3, 0.05)),
        (d,),
    )
    m = g.add_tensor(Tensor("max", (1, 3, 3, 16), quant=act(0.04, 10)))
    g.add_operator(W.MaxPool2D((2, 2), (1, 1), "SAME"), (d,), (m,))
    a = g.add_tensor(Tensor("add", (1, 3, 3, 16), quant=act(0.07, -20)))
    g.add_operator(W.Add("RELU"), (d, m), (a,))
    p = g.add_tensor(Tensor("avg", (1, 1, 1, 16), quant=act(0.07, -20)))
    g.add_operator(W.AveragePool2D((3, 3), (3, 3), "VALID"), (a,), (p,))
    shape = g.add_tensor(Tensor("flat/shape", (2,), "int32", data=np.array([1, 16], np.int32)))
    f = g.add_tensor(Tensor("flat", (1, 16), quant=act(0.07, -20)))
    g.add_operator(W.Reshape((1, 16)), (p, shape), (f,))
    w = rng.integers(-127, 128, (5, 16)).astype(np.int8)
    o = g.add_tensor(Tensor("fc", (1, 5), quant=act(0.1, 3)))
    g.add_operator(W.FullyConnected(), (f, *weighted(g, "fc", w, [0.004], 0, 0.07)), (o,))
    s = g.add_tensor(Tensor("softmax", (1, 5), quant=act(1 / 256, -128)))
    g.add_operator(W.Softmax(), (o,), (s,))
    g.inputs, g.outputs = [x], [s]
    return g


@pytest.fixture(scope="module")
def every_op() -> tuple[W.Graph, bytes]:
    g = every_op_graph()
    return g, W.to_tflite(g)


def test_header_version_and_buffers(every_op):
    g, model = every_op
    assert model[4:8] == b"TFL3"
    m = read_back(model)
    assert m.version == 3 and len(m.subgraphs) == 1
    assert m.description == b"every op"
    constants = [t for t in g.tensors if t.data is not None]
    assert len(m.buffers) == 1 + len(constants)  # buffer 0 stays empty
    assert m.buffers[0].data is None
    sub = m.subgraphs[0]
    assert list(sub.inputs) == g.inputs and list(sub.outputs) == g.outputs
    for t, tt in zip(g.tensors, sub.tensors, strict=True):
        assert tt.name.decode() == t.name
        assert tuple(tt.shape) == t.shape and tuple(tt.shapeSignature) == t.shape
        if t.data is None:
            assert tt.buffer == 0
        else:
            raw = np.asarray(m.buffers[tt.buffer].data, np.uint8).tobytes()
            assert raw == t.data.tobytes()


def test_constant_buffers_are_16_byte_aligned(every_op):
    g, model = every_op
    for t in g.tensors:
        if t.data is not None and t.data.nbytes >= 4:
            offset = model.find(t.data.tobytes())
            assert offset > 0 and offset % 16 == 0, t.name


def test_quantization_round_trip(every_op):
    g, model = every_op
    sub = read_back(model).subgraphs[0]
    for t, tt in zip(g.tensors, sub.tensors, strict=True):
        if t.quant is None:
            assert tt.quantization is None or tt.quantization.scale is None
            continue
        q = tt.quantization
        assert list(q.scale) == list(np.float32(t.quant.scale))
        assert list(q.zeroPoint) == list(t.quant.zero_point)
        assert q.quantizedDimension == t.quant.axis
    by_name = {tt.name.decode(): tt for tt in sub.tensors}
    # per-channel conv weights on dim 0 (8 scales), depthwise on dim 3 (16), fc per tensor (1)
    assert len(by_name["conv/weights"].quantization.scale) == 8
    assert by_name["dw/weights"].quantization.quantizedDimension == 3
    assert len(by_name["dw/weights"].quantization.scale) == 16
    assert len(by_name["fc/weights"].quantization.scale) == 1
    assert by_name["conv/weights"].type == schema.TensorType.INT8
    assert by_name["conv/bias"].type == schema.TensorType.INT32


def test_operator_codes_and_options(every_op):
    _, model = every_op
    m = read_back(model)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = [(names[c.builtinCode], c.deprecatedBuiltinCode, c.version) for c in m.operatorCodes]
    assert all(dep == min(getattr(schema.BuiltinOperator, n), 127) for n, dep, _ in codes)
    ops = m.subgraphs[0].operators
    kinds = [codes[op.opcodeIndex][0] for op in ops]
    assert kinds == [
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "MAX_POOL_2D",
        "ADD",
        "AVERAGE_POOL_2D",
        "RESHAPE",
        "FULLY_CONNECTED",
        "SOFTMAX",
    ]
    assert len(codes) == len(set(kinds))  # one code per builtin, in order of first use
    conv, dw, mx, add, avg, reshape, fc, sm = (op.builtinOptions for op in ops)
    A, P = schema.ActivationFunctionType, schema.Padding
    assert (conv.strideH, conv.strideW, conv.padding, conv.fusedActivationFunction) == (
        2,
        2,
        P.SAME,
        A.RELU,
    )
    assert (dw.depthMultiplier, dw.fusedActivationFunction, dw.padding) == (2, A.RELU6, P.SAME)
    assert (mx.filterHeight, mx.filterWidth, mx.strideH, mx.padding) == (2, 2, 1, P.SAME)
    assert add.fusedActivationFunction == A.RELU
    assert (avg.filterHeight, avg.filterWidth, avg.strideW, avg.padding) == (3, 3, 3, P.VALID)
    assert list(reshape.newShape) == [1, 16]
    assert fc.fusedActivationFunction == A.NONE and fc.keepNumDims is False
    assert sm.beta == 1.0
    assert ops[0].builtinOptionsType == schema.BuiltinOptions.Conv2DOptions


def test_deterministic_bytes():
    assert W.to_tflite(every_op_graph()) == W.to_tflite(every_op_graph())


def test_every_op_graph_runs_in_the_interpreter(every_op):
    _, model = every_op
    x = np.random.default_rng(3).integers(-128, 128, (1, 6, 6, 4)).astype(np.int8)
    out = run(model, x)
    assert out.dtype == np.int8 and out.shape == (1, 5)
    assert abs(int(out.astype(np.int32).sum()) + 128 * 5 - 256) <= 5  # probabilities sum to 1


def test_counts(every_op):
    g, _ = every_op
    assert g.param_count() == (8 * 36 + 8) + (16 * 9 + 16) + (5 * 16 + 5)
    assert g.mac_count() == 3 * 3 * 8 * 36 + 3 * 3 * 16 * 9 + 5 * 16


# ---------------------------------------------------------------------- rejected graphs


def _broken(change) -> W.Graph:
    g = every_op_graph()
    change(g)
    return g


def _replace_tensor(g: W.Graph, name: str, **kw) -> None:
    i = next(n for n, t in enumerate(g.tensors) if t.name == name)
    t = g.tensors[i]
    g.tensors[i] = Tensor(
        **{**dict(name=t.name, shape=t.shape, dtype=t.dtype, quant=t.quant, data=t.data), **kw}
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda g: _replace_tensor(g, "conv/bias", quant=Q.per_channel([1.0] * 8, 0)),
            "needs scale input_scale * weight_scale",
        ),
        (lambda g: _replace_tensor(g, "conv", shape=(1, 6, 6, 8)), "expected (1, 3, 3, 8)"),
        (lambda g: _replace_tensor(g, "avg", quant=act(0.5, 0)), "keep the input's quant"),
        (lambda g: _replace_tensor(g, "softmax", quant=act(0.5, 0)), "scale 1/256"),
        (lambda g: _replace_tensor(g, "input", quant=act(0.1, 200)), "outside [-128, 127]"),
        (
            lambda g: _replace_tensor(g, "dw/weights", quant=Q.per_channel([0.01] * 16, 0)),
            "16 scales for dim",
        ),
        (lambda g: _replace_tensor(g, "fc/weights", quant=Q((0.01,), (3,))), "symmetric"),
        (lambda g: g.operators.reverse(), "not computed before"),
        (lambda g: setattr(g, "outputs", []), "needs inputs, outputs"),
    ],
)
def test_rejects_graphs_that_break_the_int8_spec(change, message):
    with pytest.raises(ModelError, match=re.escape(message)) as e:
        W.to_tflite(_broken(change))
    assert isinstance(e.value, CmsimError) and e.value.exit_code == 2
    assert "\n" not in str(e.value)


# --------------------------------------------------------- random single-op models


def requantize(real: np.ndarray, q: Q, activation: str = "NONE") -> np.ndarray:
    """Exact rounding of real values to int8 at q, with the fused activation's clamp."""
    out = np.round(real / q.scale[0]) + q.zero_point[0]
    lo, hi = -128, 127
    if activation in ("RELU", "RELU6"):
        lo = max(lo, q.zero_point[0])
    if activation == "RELU6":
        hi = min(hi, q.zero_point[0] + round(6 / q.scale[0]))
    return np.clip(out, lo, hi)


def dequant(x: np.ndarray, q: Q) -> np.ndarray:
    return (x.astype(np.float64) - q.zero_point[0]) * q.scale[0]


def assert_close(got: np.ndarray, want: np.ndarray, lsb: int = 1) -> None:
    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
    assert diff.max() <= lsb, f"max difference {diff.max()} LSB"


spatial = st.integers(1, 9)
channels = st.integers(1, 10)
kernel = st.integers(1, 4)
stride = st.integers(1, 3)
padding = st.sampled_from(["SAME", "VALID"])
activation = st.sampled_from(["NONE", "RELU", "RELU6"])
zero_point = st.integers(-128, 127)
seed = st.integers(0, 2**16)


def conv_case(data, depthwise: bool):
    h, w, c = data.draw(spatial), data.draw(spatial), data.draw(channels)
    kh, kw = data.draw(kernel), data.draw(kernel)
    pad = data.draw(padding)
    if pad == "VALID":
        kh, kw = min(kh, h), min(kw, w)
    return h, w, c, kh, kw, pad


@FAST
@given(st.data(), st.booleans(), seed)
def test_random_conv_models_run_and_agree(data, depthwise, s):
    rng = np.random.default_rng(s)
    h, w, c, kh, kw, pad = conv_case(data, depthwise)
    sh, sw = data.draw(stride), data.draw(stride)
    mult = data.draw(st.integers(1, 3)) if depthwise else 1
    out_c = c * mult if depthwise else data.draw(channels)
    fused = data.draw(activation)
    in_q = act(rng.uniform(0.01, 0.1), data.draw(zero_point))
    oh = W.conv_output_size(h, kh, sh, 1, pad)
    ow = W.conv_output_size(w, kw, sw, 1, pad)
    taps = kh * kw * (1 if depthwise else c)
    out_q = act(in_q.scale[0] * 0.01 * np.sqrt(taps) * rng.uniform(0.3, 1.0), data.draw(zero_point))

    g = W.Graph()
    x = g.add_tensor(Tensor("x", (1, h, w, c), quant=in_q))
    shape = (1, kh, kw, out_c) if depthwise else (out_c, kh, kw, c)
    wts = rng.integers(-127, 128, shape).astype(np.int8)
    scales = rng.uniform(0.002, 0.02, out_c)
    wi, bi = weighted(g, "k", wts, scales, 3 if depthwise else 0, in_q.scale[0])
    y = g.add_tensor(Tensor("y", (1, oh, ow, out_c), quant=out_q))
    opts = (
        W.DepthwiseConv2D((sh, sw), pad, fused, mult)
        if depthwise
        else W.Conv2D((sh, sw), pad, fused)
    )
    g.add_operator(opts, (x, wi, bi), (y,))
    g.inputs, g.outputs = [x], [y]
    xq = rng.integers(-128, 128, (1, h, w, c)).astype(np.int8)
    got = run(W.to_tflite(g), xq)

    wreal = wts * np.float32(scales).reshape(
        [-1 if a == (3 if depthwise else 0) else 1 for a in range(4)]
    )
    breal = g.tensors[bi].data * np.float32(g.tensors[bi].quant.scale)
    xr = dequant(xq, in_q)
    if depthwise:
        real = calibrate.depthwise_conv2d(xr, wreal, breal, (sh, sw), pad, mult)
    else:
        real = calibrate.conv2d(xr, wreal, breal, (sh, sw), pad)
    assert got.shape == real.shape
    assert_close(got, requantize(real, out_q, fused))


@FAST
@given(
    st.integers(1, 4),
    st.integers(1, 40),
    st.integers(1, 20),
    activation,
    zero_point,
    zero_point,
    st.booleans(),
    seed,
)
def test_random_fully_connected_models_run_and_agree(
    batch, n_in, n_out, fused, zi, zo, per_channel, s
):
    rng = np.random.default_rng(s)
    in_q = act(rng.uniform(0.01, 0.1), zi)
    out_q = act(in_q.scale[0] * 0.01 * np.sqrt(n_in) * rng.uniform(0.3, 1.0), zo)
    g = W.Graph()
    x = g.add_tensor(Tensor("x", (batch, n_in), quant=in_q))
    wts = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    scales = rng.uniform(0.002, 0.02, n_out if per_channel else 1)
    wi, bi = weighted(g, "fc", wts, scales, 0, in_q.scale[0])
    y = g.add_tensor(Tensor("y", (batch, n_out), quant=out_q))
    g.add_operator(W.FullyConnected(fused), (x, wi, bi), (y,))
    g.inputs, g.outputs = [x], [y]
    xq = rng.integers(-128, 128, (batch, n_in)).astype(np.int8)
    got = run(W.to_tflite(g), xq)
    wreal = wts * np.float32(scales)[:, None] if per_channel else wts * np.float32(scales[0])
    breal = g.tensors[bi].data * np.float32(g.tensors[bi].quant.scale)
    real = calibrate.fully_connected(dequant(xq, in_q), wreal, breal)
    assert_close(got, requantize(real, out_q, fused))


@FAST
@given(st.data(), st.booleans(), seed)
def test_random_pool_models_run_and_agree(data, average, s):
    rng = np.random.default_rng(s)
    h, w, c, fh, fw, pad = conv_case(data, False)
    sh, sw = data.draw(stride), data.draw(stride)
    q = act(rng.uniform(0.01, 0.1), data.draw(zero_point))
    oh, ow = W.conv_output_size(h, fh, sh, 1, pad), W.conv_output_size(w, fw, sw, 1, pad)
    g = W.Graph()
    x = g.add_tensor(Tensor("x", (1, h, w, c), quant=q))
    y = g.add_tensor(Tensor("y", (1, oh, ow, c), quant=q))
    cls = W.AveragePool2D if average else W.MaxPool2D
    g.add_operator(cls((fh, fw), (sh, sw), pad), (x,), (y,))
    g.inputs, g.outputs = [x], [y]
    xq = rng.integers(-128, 128, (1, h, w, c)).astype(np.int8)
    got = run(W.to_tflite(g), xq)
    if average:
        assert_close(
            got, np.round(calibrate.average_pool(xq.astype(np.float64), (fh, fw), (sh, sw), pad))
        )
    else:  # max pool on the shared scale is exact
        want = calibrate.max_pool(xq.astype(np.float64), (fh, fw), (sh, sw), pad)
        assert (got == want).all()


@FAST
@given(
    st.integers(1, 5),
    st.integers(1, 6),
    st.integers(1, 12),
    activation,
    zero_point,
    zero_point,
    zero_point,
    seed,
)
def test_random_add_models_run_and_agree(h, w, c, fused, za, zb, zo, s):
    rng = np.random.default_rng(s)
    qa, qb = act(rng.uniform(0.01, 0.1), za), act(rng.uniform(0.01, 0.1), zb)
    qo = act((qa.scale[0] + qb.scale[0]) * rng.uniform(0.5, 1.5), zo)
    g = W.Graph()
    a = g.add_tensor(Tensor("a", (1, h, w, c), quant=qa))
    b = g.add_tensor(Tensor("b", (1, h, w, c), quant=qb))
    y = g.add_tensor(Tensor("y", (1, h, w, c), quant=qo))
    g.add_operator(W.Add(fused), (a, b), (y,))
    g.inputs, g.outputs = [a, b], [y]
    xa, xb = (rng.integers(-128, 128, (1, h, w, c)).astype(np.int8) for _ in range(2))
    got = run(W.to_tflite(g), xa, xb)
    assert_close(got, requantize(dequant(xa, qa) + dequant(xb, qb), qo, fused))


@FAST
@given(st.integers(1, 3), st.integers(2, 30), zero_point, seed)
def test_random_softmax_models_run_and_agree(rows, n, zi, s):
    rng = np.random.default_rng(s)
    q = act(rng.uniform(0.02, 0.2), zi)
    g = W.Graph()
    x = g.add_tensor(Tensor("x", (rows, n), quant=q))
    y = g.add_tensor(Tensor("y", (rows, n), quant=act(1 / 256, -128)))
    g.add_operator(W.Softmax(), (x,), (y,))
    g.inputs, g.outputs = [x], [y]
    xq = rng.integers(-128, 128, (rows, n)).astype(np.int8)
    got = run(W.to_tflite(g), xq)
    # TFLite's int8 softmax evaluates exp in fixed point: allow 2 LSB of 1/256.
    assert_close(got, requantize(calibrate.softmax(dequant(xq, q)), act(1 / 256, -128)), 2)


@FAST
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), zero_point, seed)
def test_random_reshape_models_keep_the_bytes(dims, z, s):
    rng = np.random.default_rng(s)
    q = act(0.05, z)
    size = int(np.prod(dims))
    g = W.Graph()
    x = g.add_tensor(Tensor("x", tuple(dims), quant=q))
    shape = g.add_tensor(Tensor("s", (2,), "int32", data=np.array([1, size], np.int32)))
    y = g.add_tensor(Tensor("y", (1, size), quant=q))
    g.add_operator(W.Reshape((1, size)), (x, shape), (y,))
    g.inputs, g.outputs = [x], [y]
    xq = rng.integers(-128, 128, dims).astype(np.int8)
    assert (run(W.to_tflite(g), xq) == xq.reshape(1, size)).all()
