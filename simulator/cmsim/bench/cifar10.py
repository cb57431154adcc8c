"""The default workload: the CMSIS-NN CIFAR-10 CNN, with seeded int8 parameters.

Network (shared/DESIGN.md): input 32x32x3;
conv1 5x5x3->32 pad 2, maxpool 3x3/2 SAME, ReLU;
conv2 5x5x32->32 pad 2, ReLU, avgpool 3x3/2 SAME;
conv3 5x5x32->64 pad 2, ReLU, avgpool 3x3/2 SAME;
fully connected 1024 -> 10.

Accuracy is not the point: the parameters are random but scaled so that every layer's
activations spread over the int8 range (few saturate), which makes a bit-exact comparison
with the golden model meaningful.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmsim.bench import golden

DEFAULT_SEED = 2026
ACTIVATION_TARGET_STD = 28.0  # int8 units: wide spread, rare saturation


@dataclass(frozen=True)
class Layer:
    """One layer of the network with its geometry (NHWC, batch 1)."""

    name: str
    kind: str  # conv, maxpool, avgpool, relu, fc
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)  # top, left

    @property
    def macs(self) -> int:
        """Multiply-accumulates of a conv or fully connected layer (0 for the others)."""
        out_h, out_w, out_c = self.out_shape
        if self.kind == "conv":
            return out_h * out_w * out_c * self.kernel[0] * self.kernel[1] * self.in_shape[2]
        if self.kind == "fc":
            return out_c * int(np.prod(self.in_shape))
        return 0

    @property
    def shape_text(self) -> str:
        """A short description: "5x5x32->32 @16x16", "3x3/2 ->8x8x32", "1024->10"."""
        h, w, c = self.in_shape
        oh, ow, oc = self.out_shape
        kh, kw = self.kernel
        if self.kind == "conv":
            return f"{kh}x{kw}x{c}->{oc} @{oh}x{ow}"
        if self.kind in ("maxpool", "avgpool"):
            return f"{kh}x{kw}/{self.stride[0]} ->{oh}x{ow}x{oc}"
        if self.kind == "fc":
            return f"{h * w * c}->{oc}"
        return f"{h}x{w}x{c}"


def _same_pool(name: str, kind: str, in_shape: tuple[int, int, int]) -> Layer:
    h, w, c = in_shape
    # TFLite SAME with a 3x3 window and stride 2 on even sizes: pad 0 top/left, 1 bottom/right.
    return Layer(name, kind, in_shape, ((h + 1) // 2, (w + 1) // 2, c), (3, 3), (2, 2), (0, 0))


NETWORK: tuple[Layer, ...] = (
    Layer("conv1", "conv", (32, 32, 3), (32, 32, 32), (5, 5), (1, 1), (2, 2)),
    _same_pool("pool1", "maxpool", (32, 32, 32)),
    Layer("relu1", "relu", (16, 16, 32), (16, 16, 32)),
    Layer("conv2", "conv", (16, 16, 32), (16, 16, 32), (5, 5), (1, 1), (2, 2)),
    Layer("relu2", "relu", (16, 16, 32), (16, 16, 32)),
    _same_pool("pool2", "avgpool", (16, 16, 32)),
    Layer("conv3", "conv", (8, 8, 32), (8, 8, 64), (5, 5), (1, 1), (2, 2)),
    Layer("relu3", "relu", (8, 8, 64), (8, 8, 64)),
    _same_pool("pool3", "avgpool", (8, 8, 64)),
    Layer("fc", "fc", (4, 4, 64), (1, 1, 10)),
)


LAYER_NAMES = tuple(layer.name for layer in NETWORK)


@dataclass
class LayerParams:
    """Quantized parameters of one layer (empty arrays for layers without weights)."""

    input_zero_point: int
    output_zero_point: int
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    multiplier: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    shift: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))


@dataclass
class Model:
    """The network's input image and per-layer parameters, all derived from one seed."""

    seed: int
    image: np.ndarray
    params: dict[str, LayerParams]


