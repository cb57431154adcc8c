"""Lower a TFLite graph to kernel calls: one `Step` per operator, with integer parameters.

Each supported operator becomes a call of one of cmsim's int8 kernels (nn_kernels.h) with
its parameter struct filled the way TFLite prepares the operator (`cmsim.model.quant`), so
the kernels reproduce TFLite's reference results bit for bit. RESHAPE, SQUEEZE and
EXPAND_DIMS become aliases (no code, no copy). Anything else is refused before anything is
built, with one line naming the operator, its index and what is supported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from cmsim.model import quant
from cmsim.model.graph import Graph, ModelError, Operator, Tensor

SUPPORTED = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "ADD",
    "SOFTMAX",
    "MEAN",
    "PAD",
    "CONCATENATION",
    "RELU",
    "RELU6",
    "RELU_N1_TO_1",
    "LOGISTIC",
    "MUL",
    "HARD_SWISH",
    "LEAKY_RELU",
    "TANH",
    "RESHAPE",
    "SQUEEZE",
    "EXPAND_DIMS",
    "QUANTIZE",
    "DEQUANTIZE",
)
ALIASES = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
MAX_TENSOR_BYTES = 64 << 20  # far beyond any Cortex-M part; keeps absurd shapes off the host
_ACTIVATIONS = {
    v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")
}
# C types of the kernels' floating-point parameter fields (every other field is int32_t).
FLOAT_FIELDS = {
    "quantize_f32": {"scale": "float"},
    "dequantize_f32": {"scale": "double"},
}
_FUSED = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
_SAME = schema.Padding.SAME


@dataclass
class Step:
    """One operator as a kernel call.

    `kernel` names the nn_kernels.h function family (None for an alias); `params` are the
    fields of its parameter struct in declaration order; `constants` the arrays it reads from
    flash (weights, bias, per-channel multiplier and shift); `variants` tells whether the
    kernel has ref/opt/asm versions (the quantize helpers have one).
    """

    op: Operator
    kernel: str | None
    inputs: tuple[int, ...]
    output: int
    params: dict[str, int | float] = field(default_factory=dict)
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    macs: int = 0
    shape_text: str = ""
    variants: bool = True

    @property
    def name(self) -> str:
        """The step's row and region name: operator index and opcode."""
        return f"{self.op.index} {self.op.opcode}"

    @property
    def is_alias(self) -> bool:
        return self.kernel is None


class _Refusal(Exception):
    """Why one operator cannot run (turned into a ModelError naming the operator)."""


def needed_operators(graph: Graph) -> list[Operator]:
    """The operators the graph's outputs depend on, in execution order.

    A RESHAPE's second input (the new shape) is not a dependency: cmsim takes the shape from
    the output tensor, which is static. So the shape arithmetic a converter emits for a
    dynamic batch (SHAPE, STRIDED_SLICE, PACK feeding a RESHAPE) is left out.
    """
    needed = set(graph.outputs)
    keep = []
    for op in reversed(graph.operators):
        if not any(t in needed for t in op.outputs):
            continue
        keep.append(op)
        data_inputs = op.inputs[:1] if op.opcode in ALIASES else op.inputs
        needed.update(t for t in data_inputs if t >= 0)
    return keep[::-1]


def lower(graph: Graph) -> list[Step]:
    """Every operator the outputs need as a Step, in execution order; ModelError if one is
    unsupported."""
    steps = []
    for op in needed_operators(graph):
        rule = _LOWERINGS.get(op.opcode)
        if rule is None:
            raise ModelError(
                f"{graph.name}: operator {op.index} ({op.opcode}) is not supported; "
                f"cmsim runs {', '.join(SUPPORTED)}"
            )
        try:
            _check_arity(op)
            _check_shapes(graph, op)
            steps.append(rule(graph, op))
        except _Refusal as why:
            raise ModelError(f"{graph.name}: operator {op.index} ({op.opcode}): {why}") from None
        except (ArithmeticError, AttributeError, IndexError, KeyError, TypeError, ValueError):
            raise ModelError(
                f"{graph.name}: operator {op.index} ({op.opcode}) is malformed (its tensors or "
                "options do not fit the operator)"
            ) from None
    _check_graph_io(graph)
    return steps


_MIN_INPUTS = {
    "CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "ADD": 2, "MUL": 2, "MEAN": 2,
    "PAD": 2,
}  # fmt: skip


