"""Write full-integer (int8) TFLite flatbuffers from a plain graph description.

A `Graph` is a list of `Tensor`s (shape, dtype, quantization, constant data or none) and a list
of `Operator`s (an options record that names the builtin op, input and output tensor indices).
`to_tflite` checks the graph against TFLite's int8 quantization spec and packs it with the
schema's object API into the bytes of a `.tflite` file laid out the way TensorFlow's converter
lays them out: file identifier "TFL3", schema version 3, one subgraph, buffer 0 empty and one
buffer per constant tensor (16-byte aligned), `shape_signature` set, operator codes carrying
both `deprecated_builtin_code` (min(code, 127)) and `builtin_code`. The same graph always gives
the same bytes.

Quantization (TFLite int8 spec): activations asymmetric int8 (zero point in [-128, 127]);
weights symmetric int8 (zero point 0), per output channel on dimension 0 for CONV_2D and
FULLY_CONNECTED weights [O, ...] and on dimension 3 for DEPTHWISE_CONV_2D weights
[1, KH, KW, C * M]; bias int32 with scale input_scale * weight_scale[c] and zero point 0;
AVERAGE/MAX_POOL_2D and RESHAPE outputs keep their input's scale and zero point; SOFTMAX output
scale 1/256, zero point -128.

Example (one 3x3 convolution)::

    import numpy as np
    from cmsim.model.writer import Conv2D, Graph, Quantization, Tensor, to_tflite

    g = Graph()
    x = g.add_tensor(Tensor("input", (1, 8, 8, 4), quant=Quantization.per_tensor(0.05, -3)))
    w = g.add_tensor(Tensor("w", (6, 3, 3, 4), quant=Quantization.per_channel([0.01] * 6, 0),
                            data=np.ones((6, 3, 3, 4), np.int8)))
    b = g.add_tensor(Tensor("b", (6,), "int32", Quantization.per_channel([0.0005] * 6, 0),
                            np.zeros(6, np.int32)))
    y = g.add_tensor(Tensor("out", (1, 8, 8, 6), quant=Quantization.per_tensor(0.1, -128)))
    g.add_operator(Conv2D(activation="RELU"), (x, w, b), (y,))
    g.inputs, g.outputs = [x], [y]
    open("conv.tflite", "wb").write(to_tflite(g))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from cmsim.errors import ModelError
from cmsim.model.graph import Quant

BuiltinOperator = schema.BuiltinOperator
BuiltinOptions = schema.BuiltinOptions

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
BUFFER_ALIGNMENT = 16  # what TensorFlow's converter uses, so kernels may read words directly

ACTIVATIONS = {
    "NONE": schema.ActivationFunctionType.NONE,
    "RELU": schema.ActivationFunctionType.RELU,
    "RELU6": schema.ActivationFunctionType.RELU6,
}
PADDINGS = {"SAME": schema.Padding.SAME, "VALID": schema.Padding.VALID}
DTYPES = {
    "int8": (schema.TensorType.INT8, np.int8),
    "int32": (schema.TensorType.INT32, np.int32),
    "float32": (schema.TensorType.FLOAT32, np.float32),
}
SOFTMAX_OUTPUT = (1.0 / 256.0, -128)
# Bias scales must equal input_scale * weight_scale up to float32 rounding, as the converter
# writes them (TFLite itself only refuses a difference above 2% of the output scale).
BIAS_SCALE_RTOL = 1e-6


# ---------------------------------------------------------------------------------- tensors


Quantization = Quant  # the reader's record (cmsim.model.graph), with its constructors


@dataclass(frozen=True, eq=False)
class Tensor:
    """A tensor: activations have `data=None`; constants (weights, bias, shapes) carry data."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "int8"
    quant: Quantization | None = None
    data: np.ndarray | None = None


# ---------------------------------------------------------------------- operator options


