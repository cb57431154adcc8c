"""`cmsim bench --kernel K --shape ...`: one kernel on one shape, random data, every variant.

The kernel harness firmware runs each variant on the same seeded data; each output is checked
bit for bit against the numpy golden model, and the call's cycles are the kernel's cost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmsim.bench import golden, kernels
from cmsim.bench.results import BenchResult, LayerResult
from cmsim.bench.runner import BenchError, build_firmware, core_variants
from cmsim.board import Board
from cmsim.harness import Harness

# Every shape key a kernel takes, with its default (h, w, c: input; o: output channels;
# k: square kernel; stride; pad: top/left padding; n/m: fully connected in/out features).
SHAPE_KEYS: dict[str, dict[str, int]] = {
    "conv2d": {"h": 16, "w": 16, "c": 32, "o": 32, "k": 5, "stride": 1, "pad": 2},
    "conv2d_1x1": {"h": 16, "w": 16, "c": 32, "o": 32, "stride": 1},
    "conv2d_rgb": {"h": 32, "w": 32, "o": 32, "k": 5, "stride": 1, "pad": 2},
    "depthwise_conv2d": {"h": 16, "w": 16, "c": 32, "k": 3, "stride": 1, "pad": 1},
    "fully_connected": {"n": 1024, "m": 10},
    "max_pool": {"h": 16, "w": 16, "c": 32, "k": 3, "stride": 2, "pad": 0},
    "avg_pool": {"h": 16, "w": 16, "c": 32, "k": 3, "stride": 2, "pad": 0},
    "relu": {"h": 16, "w": 16, "c": 32},
}
KERNELS = tuple(SHAPE_KEYS)


@dataclass(frozen=True)
class KernelCase:
    """One kernel on one shape, with its seeded data."""

    kernel: str
    shape: dict[str, int]
    seed: int = 1

    @property
    def description(self) -> str:
        short = {"stride": "s", "pad": "p"}
        return " ".join(f"{short.get(key, key)}{value}" for key, value in self.shape.items())


def parse_shape(kernel: str, text: str) -> dict[str, int]:
    """`h=16,w=16,c=32` -> {...} over the kernel's defaults; BenchError on a bad key or value."""
    if kernel not in SHAPE_KEYS:
        raise BenchError(f"unknown kernel {kernel!r} (known: {', '.join(KERNELS)})")
    shape = dict(SHAPE_KEYS[kernel])
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        if key not in shape:
            raise BenchError(f"{kernel} takes shape keys {', '.join(shape)}; not {key!r}")
        # isascii: "²".isdigit() is True, but int("²") fails
        if not (value.isascii() and value.isdigit()) or (int(value) == 0 and key != "pad"):
            raise BenchError(f"shape value {item!r} must be a positive integer")
        shape[key] = int(value)
    largest = max(_tensor_sizes(kernel, shape))
    if largest > MAX_TENSOR:
        raise BenchError(
            f"shape {text!r} needs a {largest:,}-byte tensor; no board holds more than "
            f"{MAX_TENSOR:,} bytes"
        )
    return shape


MAX_TENSOR = 1 << 24  # bytes: larger than any board's memory, small enough for numpy


def _tensor_sizes(kernel: str, s: dict[str, int]) -> tuple[int, ...]:
    """Bytes of the case's input and weights (int8), before any memory is allocated."""
    if kernel == "fully_connected":
        return (s["n"], s["n"] * s["m"])
    c = 3 if kernel == "conv2d_rgb" else s["c"]
    k = s.get("k", 1)
    return (s["h"] * s["w"] * c, s.get("o", c) * k * k * c)


def _out_len(size: int, k: int, stride: int, pad: int) -> int:
    out = golden.output_size(size, k, stride, pad)
    if out <= 0:
        raise BenchError(f"the window ({k}, stride {stride}, pad {pad}) does not fit size {size}")
    return out


def _quant(rng: np.random.Generator, weights: np.ndarray, out_c: int, in_std: float):
    flat = weights.reshape(-1, out_c) if weights.ndim == 3 else weights.reshape(out_c, -1)
    norms = np.sqrt((flat.astype(np.float64) ** 2).sum(axis=1 if weights.ndim != 3 else 0))
    pairs = [golden.quantize_multiplier(28.0 / max(n * in_std, 1.0)) for n in norms]
    return kernels.ConvQuant(
        np.array([m for m, _ in pairs], np.int32),
        np.array([s for _, s in pairs], np.int32),
        input_offset=int(rng.integers(-20, 21)),
        output_offset=int(rng.integers(-20, 21)),
    )