def _check_arity(op: Operator) -> None:
    want = _MIN_INPUTS.get(op.opcode, 1)
    if len(op.inputs) < want or len(op.outputs) != 1:
        raise _Refusal(
            f"it has {len(op.inputs)} input(s) and {len(op.outputs)} output(s); "
            f"{want} input(s) and 1 output expected"
        )


def _check_shapes(graph: Graph, op: Operator) -> None:
    for index in (*op.inputs, *op.outputs):
        if index < 0:
            continue
        t = graph.tensor(index)
        if t.dynamic:
            raise _Refusal(f"tensor '{t.name}' has a dynamic shape {list(t.shape)}")
        if t.sparse:
            raise _Refusal(f"tensor '{t.name}' is sparse (not supported)")
        if t.nbytes > MAX_TENSOR_BYTES:
            raise _Refusal(
                f"tensor '{t.name}' {list(t.shape)} takes {t.nbytes:,} bytes, more than any "
                f"microcontroller's memory ({MAX_TENSOR_BYTES:,} at most)"
            )


def _check_graph_io(graph: Graph) -> None:
    if not graph.operators:
        raise ModelError(f"{graph.name}: the model has no operators")
    for index in graph.inputs:
        if graph.tensor(index).dtype not in ("int8", "uint8", "float32"):
            t = graph.tensor(index)
            raise ModelError(f"{graph.name}: model input '{t.name}' is {t.dtype} (not supported)")


# -- tensor checks ------------------------------------------------------------------------


def _activation(graph: Graph, index: int, what: str) -> Tensor:
    """An int8 activation tensor with per-tensor quantization."""
    if index < 0:
        raise _Refusal(f"the {what} is missing")
    t = graph.tensor(index)
    if t.dtype == "float32":
        raise _Refusal(
            f"{what} '{t.name}' is float32: cmsim runs full-integer int8 models (convert with "
            "the TFLite converter's int8 quantization and a representative dataset)"
        )
    if t.dtype == "int16":
        raise _Refusal(f"{what} '{t.name}' is int16: 16x8 quantization is not supported")
    if t.dtype != "int8":
        raise _Refusal(f"{what} '{t.name}' is {t.dtype}; int8 is supported")
    if t.quant is None or t.quant.is_per_channel:
        raise _Refusal(f"{what} '{t.name}' needs one scale and zero point (per-tensor)")
    if not -128 <= t.zero_point <= 127:
        raise _Refusal(f"{what} '{t.name}' has zero point {t.zero_point} outside int8")
    return t


def _weights(graph: Graph, index: int, rank: int, axis: int, channels: int) -> Tensor:
    """Constant symmetric int8 weights, per tensor or per channel along `axis`."""
    t = graph.tensor(index) if index >= 0 else None
    if t is None or t.data is None:
        raise _Refusal("its weights must be a constant tensor")
    if t.dtype != "int8":
        raise _Refusal(f"weights '{t.name}' are {t.dtype}; int8 is supported")
    if len(t.shape) != rank:
        raise _Refusal(f"weights '{t.name}' have shape {list(t.shape)}, expected rank {rank}")
    if t.quant is None:
        raise _Refusal(f"weights '{t.name}' are not quantized")
    if any(z != 0 for z in t.quant.zero_point):
        raise _Refusal(f"weights '{t.name}' have a non-zero zero point (int8 needs symmetric)")
    if t.quant.is_per_channel and (len(t.quant.scale) != channels or t.quant.axis != axis):
        raise _Refusal(f"weights '{t.name}' are per-channel along an unexpected axis")
    return t


def _bias(graph: Graph, index: int, channels: int) -> np.ndarray:
    if index < 0:
        return np.zeros(channels, np.int32)
    t = graph.tensor(index)
    if t.data is None or t.dtype != "int32" or t.size != channels:
        raise _Refusal(f"bias '{t.name}' must be a constant int32 vector of {channels}")
    return np.ascontiguousarray(t.data.reshape(-1), dtype=np.int32)


def _fused(op: Operator) -> str:
    name = _ACTIVATIONS.get(op.options.get("fusedActivationFunction", 0), "?")
    if name not in _FUSED:
        raise _Refusal(f"fused activation {name} is not supported ({', '.join(_FUSED)} are)")
    return name


def _clamp(op: Operator, out: Tensor) -> tuple[int, int]:
    return quant.activation_range(_fused(op), out.scale, out.zero_point)


def _hwc(t: Tensor, what: str) -> tuple[int, int, int]:
    if len(t.shape) != 4 or t.shape[0] != 1:
        raise _Refusal(f"{what} '{t.name}' has shape {list(t.shape)}; expected [1, H, W, C]")
    return t.shape[1], t.shape[2], t.shape[3]


