"""Float forward pass and range calibration: from a float network to a quantized int8 Graph.

`Net` builds a float network layer by layer and runs it at once (eagerly, vectorised numpy) on
a batch of calibration inputs. Weights are seeded and He-initialised; with `bn=True` (the
default) batch normalisation statistics are measured on the calibration batch and folded into
the layer's weights and bias (gamma and beta seeded), so every layer's output has a unit-scale
spread whatever the depth: activations neither explode nor vanish. With `bn=False` the layer
keeps its He-initialised weights and gets a small seeded bias. `Net.graph()` then
quantizes the recorded network the way TFLite's post-training int8 quantization does:
activation ranges are the min/max seen on the calibration batch (widened to include 0),
weights get one symmetric scale per output channel from their largest magnitude, biases are
int32 at input_scale * weight_scale.

Layouts are TFLite's: activations NHWC (here with the calibration batch as N), conv weights
[O, KH, KW, I], depthwise weights [1, KH, KW, C * M], fully connected weights [O, I].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cmsim.model import writer
from cmsim.model.writer import Graph, Quantization, Tensor

BN_EPSILON = 1e-3  # Keras BatchNormalization's default


# -------------------------------------------------------------------------- float kernels


def _pad_same(x: np.ndarray, kernel, stride, dilation, value: float = 0.0) -> np.ndarray:
    pads = [writer.same_padding(x.shape[1 + a], kernel[a], stride[a], dilation[a]) for a in (0, 1)]
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def windows(
    x: np.ndarray, kernel, stride, padding: str, dilation=(1, 1), pad_value: float = 0.0
) -> np.ndarray:
    """Sliding windows of NHWC `x`: array (N, OH, OW, C, KH, KW) (a view where possible)."""
    if padding == "SAME":
        x = _pad_same(x, kernel, stride, dilation, pad_value)
    span = [(kernel[a] - 1) * dilation[a] + 1 for a in (0, 1)]
    view = sliding_window_view(x, span, axis=(1, 2))
    # Striding the window starts gives exactly TFLite's output size for SAME and VALID.
    return view[:, :: stride[0], :: stride[1], :, :: dilation[0], :: dilation[1]]


def conv2d(x, w, b, stride=(1, 1), padding="SAME", dilation=(1, 1)) -> np.ndarray:
    """CONV_2D in float: x (N, H, W, I), w (O, KH, KW, I), b (O,) -> (N, OH, OW, O)."""
    if w.shape[1:3] == (1, 1):  # pointwise: no padding either way, a plain matmul
        cols = x[:, :: stride[0], :: stride[1], :]
        return cols @ w[:, 0, 0, :].T + b
    win = windows(x, w.shape[1:3], stride, padding, dilation)  # (N, OH, OW, I, KH, KW)
    n, oh, ow = win.shape[:3]
    cols = win.reshape(n * oh * ow, -1)
    kernel = w.transpose(0, 3, 1, 2).reshape(w.shape[0], -1)  # (O, I*KH*KW) like the windows
    return (cols @ kernel.T).reshape(n, oh, ow, -1) + b


def depthwise_conv2d(
    x, w, b, stride=(1, 1), padding="SAME", depth_multiplier=1, dilation=(1, 1)
) -> np.ndarray:
    """DEPTHWISE_CONV_2D in float: x (N, H, W, C), w (1, KH, KW, C*M) -> (N, OH, OW, C*M)."""
    win = windows(x, w.shape[1:3], stride, padding, dilation)  # (N, OH, OW, C, KH, KW)
    c = x.shape[3]
    kernel = w[0].reshape(w.shape[1], w.shape[2], c, depth_multiplier)
    out = np.einsum("nhwcij,ijcm->nhwcm", win, kernel, optimize=True)
    return out.reshape(*out.shape[:3], c * depth_multiplier) + b


def fully_connected(x, w, b) -> np.ndarray:
    """FULLY_CONNECTED in float: x (N, ..., I) flattened to rows of I -> (rows, O)."""
    return x.reshape(-1, w.shape[1]) @ w.T + b


def average_pool(x, filter, stride, padding="VALID") -> np.ndarray:
    """AVERAGE_POOL_2D in float (SAME averages over the valid positions only, like TFLite)."""
    total = windows(x, filter, stride, padding).sum(axis=(4, 5))
    count = windows(np.ones_like(x[:1, ..., :1]), filter, stride, padding).sum(axis=(4, 5))
    return total / count


def max_pool(x, filter, stride, padding="VALID") -> np.ndarray:
    """MAX_POOL_2D in float (padded positions never win)."""
    return windows(x, filter, stride, padding, pad_value=-np.inf).max(axis=(4, 5))


def activate(x: np.ndarray, activation: str) -> np.ndarray:
    """Fused activation NONE / RELU / RELU6."""
    if activation == "RELU":
        return np.maximum(x, 0.0)
    if activation == "RELU6":
        return np.clip(x, 0.0, 6.0)
    return x


def softmax(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """SOFTMAX over the last axis."""
    e = np.exp(beta * (x - x.max(axis=-1, keepdims=True)))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- quantization


def activation_quantization(lo: float, hi: float) -> Quantization:
    """Asymmetric int8 quantization covering [lo, hi] widened to include 0 (real 0 exact)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:  # an all-zero tensor: any scale represents it
        hi = lo + 1e-8
    scale = float(np.float32((hi - lo) / 255.0))
    zero_point = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return Quantization.per_tensor(scale, zero_point)