def run_case(h: Harness, case: KernelCase, variant: str) -> tuple[int, bool]:
    """(cycles, matched golden) of one variant on the case's data (same seed for every variant)."""
    rng = np.random.default_rng(case.seed)
    s = case.shape
    h.free()
    if case.kernel == "fully_connected":
        x = rng.integers(-128, 128, s["n"]).astype(np.int8)
        w = rng.integers(-127, 128, (s["m"], s["n"])).astype(np.int8)
        bias = rng.integers(-5000, 5000, s["m"]).astype(np.int32)
        q = _quant(rng, w, s["m"], 60.0)
        out, result, _ = kernels.fully_connected(h, variant, x, w, bias, q, weights_region="flash")
        want = golden.fully_connected(
            x,
            w,
            bias,
            q.multiplier,
            q.shift,
            input_offset=q.input_offset,
            output_offset=q.output_offset,
        )
        return result.cycles, bool(np.array_equal(out, want))
    c = 3 if case.kernel == "conv2d_rgb" else s["c"]
    x = rng.integers(-128, 128, (s["h"], s["w"], c)).astype(np.int8)
    if case.kernel == "relu":
        zero_point = int(rng.integers(-20, 21))
        out, result = kernels.relu(h, variant, x, zero_point)
        return result.cycles, bool(np.array_equal(out, golden.relu(x, zero_point)))
    k, stride, pad = s.get("k", 1), s["stride"], s.get("pad", 0)
    out_size = (_out_len(s["h"], k, stride, pad), _out_len(s["w"], k, stride, pad))
    if case.kernel in ("max_pool", "avg_pool"):
        kind = case.kernel.removesuffix("_pool")
        out, result = kernels.pool(
            h, variant, kind, x, (k, k), (stride, stride), (pad, pad), out_size
        )
        model = golden.max_pool if kind == "max" else golden.avg_pool
        want = model(x, (k, k), (stride, stride), (pad, pad), out_size)
        return result.cycles, bool(np.array_equal(out, want))
    depthwise = case.kernel == "depthwise_conv2d"
    out_c = c if depthwise else s["o"]
    w_shape = (k, k, out_c) if depthwise else (out_c, k, k, c)
    w = rng.integers(-127, 128, w_shape).astype(np.int8)
    bias = rng.integers(-5000, 5000, out_c).astype(np.int32)
    q = _quant(rng, w, out_c, 60.0)
    out, result, _ = kernels.conv2d(
        h,
        variant,
        x,
        w,
        bias,
        q,
        stride=(stride, stride),
        pad=(pad, pad),
        out_size=out_size,
        kernel=case.kernel,
        weights_region="flash",
    )
    model = golden.depthwise_conv2d if depthwise else golden.conv2d
    want = model(
        x,
        w,
        bias,
        q.multiplier,
        q.shift,
        stride=(stride, stride),
        pad=(pad, pad),
        out_size=out_size,
        input_offset=q.input_offset,
        output_offset=q.output_offset,
    )
    return result.cycles, bool(np.array_equal(out, want))


def macs(case: KernelCase) -> int:
    """Multiply-accumulates of a conv-like or fully connected case (0 otherwise)."""
    s = case.shape
    if case.kernel == "fully_connected":
        return s["n"] * s["m"]
    if case.kernel in ("max_pool", "avg_pool", "relu"):
        return 0
    k, stride, pad = s.get("k", 1), s["stride"], s.get("pad", 0)
    pixels = _out_len(s["h"], k, stride, pad) * _out_len(s["w"], k, stride, pad)
    c = 3 if case.kernel == "conv2d_rgb" else s["c"]
    if case.kernel == "depthwise_conv2d":
        return pixels * c * k * k
    return pixels * s["o"] * k * k * c


def bench_kernel(
    board: Board, case: KernelCase, variants: tuple[str, ...], cmsis_nn_harness: Path | None = None
) -> BenchResult:
    """Time every variant of one kernel case on `board` (weights in flash, activations in SRAM).
    The `cmsis-nn` variant runs in `cmsis_nn_harness` (cmsim.cmsis_nn.build)."""
    begin = time.perf_counter()
    variants, unavailable = core_variants(board, variants)
    harness = Harness(build_firmware(board) / "kernel_harness.elf", board)
    if "cmsis-nn" in variants:
        if cmsis_nn_harness is None:
            raise BenchError("the cmsis-nn variant needs a CMSIS-NN checkout (--cmsis-nn PATH)")
        if case.kernel == "relu":
            raise BenchError(
                "CMSIS-NN has no int8 ReLU with a zero point (TFLM fuses ReLU into the layer "
                "before it): --kernel relu runs ref, opt and asm"
            )
    harnesses = {"cmsis-nn": Harness(cmsis_nn_harness, board)} if cmsis_nn_harness else {}
    row = LayerResult(case.kernel, case.kernel, case.description, macs(case))
    for variant in variants:
        h = harnesses.get(variant, harness)
        row.cycles[variant], row.matched[variant] = run_case(h, case, variant)
    result = BenchResult(f"{case.kernel} kernel", board.name, board.clock_hz, list(variants), [row])
    result.totals = dict(row.cycles)
    result.notes.extend(unavailable)
    result.host_seconds = time.perf_counter() - begin
    return result