def make_model(seed: int = DEFAULT_SEED) -> Model:
    """Draw the input image and every layer's parameters from `seed` (deterministic)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(-128, 128, size=NETWORK[0].in_shape, dtype=np.int64).astype(np.int8)
    zero_point, spread = -128 + 128, float(np.std(image.astype(np.float64)))
    params: dict[str, LayerParams] = {}
    for layer in NETWORK:
        if layer.kind in ("conv", "fc"):
            out_zero_point = int(rng.integers(-16, 17))
            params[layer.name] = _weighted_layer(rng, layer, zero_point, out_zero_point, spread)
            zero_point, spread = out_zero_point, ACTIVATION_TARGET_STD
        else:
            params[layer.name] = LayerParams(zero_point, zero_point)
    return Model(seed, image, params)


def _weighted_layer(
    rng: np.random.Generator, layer: Layer, in_zp: int, out_zp: int, in_std: float
) -> LayerParams:
    out_c = layer.out_shape[2]
    if layer.kind == "conv":
        shape = (out_c, *layer.kernel, layer.in_shape[2])
    else:
        shape = (out_c, int(np.prod(layer.in_shape)))
    amplitude = rng.uniform(20.0, 60.0, size=out_c)  # per-channel weight scale, symmetric int8
    raw = rng.normal(size=shape) * amplitude.reshape(-1, *([1] * (len(shape) - 1)))
    weights = np.clip(np.rint(raw), -127, 127).astype(np.int8)
    flat = weights.reshape(out_c, -1).astype(np.float64)
    acc_std = np.sqrt((flat**2).sum(axis=1)) * max(in_std, 1.0)
    bias = np.rint(rng.normal(size=out_c) * acc_std * 0.2).astype(np.int32)
    pairs = [golden.quantize_multiplier(ACTIVATION_TARGET_STD / s) for s in acc_std]
    multiplier = np.array([m for m, _ in pairs], dtype=np.int32)
    shift = np.array([s for _, s in pairs], dtype=np.int32)
    return LayerParams(in_zp, out_zp, weights, bias, multiplier, shift)


def run_golden(model: Model) -> dict[str, np.ndarray]:
    """Every layer's output from the numpy golden model, in network order."""
    outputs: dict[str, np.ndarray] = {}
    x = model.image
    for layer in NETWORK:
        x = golden_layer(layer, model.params[layer.name], x)
        outputs[layer.name] = x
    return outputs


def golden_layer(layer: Layer, p: LayerParams, x: np.ndarray) -> np.ndarray:
    """One layer of the network through the golden model."""
    out_size = layer.out_shape[:2]
    if layer.kind == "conv":
        return golden.conv2d(
            x,
            p.weights,
            p.bias,
            p.multiplier,
            p.shift,
            stride=layer.stride,
            pad=layer.pad,
            out_size=out_size,
            input_offset=-p.input_zero_point,
            output_offset=p.output_zero_point,
        )
    if layer.kind == "maxpool":
        return golden.max_pool(x, layer.kernel, layer.stride, layer.pad, out_size)
    if layer.kind == "avgpool":
        return golden.avg_pool(x, layer.kernel, layer.stride, layer.pad, out_size)
    if layer.kind == "relu":
        return golden.relu(x, p.input_zero_point)
    if layer.kind == "fc":
        scores = golden.fully_connected(
            x.reshape(-1),
            p.weights,
            p.bias,
            p.multiplier,
            p.shift,
            input_offset=-p.input_zero_point,
            output_offset=p.output_zero_point,
        )
        return scores.reshape(layer.out_shape)
    raise ValueError(f"unknown layer kind {layer.kind!r}")


def total_macs() -> int:
    """Multiply-accumulates of one inference (12,298,240)."""
    return sum(layer.macs for layer in NETWORK)


# -- firmware data ---------------------------------------------------------------------------


def _c_array(ctype: str, name: str, values: np.ndarray, per_line: int = 16) -> str:
    flat = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    lines = [", ".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    body = ",\n    ".join(lines)
    return f"const {ctype} {name}[{len(flat)}] __attribute__((aligned(4))) = {{\n    {body}\n}};\n"


def c_sources(model: Model) -> tuple[str, str]:
    """(header, source) of the firmware's data: image, parameters, golden class scores."""
    golden_scores = run_golden(model)[NETWORK[-1].name].reshape(-1)
    header = [
        f"/* Generated by `python -m cmsim.bench.cifar10` from seed {model.seed}; do not edit. */",
        "#ifndef CIFAR10_DATA_H",
        "#define CIFAR10_DATA_H",
        "#include <stdint.h>",
        f"extern const int8_t cifar10_image[{model.image.size}];",
        f"extern const int8_t cifar10_golden_scores[{golden_scores.size}];",
    ]
    source = [
        header[0],
        '#include "cifar10_data.h"',
        _c_array("int8_t", "cifar10_image", model.image),
        _c_array("int8_t", "cifar10_golden_scores", golden_scores),
    ]
    for layer in NETWORK:
        p = model.params[layer.name]
        prefix = f"CIFAR10_{layer.name.upper()}"
        header.append(f"#define {prefix}_INPUT_ZP ({p.input_zero_point})")
        header.append(f"#define {prefix}_OUTPUT_ZP ({p.output_zero_point})")
        if not p.weights.size:
            continue
        arrays = (
            ("int8_t", "weights", p.weights),
            ("int32_t", "bias", p.bias),
            ("int32_t", "multiplier", p.multiplier),
            ("int32_t", "shift", p.shift),
        )
        for ctype, suffix, values in arrays:
            name = f"cifar10_{layer.name}_{suffix}"
            header.append(f"extern const {ctype} {name}[{values.size}];")
            source.append(_c_array(ctype, name, values))
    header.append("#endif")
    return "\n".join(header) + "\n", "\n".join(source)


def write_c_sources(model: Model, folder: str) -> None:
    """Write cifar10_data.h and cifar10_data.c into `folder` (the firmware build folder)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    header, source = c_sources(model)
    (out / "cifar10_data.h").write_text(header)
    (out / "cifar10_data.c").write_text(source)


if __name__ == "__main__":
    write_c_sources(make_model(), sys.argv[1] if len(sys.argv) > 1 else ".")