def _window(op: Operator, size: tuple[int, int], kernel: tuple[int, int], out: tuple[int, int]):
    """(stride, pad) of a conv or pool window, checked against the output tensor's size."""
    stride = (int(op.options.get("strideH", 1)), int(op.options.get("strideW", 1)))
    dilation = (
        int(op.options.get("dilationHFactor", 1)),
        int(op.options.get("dilationWFactor", 1)),
    )
    if min(stride) < 1:
        raise _Refusal(f"stride {stride} is invalid")
    if dilation != (1, 1):
        raise _Refusal(f"dilation {dilation} is not supported (1 is)")
    pads = []
    for axis in range(2):
        if op.options.get("padding", _SAME) == _SAME:
            want, pad = quant.same_padding(size[axis], kernel[axis], stride[axis])
        else:
            want, pad = quant.valid_output(size[axis], kernel[axis], stride[axis]), 0
        if want != out[axis]:
            raise _Refusal(f"output size {out} does not follow from the input, window and padding")
        pads.append(pad)
    return stride, tuple(pads)


def _window_text(kernel, stride) -> str:
    step = str(stride[0]) if stride[0] == stride[1] else f"{stride[0]}x{stride[1]}"
    return f"{kernel[0]}x{kernel[1]}/{step}"


# -- operators ----------------------------------------------------------------------------


def _conv(graph: Graph, op: Operator) -> Step:
    depthwise = op.opcode == "DEPTHWISE_CONV_2D"
    x = _activation(graph, op.inputs[0], "input")
    y = _activation(graph, op.outputs[0], "output")
    (h, w, c), (oh, ow, oc) = _hwc(x, "input"), _hwc(y, "output")
    axis = 3 if depthwise else 0
    wt = _weights(graph, op.inputs[1], 4, axis, oc)
    if depthwise:
        if wt.shape[0] != 1 or wt.shape[3] != oc or oc % c:
            raise _Refusal(f"depthwise weights {list(wt.shape)} do not fit {c} -> {oc} channels")
        kernel = (wt.shape[1], wt.shape[2])
        weights = wt.data.reshape(kernel[0], kernel[1], oc)
    else:
        if wt.shape[0] != oc or wt.shape[3] != c:
            raise _Refusal(f"weights {list(wt.shape)} do not fit {c} -> {oc} channels")
        kernel = (wt.shape[1], wt.shape[2])
        weights = wt.data
    stride, pad = _window(op, (h, w), kernel, (oh, ow))
    multiplier, shift = quant.conv_multipliers(x.scale, wt.quant.scale, y.scale, oc)
    act_min, act_max = _clamp(op, y)
    params = {
        "in_h": h, "in_w": w, "in_c": c, "out_h": oh, "out_w": ow, "out_c": oc,
        "k_h": kernel[0], "k_w": kernel[1], "stride_h": stride[0], "stride_w": stride[1],
        "pad_h": pad[0], "pad_w": pad[1],
        "input_offset": -x.zero_point, "output_offset": y.zero_point,
        "act_min": act_min, "act_max": act_max,
    }  # fmt: skip
    constants = {
        "weights": np.ascontiguousarray(weights, dtype=np.int8),
        "bias": _bias(graph, op.inputs[2] if len(op.inputs) > 2 else -1, oc),
        "multiplier": multiplier,
        "shift": shift,
    }
    if depthwise:
        kind, macs = "depthwise_conv2d", oh * ow * oc * kernel[0] * kernel[1]
        text = f"dw {kernel[0]}x{kernel[1]}x{c}" + (f"x{oc // c}" if oc != c else "")
    else:
        kind, macs = _conv_kernel(params), oh * ow * oc * kernel[0] * kernel[1] * c
        text = f"{kernel[0]}x{kernel[1]}x{c}->{oc}"
    text += (f" s{stride[0]}" if stride != (1, 1) else "") + f" @{oh}x{ow}"
    return Step(op, kind, (x.index,), y.index, params, constants, macs, text)


def _conv_kernel(p: dict) -> str:
    """The conv kernel for a shape: the 3-channel and 1x1 fast paths, or the general one."""
    if p["in_c"] == 3:
        return "conv2d_rgb"
    if (p["k_h"], p["k_w"], p["pad_h"], p["pad_w"]) == (1, 1, 0, 0):
        return "conv2d_1x1"
    return "conv2d"