@dataclass(frozen=True)
class Conv2D:
    """CONV_2D: inputs (input, weights [O, KH, KW, I], bias [O])."""

    stride: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    activation: str = "NONE"
    dilation: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class DepthwiseConv2D:
    """DEPTHWISE_CONV_2D: inputs (input, weights [1, KH, KW, C * M], bias [C * M])."""

    stride: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    activation: str = "NONE"
    depth_multiplier: int = 1
    dilation: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class FullyConnected:
    """FULLY_CONNECTED: inputs (input, weights [O, I], bias [O]); output [N, O]."""

    activation: str = "NONE"


@dataclass(frozen=True)
class AveragePool2D:
    """AVERAGE_POOL_2D over `filter` (h, w) windows; output keeps the input's quantization."""

    filter: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: str = "VALID"
    activation: str = "NONE"


@dataclass(frozen=True)
class MaxPool2D:
    """MAX_POOL_2D over `filter` (h, w) windows; output keeps the input's quantization."""

    filter: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: str = "VALID"
    activation: str = "NONE"


@dataclass(frozen=True)
class Add:
    """ADD of two tensors of the same shape."""

    activation: str = "NONE"


@dataclass(frozen=True)
class Mul:
    """MUL of two tensors (NumPy broadcasting)."""

    activation: str = "NONE"


@dataclass(frozen=True)
class Reshape:
    """RESHAPE: inputs (input, new shape as a constant int32 tensor); output quantization kept."""

    new_shape: tuple[int, ...]


@dataclass(frozen=True)
class Mean:
    """MEAN: inputs (input, axes as a constant int32 tensor); `keep_dims` keeps reduced axes."""

    keep_dims: bool = False


@dataclass(frozen=True)
class Pad:
    """PAD: inputs (input, paddings as a constant int32 [rank, 2] tensor); pads with the
    output zero point."""


@dataclass(frozen=True)
class Concatenation:
    """CONCATENATION along `axis`; int8 inputs are quantized like the output."""

    axis: int
    activation: str = "NONE"


@dataclass(frozen=True)
class Relu:
    """A stand-alone RELU (requantizes when input and output scales differ)."""


@dataclass(frozen=True)
class Relu6:
    """A stand-alone RELU6."""


@dataclass(frozen=True)
class ReluN1To1:
    """A stand-alone RELU_N1_TO_1."""


@dataclass(frozen=True)
class Logistic:
    """LOGISTIC (sigmoid); int8 output scale 1/256, zero point -128."""


@dataclass(frozen=True)
class Tanh:
    """TANH; int8 output scale 1/128, zero point 0."""


@dataclass(frozen=True)
class HardSwish:
    """HARD_SWISH: x * relu6(x + 3) / 6."""


@dataclass(frozen=True)
class LeakyRelu:
    """LEAKY_RELU: x, or alpha * x below 0."""

    alpha: float = 0.2


@dataclass(frozen=True)
class Softmax:
    """SOFTMAX over the last dimension; int8 output scale 1/256, zero point -128."""

    beta: float = 1.0


@dataclass(frozen=True)
class Quantize:
    """QUANTIZE float32 -> int8 (or int8 -> int8 requantization)."""


@dataclass(frozen=True)
class Dequantize:
    """DEQUANTIZE int8 -> float32."""


@dataclass(frozen=True)
class Operator:
    """One operator: `options` names the builtin; inputs/outputs are tensor indices."""

    options: object
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    @property
    def kind(self) -> str:
        """The builtin operator name (CONV_2D, ...)."""
        return _SPECS[type(self.options)][0]