def quantize_weights(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per channel along `axis`: (int8 weights, float32 scales = max|w| / 127)."""
    others = tuple(a for a in range(w.ndim) if a != axis)
    peak = np.abs(w).max(axis=others)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scales.reshape(shape)), -127, 127).astype(np.int8)
    return q, scales


def quantize_bias(b: np.ndarray, input_scale: float, weight_scales: np.ndarray):
    """int32 bias at scale input_scale * weight_scale[c]: (int32 bias, float32 scales)."""
    scales = (np.float64(input_scale) * weight_scales.astype(np.float64)).astype(np.float32)
    q = np.clip(np.round(b / scales.astype(np.float64)), -(2**31), 2**31 - 1).astype(np.int32)
    return q, scales


# ---------------------------------------------------------------------------------- nets


@dataclass(eq=False)
class Value:
    """An activation tensor of the float network: its values on the calibration batch."""

    name: str
    x: np.ndarray
    same_as: Value | None = None  # pool / reshape outputs keep their input's quantization
    fixed: Quantization | None = None  # graph input, softmax output


@dataclass(eq=False)
class _Layer:
    options: object
    inputs: tuple[Value, ...]
    output: Value
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None


class Net:
    """A float network run eagerly on the calibration batch, recorded for quantization.

    Example::

        rng = np.random.default_rng(1)
        net = Net(rng, "tiny")
        x = net.input("input", rng.uniform(0, 1, (8, 16, 16, 3)), 0.0, 1.0)
        y = net.conv("conv", x, 8, (3, 3))
        y = net.softmax("prob", net.dense("fc", net.flatten("flat", y), 4, "NONE", bn=False))
        graph = net.graph([y])
    """

    def __init__(self, rng: np.random.Generator, description: str):
        self.rng = rng
        self.description = description
        self.inputs: list[Value] = []
        self.layers: list[_Layer] = []

    # ---- layers

    def input(self, name: str, x: np.ndarray, lo: float, hi: float) -> Value:
        """A graph input quantized over [lo, hi]; `x` is the float calibration batch."""
        value = Value(name, np.asarray(x, np.float64), fixed=activation_quantization(lo, hi))
        self.inputs.append(value)
        return value

    def _bn_fold(self, z: np.ndarray, w: np.ndarray, axis: int, bn: bool):
        """Fold seeded batch norm measured on the batch (bn) or draw a small bias (no bn)."""
        channels = z.shape[-1]
        if not bn:
            bias = self.rng.normal(0.0, 0.1 * (z.std() + 1e-12), channels)
            return w, bias, z + bias
        flat = z.reshape(-1, channels)
        mean, std = flat.mean(axis=0), np.sqrt(flat.var(axis=0) + BN_EPSILON)
        gamma = self.rng.uniform(0.6, 1.4, channels)
        beta = self.rng.normal(0.0, 0.5, channels)
        factor = gamma / std
        shape = [1] * w.ndim
        shape[axis] = -1
        bias = beta - mean * factor
        return w * factor.reshape(shape), bias, z * factor + bias

    def _record(self, name, options, inputs, x, weights=None, bias=None, **kw) -> Value:
        out = Value(name, x, **kw)
        self.layers.append(_Layer(options, tuple(inputs), out, weights, bias))
        return out

    def conv(
        self,
        name,
        x: Value,
        filters: int,
        kernel,
        stride=(1, 1),
        padding="SAME",
        activation="RELU",
        bn=True,
    ) -> Value:
        """CONV_2D (+ folded batch norm) + fused activation."""
        kernel, stride = _pair(kernel), _pair(stride)
        fan_in = kernel[0] * kernel[1] * x.x.shape[3]
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (filters, *kernel, x.x.shape[3]))
        z = conv2d(x.x, w, 0.0, stride, padding)
        w, b, z = self._bn_fold(z, w, 0, bn)
        options = writer.Conv2D(stride, padding, activation)
        return self._record(name, options, [x], activate(z, activation), w, b)

    def depthwise(
        self,
        name,
        x: Value,
        kernel,
        stride=(1, 1),
        padding="SAME",
        activation="RELU",
        depth_multiplier=1,
        bn=True,
    ) -> Value:
        """DEPTHWISE_CONV_2D (+ folded batch norm) + fused activation."""
        kernel, stride = _pair(kernel), _pair(stride)
        channels = x.x.shape[3] * depth_multiplier
        w = self.rng.normal(0.0, np.sqrt(2.0 / (kernel[0] * kernel[1])), (1, *kernel, channels))
        z = depthwise_conv2d(x.x, w, 0.0, stride, padding, depth_multiplier)
        w, b, z = self._bn_fold(z, w, 3, bn)
        options = writer.DepthwiseConv2D(stride, padding, activation, depth_multiplier)
        return self._record(name, options, [x], activate(z, activation), w, b)

    def dense(self, name, x: Value, units: int, activation="RELU", bn=True) -> Value:
        """FULLY_CONNECTED (+ folded batch norm) + fused activation."""
        fan_in = x.x.shape[-1]
        gain = 2.0 if activation != "NONE" else 1.0
        w = self.rng.normal(0.0, np.sqrt(gain / fan_in), (units, fan_in))
        z = fully_connected(x.x, w, 0.0)
        w, b, z = self._bn_fold(z, w, 0, bn)
        options = writer.FullyConnected(activation)
        return self._record(name, options, [x], activate(z, activation), w, b)

    def add(self, name, a: Value, b: Value, activation="NONE") -> Value:
        """ADD (+ fused activation)."""
        return self._record(name, writer.Add(activation), [a, b], activate(a.x + b.x, activation))

    def avg_pool(self, name, x: Value, filter, stride=None, padding="VALID") -> Value:
        """AVERAGE_POOL_2D (stride defaults to the filter, as in Keras)."""
        filter = _pair(filter)
        stride = _pair(stride) if stride is not None else filter
        y = average_pool(x.x, filter, stride, padding)
        return self._record(name, writer.AveragePool2D(filter, stride, padding), [x], y, same_as=x)

    def max_pool(self, name, x: Value, filter, stride=None, padding="VALID") -> Value:
        """MAX_POOL_2D (stride defaults to the filter, as in Keras)."""
        filter = _pair(filter)
        stride = _pair(stride) if stride is not None else filter
        y = max_pool(x.x, filter, stride, padding)
        return self._record(name, writer.MaxPool2D(filter, stride, padding), [x], y, same_as=x)

    def flatten(self, name, x: Value) -> Value:
        """RESHAPE to (batch, features)."""
        y = x.x.reshape(x.x.shape[0], -1)
        return self._record(name, writer.Reshape((1, y.shape[1])), [x], y, same_as=x)

    def softmax(self, name, x: Value, beta: float = 1.0) -> Value:
        """SOFTMAX (int8 output at scale 1/256, zero point -128)."""
        fixed = Quantization.per_tensor(*writer.SOFTMAX_OUTPUT)
        return self._record(name, writer.Softmax(beta), [x], softmax(x.x, beta), fixed=fixed)

    # ---- quantization

    def quantization(self, value: Value) -> Quantization:
        """The int8 quantization of an activation (calibrated, fixed, or its input's)."""
        while value.same_as is not None:
            value = value.same_as
        if value.fixed is not None:
            return value.fixed
        return activation_quantization(value.x.min(), value.x.max())

    def graph(self, outputs: list[Value]) -> Graph:
        """Quantize the recorded network into a writer Graph."""
        g = Graph(description=self.description)
        index: dict[int, int] = {}

        def tensor(v: Value) -> int:
            if id(v) not in index:
                shape = (1, *v.x.shape[1:])
                index[id(v)] = g.add_tensor(Tensor(v.name, shape, quant=self.quantization(v)))
            return index[id(v)]

        g.inputs = [tensor(v) for v in self.inputs]
        for layer in self.layers:
            ins = [tensor(v) for v in layer.inputs] + self._constants(g, layer)
            g.add_operator(layer.options, ins, [tensor(layer.output)])
        g.outputs = [tensor(v) for v in outputs]
        return g

    def _constants(self, g: Graph, layer: _Layer) -> list[int]:
        name = layer.output.name
        if isinstance(layer.options, writer.Reshape):
            shape = np.asarray(layer.options.new_shape, np.int32)
            return [g.add_tensor(Tensor(f"{name}/shape", shape.shape, "int32", data=shape))]
        if layer.weights is None:
            return []
        axis = 3 if isinstance(layer.options, writer.DepthwiseConv2D) else 0
        wq, wscales = quantize_weights(layer.weights, axis)
        in_scale = self.quantization(layer.inputs[0]).scale[0]
        bq, bscales = quantize_bias(layer.bias, in_scale, wscales)
        w = Tensor(f"{name}/weights", wq.shape, "int8", Quantization.per_channel(wscales, axis), wq)
        b = Tensor(f"{name}/bias", bq.shape, "int32", Quantization.per_channel(bscales, 0), bq)
        return [g.add_tensor(w), g.add_tensor(b)]


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))
