"""Single-operator int8 models for the model tests, drawn by hypothesis or built by hand.

Each builder returns the bytes of a .tflite written by cmsim's writer (cmsim.model.writer),
with random shapes, scales and zero points, so that TFLite's interpreter, the numpy golden
models and the firmware kernels can be compared on the same operator.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from hypothesis import strategies as st

from cmsim.model import writer as W


def rewrite(data: bytes, change, tail: bytes = b"") -> bytes:
    """Unpack a model with the schema's object API, let `change` edit it, pack it again (with
    `tail` appended): how the tests make models the writer refuses to write."""
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    change(model)
    builder = flatbuffers.Builder(len(data))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()) + tail


def _scale(draw, low: float, high: float) -> float:
    return float(np.float32(10 ** draw(st.floats(low, high))))


def _zero_point(draw) -> int:
    return draw(st.integers(-128, 127))


def _activation_tensor(draw, g: W.Graph, name: str, shape) -> int:
    quant = W.Quantization.per_tensor(_scale(draw, -3, 0.3), _zero_point(draw))
    return g.add_tensor(W.Tensor(name, tuple(shape), quant=quant))


def _weights(draw, g, shape, channels: int, axis: int, input_scale: float, rng) -> tuple[int, int]:
    per_channel = draw(st.booleans())
    scales = [_scale(draw, -3, -1) for _ in range(channels if per_channel else 1)]
    quant = (
        W.Quantization.per_channel(scales, axis)
        if per_channel
        else W.Quantization.per_tensor(scales[0], 0)
    )
    data = rng.integers(-127, 128, shape).astype(np.int8)
    w = g.add_tensor(W.Tensor("weights", tuple(shape), quant=quant, data=data))
    bias_scales = [
        float(np.float32(input_scale) * np.float32(scales[c if per_channel else 0]))
        for c in range(channels)
    ]
    bias_quant = (
        W.Quantization.per_channel(bias_scales, 0)
        if per_channel
        else W.Quantization.per_tensor(bias_scales[0], 0)
    )
    bias = rng.integers(-5000, 5000, channels).astype(np.int32)
    b = g.add_tensor(W.Tensor("bias", (channels,), "int32", bias_quant, bias))
    return w, b


def _finish(g: W.Graph, inputs, outputs) -> bytes:
    g.inputs, g.outputs = list(inputs), list(outputs)
    return W.to_tflite(g)


def _window_fits(size: int, kernel: int, stride: int, padding: str) -> bool:
    return W.conv_output_size(size, kernel, stride, 1, padding) > 0


@st.composite
def conv_models(draw, depthwise: bool = False) -> bytes:
    """CONV_2D or DEPTHWISE_CONV_2D with random geometry, padding, activation, quantization."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    c = draw(st.integers(1, 12))
    k_h, k_w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    if not (_window_fits(h, k_h, stride[0], padding) and _window_fits(w, k_w, stride[1], padding)):
        padding = "SAME"
    oh = W.conv_output_size(h, k_h, stride[0], 1, padding)
    ow = W.conv_output_size(w, k_w, stride[1], 1, padding)
    activation = draw(st.sampled_from(["NONE", "RELU", "RELU6"]))
    g = W.Graph()
    x = _activation_tensor(draw, g, "input", (1, h, w, c))
    if depthwise:
        m = draw(st.integers(1, 3))
        oc = c * m
        wt, b = _weights(draw, g, (1, k_h, k_w, oc), oc, 3, g.tensors[x].quant.scale[0], rng)
        options = W.DepthwiseConv2D(stride, padding, activation, m)
    else:
        oc = draw(st.integers(1, 12))
        wt, b = _weights(draw, g, (oc, k_h, k_w, c), oc, 0, g.tensors[x].quant.scale[0], rng)
        options = W.Conv2D(stride, padding, activation)
    y = _activation_tensor(draw, g, "output", (1, oh, ow, oc))
    g.add_operator(options, (x, wt, b), (y,))
    return _finish(g, [x], [y])


