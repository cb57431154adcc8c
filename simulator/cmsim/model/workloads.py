"""The MLPerf Tiny v1.x reference models as built-in int8 TFLite workloads (`ic`, `kws`, `vww`,
`ad`), written by cmsim's own writer: no network and no TensorFlow at run time.

Architectures follow the MLPerf Tiny reference training code (github.com/mlcommons/tiny,
benchmark/training/*) and the paper: C. Banbury et al., "MLPerf Tiny Benchmark", NeurIPS 2021
Datasets and Benchmarks track (arXiv:2106.07597). Weights are seeded, not trained: accuracy is
not the point, realistic shapes and well-spread int8 tensors are. Batch normalisation is folded
into the convolution weights and bias (as TFLite's converter does) with its statistics measured
on the calibration batch (see cmsim.model.calibrate). The reference classifiers and the
autoencoder's output layer have no batch norm; their weights are scaled the same way all the
same (a data-dependent initialisation: the graph is unchanged, only the weight values differ),
so that their logits vary from input to input instead of sitting on constants. The ResNet 1x1
shortcut convolutions keep plain He-initialised weights, as they have no batch norm either.
Quantization is calibrated on `Workload.calibration_inputs` seeded random inputs drawn like
`sample_input`: uniform over the int8 input range. Inputs and outputs are int8, as in MLPerf
Tiny's full-integer models.

Calibration is plain min/max, as TFLite's converter does it: the more calibration inputs, the
rarer a fresh input leaves a range, and the less of the int8 range a typical input uses. The
counts below keep both in check (tests/test_workloads.py states the bounds reached).

Example::

    from cmsim.model.workloads import build_workload, sample_input, write_workload
    model = build_workload("kws")            # bytes of a .tflite
    write_workload("vww", "vww.tflite")
    x = sample_input("ic", seed=7)            # int8 (1, 32, 32, 3)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmsim.errors import ModelError
from cmsim.model.calibrate import Net, Value
from cmsim.model.writer import Graph, to_tflite

DEFAULT_SEED = 2021  # the year of MLPerf Tiny v0.5


@dataclass(frozen=True)
class Workload:
    """A built-in model: what it is, its int8 input, and where the architecture comes from."""

    name: str
    description: str
    input_shape: tuple[int, ...]
    input_range: tuple[float, float]  # the float range the int8 input covers
    source: str
    build: Callable[[Net, Value], Value]
    calibration_inputs: int  # enough that a fresh input rarely leaves the calibrated ranges


def _resnet8(net: Net, x: Value) -> Value:
    """ResNet-8 (resnet_v1_eembc with 16 filters): conv 3x3/16, three residual stacks of
    16/32/64 filters (stride 2 and a 1x1 shortcut convolution on the 2nd and 3rd), add + ReLU,
    8x8 average pool, dense 10, softmax."""
    x = net.conv("conv1", x, 16, 3)
    for stack, filters in enumerate((16, 32, 64), start=1):
        stride = 1 if stack == 1 else 2
        y = net.conv(f"stack{stack}/conv1", x, filters, 3, stride)
        y = net.conv(f"stack{stack}/conv2", y, filters, 3, activation="NONE")
        if stack > 1:
            x = net.conv(
                f"stack{stack}/shortcut", x, filters, 1, stride, activation="NONE", bn=False
            )
        x = net.add(f"stack{stack}/add", x, y, "RELU")
    x = net.avg_pool("pool", x, 8)
    x = net.dense("fc", net.flatten("flatten", x), 10, "NONE")
    return net.softmax("softmax", x)


def _ds_cnn(net: Net, x: Value) -> Value:
    """DS-CNN (small, 64 filters): conv 10x4/2 SAME, four depthwise 3x3 + pointwise 1x1
    blocks (batch norm + ReLU after each), 25x5 average pool, dense 12, softmax."""
    x = net.conv("conv1", x, 64, (10, 4), 2)
    for block in range(1, 5):
        x = net.depthwise(f"block{block}/depthwise", x, 3)
        x = net.conv(f"block{block}/pointwise", x, 64, 1)
    x = net.avg_pool("pool", x, (25, 5))
    x = net.dense("fc", net.flatten("flatten", x), 12, "NONE")
    return net.softmax("softmax", x)


# MobileNetV1 alpha 0.25: (stride, pointwise filters) of the 13 depthwise-separable blocks.
_MOBILENET_BLOCKS = (
    (1, 16),
    (2, 32),
    (1, 32),
    (2, 64),
    (1, 64),
    (2, 128),
    (1, 128),
    (1, 128),
    (1, 128),
    (1, 128),
    (1, 128),
    (2, 256),
    (1, 256),
)


def _mobilenet_v1(net: Net, x: Value) -> Value:
    """MobileNetV1 alpha 0.25 at 96x96: conv 3x3/2 with 8 filters, 13 depthwise-separable
    blocks (batch norm + ReLU after each conv), 3x3 average pool, dense 2, softmax."""
    x = net.conv("conv1", x, 8, 3, 2)
    for block, (stride, filters) in enumerate(_MOBILENET_BLOCKS, start=1):
        x = net.depthwise(f"block{block}/depthwise", x, 3, stride)
        x = net.conv(f"block{block}/pointwise", x, filters, 1)
    x = net.avg_pool("pool", x, 3)
    x = net.dense("fc", net.flatten("flatten", x), 2, "NONE")
    return net.softmax("softmax", x)


def _autoencoder(net: Net, x: Value) -> Value:
    """Fully connected autoencoder: dense 128 x4, dense 8, dense 128 x4 (batch norm + ReLU
    after each), dense 640 (linear)."""
    for layer, units in enumerate((128, 128, 128, 128, 8, 128, 128, 128, 128), start=1):
        x = net.dense(f"fc{layer}", x, units)
    return net.dense("fc10", x, 640, "NONE")


_REPO = "github.com/mlcommons/tiny"
WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "ic",
            "image classification: ResNet-8 on CIFAR-10 32x32x3 images",
            (1, 32, 32, 3),
            (0.0, 1.0),
            f"{_REPO} benchmark/training/image_classification/keras_model.py "
            "(resnet_v1_eembc, 16 filters, as at commit bceb91c)",
            _resnet8,
            32,
        ),
        Workload(
            "kws",
            "keyword spotting: DS-CNN on 49x10 MFCC features, 12 classes",
            (1, 49, 10, 1),
            (-10.0, 10.0),
            f"{_REPO} v0.1/training/keyword_spotting/keras_model.py (ds_cnn)",
            _ds_cnn,
            64,
        ),
        Workload(
            "vww",
            "visual wake words: MobileNetV1 0.25 on 96x96x3 images, 2 classes",
            (1, 96, 96, 3),
            (0.0, 1.0),
            f"{_REPO} v0.1/benchmarks/visual_wake_words/vww_model.py (mobilenet_v1)",
            _mobilenet_v1,
            16,
        ),
        Workload(
            "ad",
            "anomaly detection: fully connected autoencoder on 640 log-mel features",
            (1, 640),
            (-4.0, 4.0),
            f"{_REPO} v0.1/benchmarks/anomaly_detection/keras_model.py (get_model)",
            _autoencoder,
            64,
        ),
    )
}


def get_workload(name: str) -> Workload:
    """The workload record for `name`; ModelError naming the known workloads otherwise."""
    if name not in WORKLOADS:
        known = ", ".join(WORKLOADS)
        raise ModelError(f"unknown workload '{name}' (known workloads: {known})")
    return WORKLOADS[name]


def _dequantize_input(w: Workload, q: np.ndarray) -> np.ndarray:
    lo, hi = w.input_range
    scale = (hi - lo) / 255.0
    return (q.astype(np.float64) + 128) * scale + lo  # int8 -128 stands for lo


def sample_input(name: str, seed: int = 0) -> np.ndarray:
    """A seeded int8 input for the workload, drawn like its calibration inputs (uniform)."""
    w = get_workload(name)
    rng = np.random.default_rng([seed, 1])
    return rng.integers(-128, 128, w.input_shape, dtype=np.int64).astype(np.int8)


def build_graph(name: str, seed: int = DEFAULT_SEED) -> Graph:
    """The workload as a quantized writer Graph (weights seeded by `seed`)."""
    w = get_workload(name)
    rng = np.random.default_rng([seed, 0])
    batch = rng.integers(-128, 128, (w.calibration_inputs, *w.input_shape[1:]))
    net = Net(rng, f"cmsim workload {name} (MLPerf Tiny {w.description}), seed {seed}")
    x = net.input("input", _dequantize_input(w, batch), *w.input_range)
    return net.graph([w.build(net, x)])


def build_workload(name: str, seed: int = DEFAULT_SEED) -> bytes:
    """The workload as the bytes of an int8 .tflite model (the same seed gives the same bytes)."""
    return to_tflite(build_graph(name, seed))


def write_workload(name: str, path: str | Path, seed: int = DEFAULT_SEED) -> Path:
    """Write the workload's .tflite to `path`; returns the path."""
    path = Path(path)
    data = build_workload(name, seed)
    try:
        path.write_bytes(data)
    except OSError as e:
        raise ModelError(f"cannot write {path}: {e.strerror}") from None
    return path
