"""Host-side bindings of the firmware kernels (firmware/kernels/nn_kernels.h) over a Harness.

Each function lays out the kernel's parameter structs in simulated memory, places the arrays,
calls ``nn_<kernel>_<variant>`` and returns the output array with the CallResult. Shapes follow
cmsim.bench.golden: activations (H, W, C), conv weights (O, KH, KW, I).

Example (one CIFAR-10 conv2 layer, checked against the golden model)::

    import numpy as np
    from cmsim.bench import golden, kernels
    from cmsim.harness import Harness

    h = Harness("firmware/build/m4-ideal/kernel_harness.elf")
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (16, 16, 32)).astype(np.int8)
    w = rng.integers(-127, 128, (32, 5, 5, 32)).astype(np.int8)
    bias = np.zeros(32, np.int32)
    q = kernels.ConvQuant(np.full(32, 1 << 30), np.full(32, -9), input_offset=0, output_offset=0)
    out, result, scratch = kernels.conv2d(h, "asm", x, w, bias, q, pad=(2, 2), out_size=(16, 16))
    want = golden.conv2d(x, w, bias, q.multiplier, q.shift, pad=(2, 2), input_offset=0,
                         output_offset=0)
    assert (out == want).all()
    print(result.cycles / (16 * 16 * 32 * 5 * 5 * 32), "cycles per MAC")
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from cmsim.harness import CallResult, Harness, HarnessError

VARIANTS = ("ref", "opt", "asm")


@dataclass(frozen=True)
class ConvQuant:
    """Quantization of a convolution-like kernel (per output channel arrays)."""

    multiplier: np.ndarray
    shift: np.ndarray
    input_offset: int
    output_offset: int
    act_min: int = -128
    act_max: int = 127


def _check(result: CallResult) -> CallResult:
    if result.value != 0:
        raise HarnessError(f"{result.function} rejected its arguments (returned {result.value})")
    return result


def _quant(h: Harness, q: ConvQuant, region: str):
    multiplier = h.put(np.asarray(q.multiplier, dtype=np.int32), region)
    shift = h.put(np.asarray(q.shift, dtype=np.int32), region)
    return h.struct(multiplier.address, shift.address)


def symbol(kernel: str, variant: str) -> str:
    """The C function of a kernel variant: nn_conv2d_opt, nn_conv2d_cmsis_nn, ..."""
    return f"nn_{kernel}_{variant.replace('-', '_')}"


def scratch_symbol(kernel: str, variant: str) -> str:
    """cmsim's kernels share one scratch-size function per kernel; CMSIS-NN has its own."""
    return (
        f"{symbol(kernel, variant)}_scratch_size"
        if variant == "cmsis-nn"
        else (f"nn_{kernel}_scratch_size")
    )


def conv_scratch_size(h: Harness, kernel: str, params, variant: str = "opt") -> int:
    """Bytes of scratch the variant asks for (the firmware computes it); ref takes none."""
    if variant == "ref":
        return 0
    return h.call(scratch_symbol(kernel, variant), params).value


def conv2d(
    h: Harness,
    variant: str,
    x: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray | None,
    q: ConvQuant,
    *,
    stride: tuple[int, int] = (1, 1),
    pad: tuple[int, int] = (0, 0),
    out_size: tuple[int, int],
    kernel: str = "conv2d",
    weights_region: str = "sram",
) -> tuple[np.ndarray, CallResult, int]:
    """Run nn_<kernel>_<variant> (kernel: conv2d, conv2d_1x1, conv2d_rgb, depthwise_conv2d).

    Returns (output (OH, OW, O), call result, scratch bytes used). Depthwise weights are
    (KH, KW, C * M). A None bias passes NULL (no bias).
    """
    in_h, in_w, in_c = x.shape
    if kernel == "depthwise_conv2d":
        k_h, k_w, out_c = weights.shape
    else:
        out_c, k_h, k_w, _ = weights.shape
    out_h, out_w = out_size
    params = h.struct(
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        k_h,
        k_w,
        stride[0],
        stride[1],
        pad[0],
        pad[1],
        q.input_offset,
        q.output_offset,
        q.act_min,
        q.act_max,
    )
    quant = _quant(h, q, weights_region)
    scratch_bytes = conv_scratch_size(h, kernel, params, variant)
    scratch = h.alloc(max(scratch_bytes, 4), np.uint8) if variant != "ref" else None
    x_buf = h.put(np.asarray(x, np.int8))
    w_buf = h.put(np.asarray(weights, np.int8), weights_region)
    b_buf = None if bias is None else h.put(np.asarray(bias, np.int32), weights_region)
    out = h.alloc((out_h, out_w, out_c), np.int8)
    result = _check(
        h.call(symbol(kernel, variant), params, quant, x_buf, w_buf, b_buf, out, scratch)
    )
    return h.read(out).copy(), result, scratch_bytes