@dataclass
class Graph:
    """A single-subgraph model: tensors, operators in execution order, graph inputs/outputs."""

    tensors: list[Tensor] = field(default_factory=list)
    operators: list[Operator] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    description: str = "cmsim"

    def add_tensor(self, tensor: Tensor) -> int:
        """Append a tensor; returns its index."""
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    def add_operator(self, options, inputs, outputs) -> Operator:
        """Append an operator (executed after the ones added before it)."""
        op = Operator(options, tuple(int(i) for i in inputs), tuple(int(o) for o in outputs))
        self.operators.append(op)
        return op

    def weight_tensors(self) -> list[Tensor]:
        """Constant weight and bias tensors of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED."""
        return [
            self.tensors[i]
            for op in self.operators
            if op.kind in _WEIGHTED
            for i in op.inputs[1:]
            if i >= 0
        ]

    def param_count(self) -> int:
        """Trainable parameters: elements of the weight and bias tensors."""
        return sum(int(np.prod(t.shape)) for t in self.weight_tensors())

    def mac_count(self) -> int:
        """Multiply-accumulates of the convolutions and fully connected layers."""
        return sum(_macs(self, op) for op in self.operators)


_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def _macs(graph: Graph, op: Operator) -> int:
    out = int(np.prod(graph.tensors[op.outputs[0]].shape))
    weights = graph.tensors[op.inputs[1]].shape if op.kind in _WEIGHTED else ()
    if op.kind == "CONV_2D":
        return out * weights[1] * weights[2] * weights[3]
    if op.kind == "DEPTHWISE_CONV_2D":
        return out * weights[1] * weights[2]
    if op.kind == "FULLY_CONNECTED":
        return out * weights[1]
    return 0