@st.composite
def fully_connected_models(draw) -> bytes:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, m, batches = draw(st.integers(1, 80)), draw(st.integers(1, 24)), draw(st.integers(1, 3))
    g = W.Graph()
    x = _activation_tensor(draw, g, "input", (batches, n))
    wt, b = _weights(draw, g, (m, n), m, 0, g.tensors[x].quant.scale[0], rng)
    y = _activation_tensor(draw, g, "output", (batches, m))
    activation = draw(st.sampled_from(["NONE", "RELU", "RELU6"]))
    g.add_operator(W.FullyConnected(activation), (x, wt, b), (y,))
    return _finish(g, [x], [y])


@st.composite
def pool_models(draw, average: bool) -> bytes:
    h, w, c = draw(st.integers(1, 10)), draw(st.integers(1, 10)), draw(st.integers(1, 12))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    if not (
        _window_fits(h, k[0], stride[0], padding) and _window_fits(w, k[1], stride[1], padding)
    ):
        padding = "SAME"
    oh = W.conv_output_size(h, k[0], stride[0], 1, padding)
    ow = W.conv_output_size(w, k[1], stride[1], 1, padding)
    g = W.Graph()
    x = _activation_tensor(draw, g, "input", (1, h, w, c))
    y = g.add_tensor(W.Tensor("output", (1, oh, ow, c), quant=g.tensors[x].quant))
    activation = draw(st.sampled_from(["NONE", "RELU", "RELU6"]))
    kind = W.AveragePool2D if average else W.MaxPool2D
    g.add_operator(kind(k, stride, padding, activation), (x,), (y,))
    return _finish(g, [x], [y])


@st.composite
def add_models(draw) -> bytes:
    shape = (1, draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 9)))
    g = W.Graph()
    a = _activation_tensor(draw, g, "a", shape)
    b = _activation_tensor(draw, g, "b", shape)
    y = _activation_tensor(draw, g, "output", shape)
    g.add_operator(W.Add(draw(st.sampled_from(["NONE", "RELU", "RELU6"]))), (a, b), (y,))
    return _finish(g, [a, b], [y])


@st.composite
def softmax_models(draw) -> bytes:
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 60)))
    g = W.Graph()
    x = _activation_tensor(draw, g, "input", shape)
    y = g.add_tensor(W.Tensor("output", shape, quant=W.Quantization.per_tensor(1 / 256, -128)))
    beta = float(np.float32(draw(st.sampled_from([1.0, 0.5, 2.0, 0.37]))))
    g.add_operator(W.Softmax(beta), (x,), (y,))
    return _finish(g, [x], [y])


@st.composite
def quantize_models(draw) -> bytes:
    """QUANTIZE float32 -> int8, QUANTIZE int8 -> int8 (requantize), or DEQUANTIZE."""
    shape = (1, draw(st.integers(1, 40)))
    kind = draw(st.sampled_from(["quantize", "requantize", "dequantize"]))
    g = W.Graph()
    if kind == "quantize":
        x = g.add_tensor(W.Tensor("input", shape, "float32"))
        y = _activation_tensor(draw, g, "output", shape)
        g.add_operator(W.Quantize(), (x,), (y,))
    elif kind == "requantize":
        x = _activation_tensor(draw, g, "input", shape)
        y = _activation_tensor(draw, g, "output", shape)
        g.add_operator(W.Quantize(), (x,), (y,))
    else:
        x = _activation_tensor(draw, g, "input", shape)
        y = g.add_tensor(W.Tensor("output", shape, "float32"))
        g.add_operator(W.Dequantize(), (x,), (y,))
    return _finish(g, [x], [y])