def fully_connected(
    h: Harness,
    variant: str,
    x: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray | None,
    q: ConvQuant,
    weights_region: str = "sram",
) -> tuple[np.ndarray, CallResult, int]:
    """Run nn_fully_connected_<variant> on x (B, N) with weights (M, N)."""
    xs = np.atleast_2d(np.asarray(x, np.int8))
    batches, n = xs.shape
    m = weights.shape[0]
    pairs = np.stack([np.ravel(q.multiplier), np.ravel(q.shift)])
    per_channel = int(len(np.unique(pairs, axis=1).T) > 1)
    params = h.struct(
        batches, n, m, q.input_offset, q.output_offset, q.act_min, q.act_max, per_channel
    )
    quant = _quant(h, q, weights_region)
    scratch_bytes = conv_scratch_size(h, "fully_connected", params, variant)
    scratch = h.alloc(max(scratch_bytes, 4), np.uint8) if variant != "ref" else None
    x_buf = h.put(xs)
    w_buf = h.put(np.asarray(weights, np.int8), weights_region)
    b_buf = None if bias is None else h.put(np.asarray(bias, np.int32), weights_region)
    out = h.alloc((batches, m), np.int8)
    result = _check(
        h.call(symbol("fully_connected", variant), params, quant, x_buf, w_buf, b_buf, out, scratch)
    )
    output = h.read(out).copy()
    return (output if np.ndim(x) == 2 else output[0]), result, scratch_bytes


def pool(
    h: Harness,
    variant: str,
    kind: str,
    x: np.ndarray,
    k: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    out_size: tuple[int, int],
    act_min: int = -128,
    act_max: int = 127,
) -> tuple[np.ndarray, CallResult]:
    """Run nn_<kind>_pool_<variant> (kind: "max" or "avg")."""
    in_h, in_w, c = x.shape
    params = h.struct(
        in_h,
        in_w,
        c,
        out_size[0],
        out_size[1],
        k[0],
        k[1],
        stride[0],
        stride[1],
        pad[0],
        pad[1],
        act_min,
        act_max,
    )
    need = conv_scratch_size(h, f"{kind}_pool", params, variant)
    scratch = h.alloc(need, np.uint8) if need else None
    x_buf = h.put(np.asarray(x, np.int8))
    out = h.alloc((out_size[0], out_size[1], c), np.int8)
    result = _check(h.call(symbol(f"{kind}_pool", variant), params, x_buf, out, scratch))
    return h.read(out).copy(), result


def relu(
    h: Harness, variant: str, x: np.ndarray, zero_point: int, six: int | None = None
) -> tuple[np.ndarray, CallResult]:
    """In-place ReLU (six None) or ReLU6 (six = quantized 6.0) on a copy of x."""
    buf = h.put(np.asarray(x, np.int8))
    if six is None:
        result = h.call(symbol("relu", variant), buf, buf.nbytes, zero_point)
    else:
        result = h.call(symbol("relu6", variant), buf, buf.nbytes, zero_point, six)
    _check(result)
    return h.read(buf).copy(), result