def _fully_connected(graph: Graph, op: Operator) -> Step:
    x = _activation(graph, op.inputs[0], "input")
    y = _activation(graph, op.outputs[0], "output")
    if op.options.get("weightsFormat", 0) != 0:
        raise _Refusal("shuffled weights are not supported")
    wt = graph.tensor(op.inputs[1]) if op.inputs[1] >= 0 else None
    out_features = wt.shape[0] if wt is not None and len(wt.shape) == 2 else -1
    wt = _weights(graph, op.inputs[1], 2, 0, out_features)
    in_features = wt.shape[1]
    if x.size % in_features or y.size != (x.size // in_features) * out_features:
        raise _Refusal(f"input {list(x.shape)} does not fit weights {list(wt.shape)}")
    batches = x.size // in_features
    if wt.quant.is_per_channel:
        multiplier, shift = quant.conv_multipliers(x.scale, wt.quant.scale, y.scale, out_features)
    else:
        m, s = quant.fc_multiplier(x.scale, wt.scale, y.scale)
        multiplier = np.full(out_features, m, np.int32)
        shift = np.full(out_features, s, np.int32)
    if int(shift.max()) > 30:
        raise _Refusal("its output scale needs a multiplier above 2^30 (not supported)")
    act_min, act_max = _clamp(op, y)
    params = {
        "batches": batches, "in_features": in_features, "out_features": out_features,
        "input_offset": -x.zero_point, "output_offset": y.zero_point,
        "act_min": act_min, "act_max": act_max, "per_channel": int(wt.quant.is_per_channel),
    }  # fmt: skip
    constants = {
        "weights": np.ascontiguousarray(wt.data, dtype=np.int8),
        "bias": _bias(graph, op.inputs[2] if len(op.inputs) > 2 else -1, out_features),
        "multiplier": multiplier,
        "shift": shift,
    }
    text = f"{in_features}->{out_features}" + (f" x{batches}" if batches > 1 else "")
    macs = batches * in_features * out_features
    return Step(op, "fully_connected", (x.index,), y.index, params, constants, macs, text)


def _pool(graph: Graph, op: Operator) -> Step:
    x = _activation(graph, op.inputs[0], "input")
    y = _activation(graph, op.outputs[0], "output")
    if x.zero_point != y.zero_point or not np.isclose(x.scale, y.scale, rtol=0, atol=1e-6):
        raise _Refusal("input and output quantization differ (TFLite requires them equal)")
    (h, w, c), (oh, ow, oc) = _hwc(x, "input"), _hwc(y, "output")
    if oc != c:
        raise _Refusal(f"{c} input channels but {oc} output channels")
    kernel = (int(op.options.get("filterHeight", 1)), int(op.options.get("filterWidth", 1)))
    if min(kernel) < 1:
        raise _Refusal(f"filter {kernel} is invalid")
    stride, pad = _window(op, (h, w), kernel, (oh, ow))
    act_min, act_max = _clamp(op, y)
    params = {
        "in_h": h, "in_w": w, "channels": c, "out_h": oh, "out_w": ow,
        "k_h": kernel[0], "k_w": kernel[1], "stride_h": stride[0], "stride_w": stride[1],
        "pad_h": pad[0], "pad_w": pad[1], "act_min": act_min, "act_max": act_max,
    }  # fmt: skip
    kind = "avg_pool" if op.opcode == "AVERAGE_POOL_2D" else "max_pool"
    text = f"{_window_text(kernel, stride)} ->{oh}x{ow}x{c}"
    return Step(op, kind, (x.index,), y.index, params, {}, 0, text)


def _add(graph: Graph, op: Operator) -> Step:
    """Same elements: the variant kernels (cmsim's and CMSIS-NN's); broadcasting: the shared
    broadcast kernel."""
    a, b, y = _binary_operands(graph, op)
    (ma, sa), (mb, sb), (mo, so) = quant.add_parameters(a.scale, b.scale, y.scale)
    act_min, act_max = _clamp(op, y)
    params = {
        "size": y.size,
        "a_offset": -a.zero_point, "a_multiplier": ma, "a_shift": sa,
        "b_offset": -b.zero_point, "b_multiplier": mb, "b_shift": sb,
        "left_shift": quant.ADD_LEFT_SHIFT,
        "output_offset": y.zero_point, "output_multiplier": mo, "output_shift": so,
        "act_min": act_min, "act_max": act_max,
    }  # fmt: skip
    if not _same_elements(a, b, y):
        return _broadcast(op, BROADCAST_ADD, a, b, y, params)
    text = "x".join(str(d) for d in y.shape)
    return Step(op, "add", (a.index, b.index), y.index, params, {}, 0, text)


def _mul(graph: Graph, op: Operator) -> Step:
    a, b, y = _binary_operands(graph, op)
    multiplier, shift = quant.mul_multiplier(a.scale, b.scale, y.scale)
    act_min, act_max = _clamp(op, y)
    params = {
        "size": y.size,
        "a_offset": -a.zero_point, "a_multiplier": 0, "a_shift": 0,
        "b_offset": -b.zero_point, "b_multiplier": 0, "b_shift": 0, "left_shift": 0,
        "output_offset": y.zero_point, "output_multiplier": multiplier, "output_shift": shift,
        "act_min": act_min, "act_max": act_max,
    }  # fmt: skip
    return _broadcast(op, BROADCAST_MUL, a, b, y, params)


def _binary_operands(graph: Graph, op: Operator) -> tuple[Tensor, Tensor, Tensor]:
    a = _activation(graph, op.inputs[0], "first input")
    b = _activation(graph, op.inputs[1], "second input")
    y = _activation(graph, op.outputs[0], "output")
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise _Refusal(f"inputs {list(a.shape)} and {list(b.shape)} do not broadcast") from None
    if int(np.prod(shape, dtype=np.int64)) != y.size or len(shape) > 4:
        raise _Refusal(
            f"inputs {list(a.shape)} and {list(b.shape)} do not broadcast to the output "
            f"{list(y.shape)} in at most 4 dimensions"
        )
    return a, b, y


BROADCAST_ADD, BROADCAST_MUL = 0, 1  # nn_kernels.h NN_BROADCAST_ADD / _MUL


def _broadcast(op: Operator, kind: int, a: Tensor, b: Tensor, y: Tensor, q: dict) -> Step:
    """The shared broadcast kernel's parameters: output dimensions and each input's strides
    (0 along a dimension it repeats), all padded to 4-D."""
    out = [1] * 4
    shape = np.broadcast_shapes(a.shape, b.shape)
    out[4 - len(shape) :] = shape
    params = {"op": kind, **{f"out_dims[{i}]": int(d) for i, d in enumerate(out)}}
    for name, t in (("a", a), ("b", b)):
        dims = [1] * (4 - len(t.shape)) + list(t.shape)
        strides = [int(np.prod(dims[i + 1 :], dtype=np.int64)) for i in range(4)]
        for i in range(4):
            params[f"{name}_strides[{i}]"] = strides[i] if dims[i] == out[i] else 0
    params.update({f"q.{k}": v for k, v in q.items()})
    text = " x ".join("x".join(map(str, t.shape)) for t in (a, b))
    text += f" -> {'x'.join(map(str, y.shape))}"
    return Step(op, "broadcast_s8", (a.index, b.index), y.index, params, {}, 0, text, False)


def _same_elements(a: Tensor, b: Tensor, y: Tensor) -> bool:
    """Do a, b and y hold the same elements in the same order ([1, 8] + [8] does; broadcasting
    that repeats elements does not)?"""
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        return False
    return a.size == b.size == y.size == int(np.prod(shape, dtype=np.int64))


def _softmax(graph: Graph, op: Operator) -> Step:
    x = _activation(graph, op.inputs[0], "input")
    y = _activation(graph, op.outputs[0], "output")
    if y.zero_point != -128 or not np.isclose(y.scale, 1 / 256, rtol=0, atol=1e-8):
        raise _Refusal("its output must have scale 1/256 and zero point -128 (TFLite's int8)")
    if x.shape != y.shape or not x.shape:
        raise _Refusal(f"input {list(x.shape)} and output {list(y.shape)} differ")
    multiplier, left_shift, diff_min = quant.softmax_parameters(
        x.scale, float(op.options.get("beta", 1.0))
    )
    if left_shift < 1:  # TFLite needs beta x input scale x 2^26 > 1 (it aborts otherwise)
        raise _Refusal(
            f"input scale {x.scale:g} x beta is below 2^-26, too small for TFLite's int8 softmax"
        )
    row_size = x.shape[-1]
    params = {
        "rows": x.size // row_size, "row_size": row_size, "input_multiplier": multiplier,
        "input_left_shift": left_shift, "diff_min": diff_min,
    }  # fmt: skip
    text = "x".join(str(d) for d in x.shape)
    return Step(op, "softmax", (x.index,), y.index, params, {}, 0, text)


def _constant_ints(graph: Graph, index: int, what: str) -> np.ndarray:
    t = graph.tensor(index)
    if not t.is_constant or t.dtype not in ("int32", "int64"):
        raise _Refusal(f"its {what} must be a constant int32 tensor")
    return np.asarray(t.data, np.int64).reshape(-1)


def _mean(graph: Graph, op: Operator) -> Step:
    x = _activation(graph, op.inputs[0], "input")
    y = _activation(graph, op.outputs[0], "output")
    rank = len(x.shape)
    raw_axes = [int(a) for a in _constant_ints(graph, op.inputs[1], "axes")]
    if not raw_axes or any(not -rank <= a < rank for a in raw_axes):
        raise _Refusal(f"axes {raw_axes} do not fit a {rank}-D input")
    axes = sorted({a % rank for a in raw_axes})
    if axes != list(range(axes[0], axes[-1] + 1)):
        raise _Refusal(f"axes {raw_axes} are not contiguous (contiguous axes are supported)")
    outer = int(np.prod(x.shape[: axes[0]], dtype=np.int64))
    reduced = int(np.prod(x.shape[axes[0] : axes[-1] + 1], dtype=np.int64))
    inner = int(np.prod(x.shape[axes[-1] + 1 :], dtype=np.int64))
    if reduced < 1 or outer * inner != y.size:
        raise _Refusal(f"input {list(x.shape)} and output {list(y.shape)} do not fit axes {axes}")
    multiplier, shift = quant.mean_multiplier(x.scale, y.scale, reduced)
    params = {
        "outer": outer, "reduced": reduced, "inner": inner, "input_offset": -x.zero_point,
        "multiplier": multiplier, "shift": shift, "output_offset": y.zero_point,
    }  # fmt: skip
    text = f"{'x'.join(map(str, x.shape))} axes {axes} -> {'x'.join(map(str, y.shape))}"
    return Step(op, "mean_s8", (x.index,), y.index, params, {}, 0, text, False)


def _pad(graph: Graph, op: Operator) -> Step:
    x = _activation(graph, op.inputs[0], "input")
    y = _activation(graph, op.outputs[0], "output")
    if len(x.shape) > 4:
        raise _Refusal(f"input {list(x.shape)} has more than 4 dimensions")
    pads = _constant_ints(graph, op.inputs[1], "paddings")
    if pads.size != 2 * len(x.shape) or (pads < 0).any():
        raise _Refusal(f"paddings {pads.tolist()} do not fit a {len(x.shape)}-D input")
    if x.zero_point != y.zero_point or not np.isclose(x.scale, y.scale, rtol=0, atol=1e-6):
        raise _Refusal("input and output quantization differ (TFLite requires them equal)")
    lead = 4 - len(x.shape)
    before = [0] * lead + [int(a) for a in pads[0::2]]
    after = [0] * lead + [int(b) for b in pads[1::2]]
    in_dims = [1] * lead + list(x.shape)
    out_dims = [d + a + b for d, a, b in zip(in_dims, before, after, strict=True)]
    if int(np.prod(out_dims)) != y.size:
        raise _Refusal(f"padding {list(x.shape)} does not give the output {list(y.shape)}")
    params = {
        **{f"in_dims[{i}]": d for i, d in enumerate(in_dims)},  # C designators
        **{f"before[{i}]": d for i, d in enumerate(before)},
        **{f"out_dims[{i}]": d for i, d in enumerate(out_dims)},
        "value": y.zero_point,
    }
    text = f"{'x'.join(map(str, x.shape))} -> {'x'.join(map(str, y.shape))}"
    return Step(op, "pad_s8", (x.index,), y.index, params, {}, 0, text, False)


CONCAT_MAX_INPUTS = 16  # nn_kernels.h NN_CONCAT_MAX_INPUTS


def _concatenation(graph: Graph, op: Operator) -> Step:
    y = _activation(graph, op.outputs[0], "output")
    xs = [_activation(graph, i, f"input {n}") for n, i in enumerate(op.inputs)]
    if not 1 <= len(xs) <= CONCAT_MAX_INPUTS:
        raise _Refusal(f"{len(xs)} inputs (1 to {CONCAT_MAX_INPUTS} are supported)")
    if _fused(op) != "NONE":
        raise _Refusal(f"fused activation {_fused(op)} on an int8 concatenation")
    rank = len(y.shape)
    axis = int(op.options.get("axis", 0))
    if not -rank <= axis < rank:
        raise _Refusal(f"axis {axis} does not fit a {rank}-D output")
    axis %= rank
    for x in xs:
        if x.is_constant:
            raise _Refusal(f"input '{x.name}' is a constant (not supported)")
        if x.zero_point != y.zero_point or np.float32(x.scale) != np.float32(y.scale):
            raise _Refusal(f"input '{x.name}' is quantized unlike the output (TFLite needs equal)")
        if len(x.shape) != rank or x.shape[:axis] + x.shape[axis + 1 :] != (
            y.shape[:axis] + y.shape[axis + 1 :]
        ):
            raise _Refusal(f"input {list(x.shape)} does not fit output {list(y.shape)}")
    if sum(x.shape[axis] for x in xs) != y.shape[axis]:
        raise _Refusal(f"the inputs do not add up to output {list(y.shape)} along axis {axis}")
    sizes = [int(x.shape[axis]) for x in xs]
    params = {
        "outer": int(np.prod(y.shape[:axis], dtype=np.int64)),
        "inner": int(np.prod(y.shape[axis + 1 :], dtype=np.int64)),
        "count": len(xs),
        **{f"axis[{i}]": (sizes[i] if i < len(sizes) else 0) for i in range(CONCAT_MAX_INPUTS)},
    }
    text = f"{' + '.join(str(s) for s in sizes)} on axis {axis} -> {'x'.join(map(str, y.shape))}"
    return Step(op, "concat_s8", tuple(x.index for x in xs), y.index, params, {}, 0, text, False)


def _relu(graph: Graph, op: Operator) -> Step:
    x = _activation(graph, op.inputs[0], "input")
    y = _activation(graph, op.outputs[0], "output")
    if x.size != y.size:
        raise _Refusal(f"input {list(x.shape)} and output {list(y.shape)} differ in size")
    multiplier, shift = quant.requantize_multiplier(x.scale, y.scale)
    act_min, act_max = quant.activation_range(op.opcode, y.scale, y.zero_point)
    params = {
        "size": y.size, "input_offset": -x.zero_point, "multiplier": multiplier,
        "shift": shift, "output_offset": y.zero_point, "act_min": act_min, "act_max": act_max,
    }  # fmt: skip
    text = "x".join(map(str, y.shape))
    return Step(op, "activation_s8", (x.index,), y.index, params, {}, 0, text, False)


def _logistic(graph: Graph, op: Operator) -> Step:
    """LOGISTIC (output scale 1/256, zero point -128) or TANH (1/128, 0): the input scaled to
    Q4.27, saturating beyond a radius."""
    x = _activation(graph, op.inputs[0], "input")
    y = _activation(graph, op.outputs[0], "output")
    scale, zero_point = (1 / 256, -128) if op.opcode == "LOGISTIC" else (1 / 128, 0)
    if y.zero_point != zero_point or not np.isclose(y.scale, scale, rtol=0, atol=1e-8):
        raise _Refusal(
            f"its output must have scale 1/{round(1 / scale)} and zero point {zero_point} "
            "(TFLite's int8)"
        )
    if x.size != y.size:
        raise _Refusal(f"input {list(x.shape)} and output {list(y.shape)} differ in size")
    multiplier, left_shift, radius = quant.logistic_parameters(x.scale)
    if left_shift < 1:  # TFLite needs input scale x 2^27 > 1 (it aborts otherwise)
        raise _Refusal(f"input scale {x.scale:g} is below 2^-27, too small for TFLite's int8")
    params = {
        "size": y.size, "input_offset": -x.zero_point, "multiplier": multiplier,
        "left_shift": left_shift, "radius": radius,
    }  # fmt: skip
    text = "x".join(map(str, y.shape))
    kernel = "logistic_s8" if op.opcode == "LOGISTIC" else "tanh_s8"
    return Step(op, kernel, (x.index,), y.index, params, {}, 0, text, False)


def _hard_swish(graph: Graph, op: Operator) -> Step:
    x = _activation(graph, op.inputs[0], "input")
    y = _activation(graph, op.outputs[0], "output")
    if x.size != y.size:
        raise _Refusal(f"input {list(x.shape)} and output {list(y.shape)} differ in size")
    r_mult, r_exp, o_mult, o_exp = quant.hard_swish_parameters(x.scale, y.scale)
    if o_exp > 0:  # TFLite refuses it too
        raise _Refusal(f"output scale {y.scale:g} is below 1/128 of the input scale {x.scale:g}")
    params = {
        "size": y.size, "input_zero_point": x.zero_point, "output_zero_point": y.zero_point,
        "reluish_multiplier": r_mult, "reluish_exponent": r_exp,
        "output_multiplier": o_mult, "output_exponent": o_exp,
    }  # fmt: skip
    text = "x".join(map(str, y.shape))
    return Step(op, "hard_swish_s8", (x.index,), y.index, params, {}, 0, text, False)


def _leaky_relu(graph: Graph, op: Operator) -> Step:
    x = _activation(graph, op.inputs[0], "input")
    y = _activation(graph, op.outputs[0], "output")
    if x.size != y.size:
        raise _Refusal(f"input {list(x.shape)} and output {list(y.shape)} differ in size")
    alpha = float(op.options.get("alpha", 0.0))
    if not 0.0 <= alpha <= 1.0:
        raise _Refusal(f"alpha {alpha:g} (0 to 1 is supported)")
    (im, ishift), (am, ashift) = quant.leaky_relu_parameters(x.scale, y.scale, alpha)
    params = {
        "size": y.size, "input_zero_point": x.zero_point, "output_zero_point": y.zero_point,
        "identity_multiplier": im, "identity_shift": ishift,
        "alpha_multiplier": am, "alpha_shift": ashift,
    }  # fmt: skip
    text = f"{'x'.join(map(str, y.shape))} alpha {alpha:g}"
    return Step(op, "leaky_relu_s8", (x.index,), y.index, params, {}, 0, text, False)


def _alias(graph: Graph, op: Operator) -> Step:
    if not op.inputs or op.inputs[0] < 0:
        raise _Refusal("it has no input")
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if x.nbytes != y.nbytes or x.dtype != y.dtype:
        raise _Refusal(f"input {list(x.shape)} and output {list(y.shape)} differ in size")
    if x.is_constant:
        raise _Refusal("reshaping a constant tensor is not supported")
    text = f"{'x'.join(map(str, x.shape))} -> {'x'.join(map(str, y.shape))} (no copy)"
    return Step(op, None, (x.index,), y.index, {}, {}, 0, text)


def _quantize(graph: Graph, op: Operator) -> Step:
    x, y = graph.tensor(op.inputs[0]), _activation(graph, op.outputs[0], "output")
    if x.quant is None and x.dtype != "float32":
        raise _Refusal(f"input '{x.name}' is not quantized")
    if x.size != y.size:
        raise _Refusal("input and output sizes differ")
    text = f"{x.dtype}->int8 {'x'.join(map(str, y.shape))}"
    if x.dtype == "float32":
        params = {"size": y.size, "scale": float(np.float32(y.scale)), "zero_point": y.zero_point}
        return Step(op, "quantize_f32", (x.index,), y.index, params, {}, 0, text, False)
    if x.dtype not in ("int8", "uint8"):
        raise _Refusal(f"input '{x.name}' is {x.dtype} (float32, int8 and uint8 are supported)")
    multiplier, shift = quant.requantize_multiplier(x.scale, y.scale)
    params = {
        "size": y.size, "input_offset": -x.zero_point, "multiplier": multiplier,
        "shift": shift, "output_offset": y.zero_point, "input_unsigned": int(x.dtype == "uint8"),
    }  # fmt: skip
    return Step(op, "requantize_s8", (x.index,), y.index, params, {}, 0, text, False)


def _dequantize(graph: Graph, op: Operator) -> Step:
    x, y = _activation(graph, op.inputs[0], "input"), graph.tensor(op.outputs[0])
    if y.dtype != "float32" or x.size != y.size:
        raise _Refusal(f"output '{y.name}' must be float32 of the input's size")
    params = {"size": x.size, "zero_point": x.zero_point, "scale": float(x.scale)}
    text = f"int8->float32 {'x'.join(map(str, x.shape))}"
    return Step(op, "dequantize_f32", (x.index,), y.index, params, {}, 0, text, False)


_LOWERINGS: dict[str, Callable[[Graph, Operator], Step]] = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _conv,
    "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool,
    "MAX_POOL_2D": _pool,
    "ADD": _add,
    "SOFTMAX": _softmax,
    "MEAN": _mean,
    "PAD": _pad,
    "CONCATENATION": _concatenation,
    "RELU": _relu,
    "RELU6": _relu,
    "RELU_N1_TO_1": _relu,
    "LOGISTIC": _logistic,
    "MUL": _mul,
    "HARD_SWISH": _hard_swish,
    "LEAKY_RELU": _leaky_relu,
    "TANH": _logistic,
    "RESHAPE": _alias,
    "SQUEEZE": _alias,
    "EXPAND_DIMS": _alias,
    "QUANTIZE": _quantize,
    "DEQUANTIZE": _dequantize,
}