@st.composite
def mean_models(draw) -> bytes:
    """MEAN over contiguous axes, as older TFLite took its three int8 paths: keep_dims on [1, 2]
    (integer multiplier), equal quantization (raw sum), and the float32 path."""
    shape = (1, draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 9)))
    axes = draw(st.sampled_from([[1, 2], [2, 1], [-3, -2], [1], [2], [3], [1, 2, 3]]))
    keep_dims = draw(st.booleans())
    reduced = {a % 4 for a in axes}
    out_shape = tuple(
        1 if i in reduced else d for i, d in enumerate(shape) if keep_dims or i not in reduced
    )
    g = W.Graph()
    x = _activation_tensor(draw, g, "input", shape)
    if draw(st.booleans()):  # the raw-sum path: the output quantized like the input
        y = g.add_tensor(W.Tensor("output", out_shape, quant=g.tensors[x].quant))
    else:
        y = _activation_tensor(draw, g, "output", out_shape)
    a = g.add_tensor(W.Tensor("axes", (len(axes),), "int32", data=np.asarray(axes, np.int32)))
    g.add_operator(W.Mean(keep_dims), (x, a), (y,))
    return _finish(g, [x], [y])


@st.composite
def pad_models(draw) -> bytes:
    """PAD of a 2-D to 4-D tensor by 0-3 on each side of each dimension."""
    rank = draw(st.integers(2, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    pads = np.asarray([[draw(st.integers(0, 3)) for _ in range(2)] for _ in range(rank)], np.int32)
    g = W.Graph()
    x = _activation_tensor(draw, g, "input", shape)
    out_shape = tuple(int(d + a + b) for d, (a, b) in zip(shape, pads, strict=True))
    y = g.add_tensor(W.Tensor("output", out_shape, quant=g.tensors[x].quant))
    p = g.add_tensor(W.Tensor("paddings", (rank, 2), "int32", data=pads))
    g.add_operator(W.Pad(), (x, p), (y,))
    return _finish(g, [x], [y])


@st.composite
def concatenation_models(draw) -> bytes:
    """CONCATENATION of 1-4 tensors along any axis (negative too), inputs quantized like the
    output as TFLite's int8 kernel requires."""
    rank = draw(st.integers(2, 4))
    base = [draw(st.integers(1, 4)) for _ in range(rank)]
    axis = draw(st.integers(-rank, rank - 1))
    sizes = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4)))]
    g = W.Graph()
    quant = W.Quantization.per_tensor(_scale(draw, -3, 0.3), _zero_point(draw))
    inputs = []
    for n, size in enumerate(sizes):
        shape = list(base)
        shape[axis] = size
        inputs.append(g.add_tensor(W.Tensor(f"input{n}", tuple(shape), quant=quant)))
    out_shape = list(base)
    out_shape[axis] = sum(sizes)
    y = g.add_tensor(W.Tensor("output", tuple(out_shape), quant=quant))
    g.add_operator(W.Concatenation(axis), inputs, (y,))
    return _finish(g, inputs, [y])


@st.composite
def relu_models(draw) -> bytes:
    """A stand-alone RELU, RELU6 or RELU_N1_TO_1, with the output quantized like the input
    or not."""
    shape = (1, draw(st.integers(1, 40)))
    kind = draw(st.sampled_from([W.Relu, W.Relu6, W.ReluN1To1]))
    g = W.Graph()
    x = _activation_tensor(draw, g, "input", shape)
    if draw(st.booleans()):
        y = g.add_tensor(W.Tensor("output", shape, quant=g.tensors[x].quant))
    else:
        y = _activation_tensor(draw, g, "output", shape)
    g.add_operator(kind(), (x,), (y,))
    return _finish(g, [x], [y])


@st.composite
def squashing_models(draw, operator, scale: float, zero_point: int) -> bytes:
    """LOGISTIC (output scale 1/256, zero point -128) or TANH (1/128, 0) with random input
    quantization."""
    shape = (1, draw(st.integers(1, 60)))
    g = W.Graph()
    x = _activation_tensor(draw, g, "input", shape)
    y = g.add_tensor(W.Tensor("output", shape, quant=W.Quantization.per_tensor(scale, zero_point)))
    g.add_operator(operator(), (x,), (y,))
    return _finish(g, [x], [y])