# ---------------------------------------------------------------------------- shape rules


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Output length along one axis for TFLite's SAME / VALID padding."""
    if padding == "SAME":
        return -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    return (size - effective + stride) // stride


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding TFLite uses for SAME (the odd element goes after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _spatial(opts, in_shape, kernel) -> tuple[int, int]:
    dilation = getattr(opts, "dilation", (1, 1))
    return tuple(
        conv_output_size(in_shape[1 + a], kernel[a], opts.stride[a], dilation[a], opts.padding)
        for a in (0, 1)
    )


# ------------------------------------------------------------------------------ checking


def _fail(where: str, message: str):
    raise ModelError(f"model graph: {where}: {message}")


def _check_quant(t: Tensor, where: str) -> None:
    q = t.quant
    if q is None:
        if t.dtype == "int8":
            _fail(where, f"int8 tensor '{t.name}' has no quantization")
        return
    if len(q.scale) != len(q.zero_point) or not q.scale:
        _fail(where, f"'{t.name}' has {len(q.scale)} scales and {len(q.zero_point)} zero points")
    if not all(math.isfinite(s) and s > 0 for s in q.scale):
        _fail(where, f"'{t.name}' has a scale that is not finite and positive")
    if q.is_per_channel:
        if not 0 <= q.axis < len(t.shape) or t.shape[q.axis] != len(q.scale):
            _fail(
                where,
                f"'{t.name}' has {len(q.scale)} scales for dimension {q.axis} of shape {t.shape}",
            )
        if any(q.zero_point):
            _fail(where, f"per-channel tensor '{t.name}' must have zero points 0")
    if t.dtype == "int8" and not all(-128 <= z <= 127 for z in q.zero_point):
        _fail(where, f"'{t.name}' zero point {q.zero_point} outside [-128, 127]")


def _check_tensor(t: Tensor, index: int) -> None:
    where = f"tensor {index}"
    if t.dtype not in DTYPES:
        _fail(where, f"'{t.name}' has dtype {t.dtype}; expected one of {', '.join(DTYPES)}")
    if not t.shape or any(int(d) < 1 for d in t.shape):
        _fail(where, f"'{t.name}' has shape {t.shape}")
    if t.data is not None:
        if t.data.dtype != DTYPES[t.dtype][1] or tuple(t.data.shape) != tuple(t.shape):
            _fail(
                where,
                f"'{t.name}' data is {t.data.dtype}{list(t.data.shape)}, tensor is "
                f"{t.dtype}{list(t.shape)}",
            )
    _check_quant(t, where)


def _same_quant(graph: Graph, a: int, b: int, where: str) -> None:
    qa, qb = graph.tensors[a].quant, graph.tensors[b].quant
    if qa != qb:
        _fail(where, f"output '{graph.tensors[b].name}' must keep the input's quantization")


def _check_weighted(graph: Graph, op: Operator, where: str, axis: int) -> None:
    if len(op.inputs) != 3 or len(op.outputs) != 1:
        _fail(where, "needs inputs (input, weights, bias) and one output")
    x, w, b = (graph.tensors[i] for i in op.inputs)
    if x.dtype != "int8" or graph.tensors[op.outputs[0]].dtype != "int8":
        _fail(where, "input and output must be int8")
    rank = 2 if op.kind == "FULLY_CONNECTED" else 4
    if w.data is None or w.dtype != "int8" or len(w.shape) != rank:
        _fail(where, f"weights '{w.name}' must be a constant int8 tensor of rank {rank}")
    if w.quant.is_per_channel and w.quant.axis != axis:
        _fail(where, f"weights '{w.name}' must be quantized along dimension {axis}")
    if any(w.quant.zero_point):
        _fail(where, f"weights '{w.name}' must be symmetric (zero point 0)")
    channels = w.shape[axis]
    if b.data is None or b.dtype != "int32" or b.shape != (channels,):
        _fail(where, f"bias '{b.name}' must be a constant int32 tensor of shape ({channels},)")
    if len(b.quant.scale) != len(w.quant.scale):
        _fail(where, f"bias '{b.name}' must be quantized per channel exactly when the weights are")
    w_scales = np.broadcast_to(np.asarray(w.quant.scale, np.float64), (channels,))
    want = x.quant.scale[0] * w_scales
    got = np.broadcast_to(np.asarray(b.quant.scale, np.float64), (channels,))
    if np.any(np.abs(got - want) > BIAS_SCALE_RTOL * np.minimum(got, want)) or any(
        b.quant.zero_point
    ):
        _fail(where, f"bias '{b.name}' needs scale input_scale * weight_scale and zero point 0")


def _check_conv(graph: Graph, op: Operator, where: str) -> None:
    depthwise = op.kind == "DEPTHWISE_CONV_2D"
    _check_weighted(graph, op, where, 3 if depthwise else 0)
    x, w, _ = (graph.tensors[i] for i in op.inputs[:3])
    y = graph.tensors[op.outputs[0]]
    if len(x.shape) != 4:
        _fail(where, f"input '{x.name}' must be NHWC")
    if depthwise:
        channels = x.shape[3] * op.options.depth_multiplier
        ok = w.shape[0] == 1 and w.shape[3] == channels
    else:
        channels = w.shape[0]
        ok = w.shape[3] == x.shape[3]
    if not ok:
        _fail(where, f"weights {w.shape} do not fit input {x.shape}")
    want = (x.shape[0], *_spatial(op.options, x.shape, w.shape[1:3]), channels)
    if y.shape != want:
        _fail(where, f"output '{y.name}' has shape {y.shape}, expected {want}")


def _check_fc(graph: Graph, op: Operator, where: str) -> None:
    _check_weighted(graph, op, where, 0)
    x, w, _ = (graph.tensors[i] for i in op.inputs[:3])
    y = graph.tensors[op.outputs[0]]
    size = int(np.prod(x.shape))
    if size % w.shape[1]:
        _fail(where, f"input {x.shape} is not a whole number of {w.shape[1]}-vectors")
    want = (size // w.shape[1], w.shape[0])
    if y.shape != want:
        _fail(where, f"output '{y.name}' has shape {y.shape}, expected {want}")


def _check_pool(graph: Graph, op: Operator, where: str) -> None:
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    want = (x.shape[0], *_spatial(op.options, x.shape, op.options.filter), x.shape[3])
    if y.shape != want:
        _fail(where, f"output '{y.name}' has shape {y.shape}, expected {want}")
    _same_quant(graph, op.inputs[0], op.outputs[0], where)


def _check_add(graph: Graph, op: Operator, where: str) -> None:
    a, b, y = (graph.tensors[i].shape for i in (*op.inputs, *op.outputs))
    try:
        shape = np.broadcast_shapes(a, b)
    except ValueError:
        _fail(where, f"inputs {a} and {b} do not broadcast")
    if tuple(shape) != y:
        _fail(where, f"inputs {a} and {b} broadcast to {tuple(shape)}, not the output's {y}")


def _check_reshape(graph: Graph, op: Operator, where: str) -> None:
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if np.prod(x.shape) != np.prod(y.shape) or tuple(op.options.new_shape) != y.shape:
        _fail(where, f"cannot reshape {x.shape} to {y.shape} (new_shape {op.options.new_shape})")
    _same_quant(graph, op.inputs[0], op.outputs[0], where)


def _check_softmax(graph: Graph, op: Operator, where: str) -> None:
    y = graph.tensors[op.outputs[0]]
    if y.dtype == "int8" and (y.quant.scale[0], y.quant.zero_point[0]) != SOFTMAX_OUTPUT:
        _fail(where, f"int8 softmax output '{y.name}' needs scale 1/256 and zero point -128")


def _check_pad(graph: Graph, op: Operator, where: str) -> None:
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    paddings = graph.tensors[op.inputs[1]].data
    if paddings is None or paddings.shape != (len(x.shape), 2):
        _fail(where, f"paddings must be a constant [{len(x.shape)}, 2] tensor")
    want = tuple(int(d + a + b) for d, (a, b) in zip(x.shape, paddings, strict=True))
    if want != y.shape:
        _fail(where, f"padding {x.shape} gives {want}, not the output's {y.shape}")
    _same_quant(graph, op.inputs[0], op.outputs[0], where)


_CHECKS = {
    "CONV_2D": _check_conv,
    "DEPTHWISE_CONV_2D": _check_conv,
    "FULLY_CONNECTED": _check_fc,
    "AVERAGE_POOL_2D": _check_pool,
    "MAX_POOL_2D": _check_pool,
    "ADD": _check_add,
    "MUL": _check_add,
    "RESHAPE": _check_reshape,
    "SOFTMAX": _check_softmax,
    "PAD": _check_pad,
}


def _check_wiring(graph: Graph) -> None:
    count = len(graph.tensors)
    ready = {i for i, t in enumerate(graph.tensors) if t.data is not None}
    for i in graph.inputs:
        if not 0 <= i < count or i in ready:
            _fail("inputs", f"{i} is not a non-constant tensor index")
        ready.add(i)
    for n, op in enumerate(graph.operators):
        where = f"operator {n} ({op.kind})"
        for i in op.inputs:
            if i not in ready:
                _fail(where, f"input tensor {i} is not computed before this operator")
        for o in op.outputs:
            if not 0 <= o < count or o in ready:
                _fail(where, f"output tensor {o} is a constant or written twice")
            ready.add(o)
    for o in graph.outputs:
        if o not in ready:
            _fail("outputs", f"tensor {o} is never computed")


def check_graph(graph: Graph) -> None:
    """Raise ModelError (one line) when the graph breaks a wiring, shape or int8 rule."""
    if not graph.inputs or not graph.outputs or not graph.operators:
        _fail("graph", "needs inputs, outputs and at least one operator")
    for i, t in enumerate(graph.tensors):
        _check_tensor(t, i)
    for op in graph.operators:
        if type(op.options) not in _SPECS:
            _fail("graph", f"unsupported operator options {type(op.options).__name__}")
    _check_wiring(graph)
    for n, op in enumerate(graph.operators):
        check = _CHECKS.get(op.kind)
        if check is not None:
            check(graph, op, f"operator {n} ({op.kind})")


# ------------------------------------------------------------------------------- packing


def _conv_options(o: Conv2D):
    t = schema.Conv2DOptionsT()
    t.padding, t.fusedActivationFunction = PADDINGS[o.padding], ACTIVATIONS[o.activation]
    t.strideH, t.strideW = o.stride
    t.dilationHFactor, t.dilationWFactor = o.dilation
    return t


def _depthwise_options(o: DepthwiseConv2D):
    t = schema.DepthwiseConv2DOptionsT()
    t.padding, t.fusedActivationFunction = PADDINGS[o.padding], ACTIVATIONS[o.activation]
    t.strideH, t.strideW = o.stride
    t.dilationHFactor, t.dilationWFactor = o.dilation
    t.depthMultiplier = o.depth_multiplier
    return t


def _fc_options(o: FullyConnected):
    t = schema.FullyConnectedOptionsT()
    t.fusedActivationFunction = ACTIVATIONS[o.activation]
    return t


def _pool_options(o: AveragePool2D | MaxPool2D):
    t = schema.Pool2DOptionsT()
    t.padding, t.fusedActivationFunction = PADDINGS[o.padding], ACTIVATIONS[o.activation]
    t.strideH, t.strideW = o.stride
    t.filterHeight, t.filterWidth = o.filter
    return t


def _add_options(o: Add):
    t = schema.AddOptionsT()
    t.fusedActivationFunction = ACTIVATIONS[o.activation]
    return t


def _mul_options(o: Mul):
    t = schema.MulOptionsT()
    t.fusedActivationFunction = ACTIVATIONS[o.activation]
    return t


def _reshape_options(o: Reshape):
    t = schema.ReshapeOptionsT()
    t.newShape = [int(d) for d in o.new_shape]
    return t


def _mean_options(o: Mean):
    t = schema.ReducerOptionsT()
    t.keepDims = bool(o.keep_dims)
    return t


def _pad_options(_o: Pad):
    return schema.PadOptionsT()


def _concat_options(o: Concatenation):
    t = schema.ConcatenationOptionsT()
    t.axis, t.fusedActivationFunction = int(o.axis), ACTIVATIONS[o.activation]
    return t


def _leaky_relu_options(o: LeakyRelu):
    t = schema.LeakyReluOptionsT()
    t.alpha = float(o.alpha)
    return t


def _softmax_options(o: Softmax):
    t = schema.SoftmaxOptionsT()
    t.beta = float(o.beta)
    return t


# options type -> (builtin name, operator version, BuiltinOptions type, options packer).
# Versions are the lowest TFLite's op-version rules give the int8 form of each kernel.
_SPECS = {
    Conv2D: ("CONV_2D", 3, BuiltinOptions.Conv2DOptions, _conv_options),
    DepthwiseConv2D: (
        "DEPTHWISE_CONV_2D",
        3,
        BuiltinOptions.DepthwiseConv2DOptions,
        _depthwise_options,
    ),
    FullyConnected: ("FULLY_CONNECTED", 4, BuiltinOptions.FullyConnectedOptions, _fc_options),
    AveragePool2D: ("AVERAGE_POOL_2D", 2, BuiltinOptions.Pool2DOptions, _pool_options),
    MaxPool2D: ("MAX_POOL_2D", 2, BuiltinOptions.Pool2DOptions, _pool_options),
    Add: ("ADD", 2, BuiltinOptions.AddOptions, _add_options),
    Mul: ("MUL", 2, BuiltinOptions.MulOptions, _mul_options),
    Reshape: ("RESHAPE", 1, BuiltinOptions.ReshapeOptions, _reshape_options),
    Softmax: ("SOFTMAX", 2, BuiltinOptions.SoftmaxOptions, _softmax_options),
    Mean: ("MEAN", 2, BuiltinOptions.ReducerOptions, _mean_options),
    Pad: ("PAD", 2, BuiltinOptions.PadOptions, _pad_options),
    Concatenation: (
        "CONCATENATION",
        2,
        BuiltinOptions.ConcatenationOptions,
        _concat_options,
    ),
    Relu: ("RELU", 2, BuiltinOptions.NONE, None),
    Logistic: ("LOGISTIC", 2, BuiltinOptions.NONE, None),
    HardSwish: ("HARD_SWISH", 1, BuiltinOptions.NONE, None),
    Tanh: ("TANH", 2, BuiltinOptions.NONE, None),
    LeakyRelu: ("LEAKY_RELU", 2, BuiltinOptions.LeakyReluOptions, _leaky_relu_options),
    Relu6: ("RELU6", 2, BuiltinOptions.NONE, None),
    ReluN1To1: ("RELU_N1_TO_1", 1, BuiltinOptions.NONE, None),
    Quantize: ("QUANTIZE", 2, BuiltinOptions.NONE, None),
    Dequantize: ("DEQUANTIZE", 2, BuiltinOptions.NONE, None),
}


class _AlignedBuffer(schema.BufferT):
    """A BufferT whose data vector starts on a BUFFER_ALIGNMENT boundary of the file."""

    def Pack(self, builder):  # noqa: N802 (the schema object API's method name)
        data = None
        if self.data is not None:
            raw = self.data.tobytes()
            builder.StartVector(1, len(raw), BUFFER_ALIGNMENT)
            builder.head -= len(raw)
            builder.Bytes[builder.head : builder.head + len(raw)] = raw
            data = builder.EndVector()
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        return schema.BufferEnd(builder)


def _quantization_t(q: Quantization) -> schema.QuantizationParametersT:
    t = schema.QuantizationParametersT()
    t.scale = np.asarray(q.scale, np.float32)
    t.zeroPoint = np.asarray(q.zero_point, np.int64)
    t.quantizedDimension = q.axis
    return t


def _tensor_t(t: Tensor, buffer: int) -> schema.TensorT:
    out = schema.TensorT()
    out.shape = np.asarray(t.shape, np.int32)
    out.shapeSignature = np.asarray(t.shape, np.int32)
    out.hasRank = True
    out.type = DTYPES[t.dtype][0]
    out.buffer = buffer
    out.name = t.name
    if t.quant is not None:
        out.quantization = _quantization_t(t.quant)
    return out


def _operator_code_t(name: str, version: int) -> schema.OperatorCodeT:
    code = getattr(BuiltinOperator, name)
    out = schema.OperatorCodeT()
    out.builtinCode = code
    out.deprecatedBuiltinCode = min(code, BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    out.version = version
    return out


def _operator_t(op: Operator, opcode_index: int) -> schema.OperatorT:
    _, _, options_type, pack = _SPECS[type(op.options)]
    out = schema.OperatorT()
    out.opcodeIndex = opcode_index
    out.inputs = np.asarray(op.inputs, np.int32)
    out.outputs = np.asarray(op.outputs, np.int32)
    out.builtinOptionsType = options_type
    if pack is not None:
        out.builtinOptions = pack(op.options)
    return out


def _model_t(graph: Graph) -> schema.ModelT:
    buffers = [_AlignedBuffer()]
    tensors = []
    for t in graph.tensors:
        buffer = 0
        if t.data is not None:
            buffer = len(buffers)
            aligned = _AlignedBuffer()
            aligned.data = np.ascontiguousarray(t.data).astype(t.data.dtype.newbyteorder("<"))
            buffers.append(aligned)
        tensors.append(_tensor_t(t, buffer))
    codes: dict[tuple[str, int], int] = {}  # in order of first use, like the converter
    operators = []
    for op in graph.operators:
        name, version, _, _ = _SPECS[type(op.options)]
        index = codes.setdefault((name, version), len(codes))
        operators.append(_operator_t(op, index))
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.operators = tensors, operators
    subgraph.inputs = np.asarray(graph.inputs, np.int32)
    subgraph.outputs = np.asarray(graph.outputs, np.int32)
    subgraph.name = "main"
    model = schema.ModelT()
    model.version = SCHEMA_VERSION
    model.description = graph.description
    model.operatorCodes = [_operator_code_t(n, v) for n, v in codes]
    model.subgraphs = [subgraph]
    model.buffers = buffers
    return model


def to_tflite(graph: Graph) -> bytes:
    """Check the graph and return the bytes of its .tflite flatbuffer (deterministic)."""
    check_graph(graph)
    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(_model_t(graph).Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())