def softmax(
    h: Harness,
    variant: str,
    x: np.ndarray,
    input_multiplier: int,
    input_left_shift: int,
    diff_min: int,
) -> tuple[np.ndarray, CallResult]:
    """TFLite int8 softmax over the last axis of x; the parameters are golden.softmax's
    (from cmsim.model.quant.softmax_parameters)."""
    xs = np.asarray(x, np.int8)
    row_size = xs.shape[-1]
    p = h.struct(xs.size // row_size, row_size, input_multiplier, input_left_shift, diff_min)
    x_buf = h.put(xs)
    out = h.alloc(xs.shape, np.int8)
    result = _check(h.call(symbol("softmax", variant), p, x_buf, out))
    return h.read(out).copy(), result


ADD_FIELDS = (
    "a_offset",
    "a_multiplier",
    "a_shift",
    "b_offset",
    "b_multiplier",
    "b_shift",
    "left_shift",
    "output_offset",
    "output_multiplier",
    "output_shift",
    "act_min",
    "act_max",
)


def add(
    h: Harness, variant: str, a: np.ndarray, b: np.ndarray, **params: int
) -> tuple[np.ndarray, CallResult]:
    """Elementwise add; `params` are golden.add's keyword arguments (left_shift included)."""
    values = {"left_shift": 20, "act_min": -128, "act_max": 127, **params}
    p = h.struct(a.size, *(values[f] for f in ADD_FIELDS))
    a_buf = h.put(np.asarray(a, np.int8))
    b_buf = h.put(np.asarray(b, np.int8))
    out = h.alloc(a.shape, np.int8)
    result = _check(h.call(symbol("add", variant), p, a_buf, b_buf, out))
    return h.read(out).copy(), result


def _step_params(step) -> bytes:
    """A lowered operator's parameter struct as bytes: int32 fields, floating-point ones as
    the model's C code declares them (cmsim.model.lower.FLOAT_FIELDS)."""
    from cmsim.model.lower import FLOAT_FIELDS

    kinds = {"float": "f", "double": "d"}
    floats = FLOAT_FIELDS.get(step.kernel, {})
    layout = "".join(kinds[floats[key]] if key in floats else "i" for key in step.params)
    return struct.pack("<" + layout, *step.params.values())


def call_step(
    h: Harness, step, variant: str, inputs: list[np.ndarray], out_dtype: str = "int8"
) -> tuple[np.ndarray, CallResult]:
    """Run one lowered model operator (cmsim.model.lower.Step) on `inputs` (one array per
    non-constant input tensor, in order); its constants go to flash. Returns the output (flat)
    and the call result."""
    params = h.put(np.frombuffer(_step_params(step), np.uint8))
    args: list = [params]
    if step.constants:
        c = {k: h.put(v, "flash") for k, v in step.constants.items()}
        args.append(h.struct(c["multiplier"].address, c["shift"].address))
        args += [h.put(np.asarray(inputs[0])), c["weights"], c["bias"]]
    elif step.kernel == "concat_s8":  # a table of input pointers
        buffers = [h.put(np.asarray(x)) for x in inputs]
        args.append(h.put(np.asarray([b.address for b in buffers], np.uint32)))
    else:
        args += [h.put(np.asarray(x)) for x in inputs]
    out = h.alloc(_output_elements(step), np.dtype(out_dtype))
    args.append(out)
    if step.kernel in SCRATCH_KERNELS:
        need = h.call(scratch_symbol(step.kernel, variant), params).value
        args.append(h.alloc(max(need, 4), np.uint8))
    name = symbol(step.kernel, variant) if step.variants else f"nn_{step.kernel}"
    result = _check(h.call(name, *args))
    return h.read(out).reshape(-1).copy(), result


SCRATCH_KERNELS = (
    "conv2d",
    "conv2d_1x1",
    "conv2d_rgb",
    "depthwise_conv2d",
    "fully_connected",
    "max_pool",
    "avg_pool",
)


def _output_elements(step) -> int:
    p = step.params
    if "out_c" in p:
        return p["out_h"] * p["out_w"] * p["out_c"]
    if "channels" in p:
        return p["out_h"] * p["out_w"] * p["channels"]
    if "out_features" in p:
        return p["batches"] * p["out_features"]
    if "rows" in p:
        return p["rows"] * p["row_size"]
    if "op" in p:  # broadcast add / mul
        return int(np.prod([p[f"out_dims[{i}]"] for i in range(4)]))
    if "count" in p:  # concatenation
        return p["outer"] * p["inner"] * sum(p[f"axis[{i}]"] for i in range(p["count"]))
    if "outer" in p:
        return p["outer"] * p["inner"]
    if "out_dims[0]" in p:
        return int(np.prod([p[f"out_dims[{i}]"] for i in range(4)]))
    return p["size"]