def _broadcast_shapes(draw) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Two shapes that broadcast (a squeeze-excite scale [1, 1, 1, C] against [1, H, W, C],
    a scalar, a row, same shapes) and the output shape."""
    out = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 4))))

    def operand():
        keep = [draw(st.booleans()) for _ in out]
        shape = tuple(d if k else 1 for d, k in zip(out, keep, strict=True))
        return shape[draw(st.integers(0, len(shape) - 1)) :] if draw(st.booleans()) else shape

    a, b = operand(), operand()
    if draw(st.booleans()):
        a = out
    return a, b, tuple(int(d) for d in np.broadcast_shapes(a, b))


@st.composite
def broadcast_models(draw, operator) -> bytes:
    """ADD (writer.Add) or MUL (writer.Mul) whose inputs broadcast or hold the same elements,
    with random quantization and fused activation."""
    a_shape, b_shape, out = _broadcast_shapes(draw)
    g = W.Graph()
    a = _activation_tensor(draw, g, "a", a_shape)
    b = _activation_tensor(draw, g, "b", b_shape)
    y = _activation_tensor(draw, g, "output", out)
    g.add_operator(operator(draw(st.sampled_from(["NONE", "RELU", "RELU6"]))), (a, b), (y,))
    return _finish(g, [a, b], [y])


@st.composite
def hard_swish_models(draw) -> bytes:
    """HARD_SWISH with random input and output quantization (output scale at least 1/128 of
    the input's, as TFLite requires)."""
    shape = (1, draw(st.integers(1, 60)))
    g = W.Graph()
    x = _activation_tensor(draw, g, "input", shape)
    low = float(np.log10(g.tensors[x].quant.scale[0] / 100))
    quant = W.Quantization.per_tensor(_scale(draw, low, low + 2.5), _zero_point(draw))
    y = g.add_tensor(W.Tensor("output", shape, quant=quant))
    g.add_operator(W.HardSwish(), (x,), (y,))
    return _finish(g, [x], [y])


@st.composite
def leaky_relu_models(draw) -> bytes:
    """LEAKY_RELU with random alpha and quantization."""
    shape = (1, draw(st.integers(1, 60)))
    g = W.Graph()
    x = _activation_tensor(draw, g, "input", shape)
    y = _activation_tensor(draw, g, "output", shape)
    alpha = float(np.float32(draw(st.sampled_from([0.01, 0.1, 0.2, 0.3, 0.5]))))
    g.add_operator(W.LeakyRelu(alpha), (x,), (y,))
    return _finish(g, [x], [y])


OPERATOR_MODELS = {
    "CONV_2D": conv_models(),
    "DEPTHWISE_CONV_2D": conv_models(depthwise=True),
    "FULLY_CONNECTED": fully_connected_models(),
    "AVERAGE_POOL_2D": pool_models(average=True),
    "MAX_POOL_2D": pool_models(average=False),
    "ADD": add_models(),
    "SOFTMAX": softmax_models(),
    "QUANTIZE/DEQUANTIZE": quantize_models(),
    "MEAN": mean_models(),
    "PAD": pad_models(),
    "CONCATENATION": concatenation_models(),
    "RELU/RELU6/RELU_N1_TO_1": relu_models(),
    "LOGISTIC": squashing_models(W.Logistic, 1 / 256, -128),
    "ADD (broadcast)": broadcast_models(W.Add),
    "MUL": broadcast_models(W.Mul),
    "HARD_SWISH": hard_swish_models(),
    "LEAKY_RELU": leaky_relu_models(),
    "TANH": squashing_models(W.Tanh, 1 / 128, 0),
}
