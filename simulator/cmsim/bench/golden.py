"""Numpy golden models of the int8 kernels: exact integer arithmetic (int64), TFLite semantics.

Every function here is the oracle the firmware kernels are compared against bit for bit.
Layouts: activations NHWC with batch 1 (arrays shaped (H, W, C)), conv weights OHWI
(O, KH, KW, I), depthwise weights (KH, KW, C * depth_multiplier), fully connected weights
(out_features, in_features).

Requantization follows TFLite's MultiplyByQuantizedMultiplier: an optional left shift (positive
`shift`, wrapping like the 32-bit shift the hardware does), a saturating rounding doubling high
multiply by the Q31 `multiplier`, then a rounding right shift (negative `shift`) that rounds
half away from zero.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def wrap32(x: np.ndarray | int) -> np.ndarray:
    """Two's complement wrap of int64 values to the int32 range (as a 32-bit register does)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """High 32 bits of 2*a*b rounded half away from zero; saturates the one overflow case."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b  # |ab| <= 2^62: fits int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    x = ab + nudge
    # C's int64 division by 2^31 truncates toward zero.
    quotient = np.where(x >= 0, x >> 31, -((-x) >> 31))
    return np.where(overflow, INT32_MAX, quotient)


def rounding_divide_by_pot(x: np.ndarray | int, exponent: np.ndarray | int) -> np.ndarray:
    """x / 2^exponent rounded half away from zero (exponent 0..31)."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def requantize(
    acc: np.ndarray | int, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier on int32 accumulators (broadcasts per channel)."""
    acc = np.asarray(acc, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap32(acc << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def requantize_once(
    acc: np.ndarray | int, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLite's FULLY_CONNECTED requantization: one rounding, half up, of
    acc * multiplier / 2^(31 - shift) (measured against LiteRT's reference kernel: it differs
    from `requantize`'s two roundings on about 0.4% of outputs)."""
    acc = np.asarray(acc, dtype=object)
    total = 31 - np.asarray(shift, dtype=object)
    x = (acc * np.asarray(multiplier, dtype=object) + (1 << (total - 1))) >> total
    return wrap32(np.asarray(x, dtype=np.int64))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A real scale as (Q31 multiplier, shift) with real = multiplier * 2^(shift - 31)."""
    if real == 0.0:
        return 0, 0
    mantissa, exponent = math.frexp(real)  # real = mantissa * 2^exponent, 0.5 <= mantissa < 1
    scaled = mantissa * (1 << 31)  # exact in double
    q = int(math.copysign(math.floor(abs(scaled) + 0.5), scaled))  # half away from zero
    if q == 1 << 31:
        q //= 2
        exponent += 1
    if exponent < -31:  # below what a 32-bit shift can express: TFLite flushes it to zero
        return 0, 0
    return int(q), int(exponent)


def _clamp_int8(values: np.ndarray, act_min: int, act_max: int) -> np.ndarray:
    return np.clip(values, act_min, act_max).astype(np.int8)


def _padded(
    x: np.ndarray,
    pad_h: int,
    pad_w: int,
    out_h: int,
    out_w: int,
    k_h: int,
    k_w: int,
    stride_h: int,
    stride_w: int,
    fill: int,
) -> np.ndarray:
    """x (H, W, C) padded with `fill` so every window of the output grid lies inside."""
    h, w, c = x.shape
    need_h = (out_h - 1) * stride_h + k_h
    need_w = (out_w - 1) * stride_w + k_w
    bottom = max(need_h - pad_h - h, 0)
    right = max(need_w - pad_w - w, 0)
    padded = np.full((pad_h + h + bottom, pad_w + w + right, c), fill, dtype=np.int64)
    padded[pad_h : pad_h + h, pad_w : pad_w + w] = x
    return padded


def output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of a window sweep with `pad` on both sides (floor, as TFLite)."""
    return (size + 2 * pad - kernel) // stride + 1


def _padded_input(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    out_size: tuple[int, int] | None,
    input_offset: int,
) -> tuple[np.ndarray, tuple[int, int]]:
    """(x + input_offset, zero-padded for every window; the output size, symmetric by default)."""
    h, w, _ = x.shape
    if out_size is None:
        out_size = (
            output_size(h, kernel[0], stride[0], pad[0]),
            output_size(w, kernel[1], stride[1], pad[1]),
        )
    xs = _padded(
        np.asarray(x, np.int64) + input_offset,
        pad[0],
        pad[1],
        *out_size,
        *kernel,
        stride[0],
        stride[1],
        fill=0,
    )
    return xs, out_size


def _tap_patches(
    xs: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], out_size: tuple[int, int]
):
    """For each kernel tap (ky, kx): the input values it meets at every output position."""
    out_h, out_w = out_size
    for ky in range(kernel[0]):
        for kx in range(kernel[1]):
            yield (
                ky,
                kx,
                xs[
                    ky : ky + (out_h - 1) * stride[0] + 1 : stride[0],
                    kx : kx + (out_w - 1) * stride[1] + 1 : stride[1],
                ],
            )


def _requantized(
    acc: np.ndarray, multiplier, shift, output_offset: int, act_min: int, act_max: int
) -> np.ndarray:
    """int32 accumulators -> int8 outputs: requantize, add the output offset, clamp."""
    return _clamp_int8(requantize(acc, multiplier, shift) + output_offset, act_min, act_max)


def conv2d(
    x: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    multiplier: np.ndarray,
    shift: np.ndarray,
    *,
    stride: tuple[int, int] = (1, 1),
    pad: tuple[int, int] = (0, 0),
    out_size: tuple[int, int] | None = None,
    input_offset: int,
    output_offset: int,
    act_min: int = -128,
    act_max: int = 127,
) -> np.ndarray:
    """int8 conv2d: x (H, W, I), weights (O, KH, KW, I) -> (OH, OW, O).

    `pad` is (top, left); padded input positions hold the input zero point, so they add 0 once
    `input_offset` (= -zero point) is applied. `out_size` defaults to symmetric padding.
    """
    o, k_h, k_w, _ = weights.shape
    xs, (out_h, out_w) = _padded_input(x, (k_h, k_w), stride, pad, out_size, input_offset)
    wt = np.asarray(weights, np.int64)
    acc = np.zeros((out_h, out_w, o), dtype=np.int64)
    for ky, kx, patch in _tap_patches(xs, (k_h, k_w), stride, (out_h, out_w)):
        acc += patch @ wt[:, ky, kx, :].T
    return _requantized(
        wrap32(acc + np.asarray(bias, np.int64)), multiplier, shift, output_offset, act_min, act_max
    )


def depthwise_conv2d(
    x: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    multiplier: np.ndarray,
    shift: np.ndarray,
    *,
    stride: tuple[int, int] = (1, 1),
    pad: tuple[int, int] = (0, 0),
    out_size: tuple[int, int] | None = None,
    depth_multiplier: int = 1,
    input_offset: int,
    output_offset: int,
    act_min: int = -128,
    act_max: int = 127,
) -> np.ndarray:
    """int8 depthwise conv: x (H, W, C), weights (KH, KW, C*M) -> (OH, OW, C*M).

    Output channel c*M + m reads input channel c.
    """
    k_h, k_w, out_c = weights.shape
    assert out_c == x.shape[2] * depth_multiplier
    xs, (out_h, out_w) = _padded_input(x, (k_h, k_w), stride, pad, out_size, input_offset)
    xs = np.repeat(xs, depth_multiplier, axis=2)
    wt = np.asarray(weights, np.int64)
    acc = np.zeros((out_h, out_w, out_c), dtype=np.int64)
    for ky, kx, patch in _tap_patches(xs, (k_h, k_w), stride, (out_h, out_w)):
        acc += patch * wt[ky, kx]
    return _requantized(
        wrap32(acc + np.asarray(bias, np.int64)), multiplier, shift, output_offset, act_min, act_max
    )


def fully_connected(
    x: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    *,
    input_offset: int,
    output_offset: int,
    act_min: int = -128,
    act_max: int = 127,
) -> np.ndarray:
    """int8 fully connected: x (B, N) or (N,), weights (M, N) -> (B, M) or (M,).

    Requantization rounds once (`requantize_once`), as TFLite's FULLY_CONNECTED does.

    `multiplier`/`shift` are per output feature (arrays of M) or one value for all.
    """
    xs = np.asarray(x, np.int64) + input_offset
    acc = wrap32(xs @ np.asarray(weights, np.int64).T + np.asarray(bias, np.int64))
    out = requantize_once(acc, multiplier, shift) + output_offset
    return _clamp_int8(out, act_min, act_max)


def _pool_windows(
    x: np.ndarray,
    k: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    out_size: tuple[int, int] | None,
):
    h, w, _ = x.shape
    if out_size is None:
        out_size = (
            output_size(h, k[0], stride[0], pad[0]),
            output_size(w, k[1], stride[1], pad[1]),
        )
    out_h, out_w = out_size
    for oy in range(out_h):
        for ox in range(out_w):
            y0, x0 = oy * stride[0] - pad[0], ox * stride[1] - pad[1]
            ys = slice(max(y0, 0), min(y0 + k[0], h))
            xs = slice(max(x0, 0), min(x0 + k[1], w))
            yield oy, ox, x[ys, xs].reshape(-1, x.shape[2])


def max_pool(
    x: np.ndarray,
    k: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int] = (0, 0),
    out_size: tuple[int, int] | None = None,
    act_min: int = -128,
    act_max: int = 127,
) -> np.ndarray:
    """Max over the window's valid (unpadded) positions, then the activation clamp."""
    rows = {}
    for oy, ox, window in _pool_windows(x, k, stride, pad, out_size):
        rows[oy, ox] = window.astype(np.int64).max(axis=0)
    return _grid(rows, x.shape[2], act_min, act_max)


def avg_pool(
    x: np.ndarray,
    k: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int] = (0, 0),
    out_size: tuple[int, int] | None = None,
    act_min: int = -128,
    act_max: int = 127,
) -> np.ndarray:
    """Mean over the valid positions, rounded half away from zero (TFLite), then clamped."""
    rows = {}
    for oy, ox, window in _pool_windows(x, k, stride, pad, out_size):
        total = window.astype(np.int64).sum(axis=0)
        count = window.shape[0]
        half = count // 2
        rows[oy, ox] = np.where(
            total > 0, _div_trunc(total + half, count), _div_trunc(total - half, count)
        )
    return _grid(rows, x.shape[2], act_min, act_max)


def _div_trunc(a: np.ndarray, b: int) -> np.ndarray:
    """C integer division (truncates toward zero)."""
    return np.sign(a) * (np.abs(a) // b)


def _grid(rows: dict, channels: int, act_min: int, act_max: int) -> np.ndarray:
    out_h = max(oy for oy, _ in rows) + 1
    out_w = max(ox for _, ox in rows) + 1
    out = np.zeros((out_h, out_w, channels), dtype=np.int64)
    for (oy, ox), values in rows.items():
        out[oy, ox] = values
    return _clamp_int8(out, act_min, act_max)


def relu(x: np.ndarray, zero_point: int) -> np.ndarray:
    """Quantized ReLU: max(x, zero point)."""
    return np.maximum(np.asarray(x, np.int64), zero_point).astype(np.int8)


def relu6(x: np.ndarray, zero_point: int, six: int) -> np.ndarray:
    """Quantized ReLU6: clamp to [zero point, quantized 6.0]."""
    return np.clip(np.asarray(x, np.int64), zero_point, six).astype(np.int8)


SOFTMAX_ACCUM_BITS = 12  # integer bits of the sum of exponentials (Q12.19)
# exp(-2^k) in Q0.31 for k = -2..4: the factors for the integer part of exp()'s argument.
_EXP_FACTORS = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)


def _saturating_shift_left(x: np.ndarray, exponent: int) -> np.ndarray:
    """x * 2^exponent, saturated to int32."""
    return np.clip(np.asarray(x, np.int64) << exponent, INT32_MIN, INT32_MAX)


def exp_on_negative_values(a: np.ndarray, integer_bits: int = 5) -> np.ndarray:
    """exp(a) for a <= 0 with `integer_bits` integer bits (softmax: Q5.26, logistic: Q4.27),
    as Q0.31 (TFLite's fixed-point exp).

    The argument splits into a fraction in [-1/4, 0), evaluated with a 4th-order Taylor
    polynomial around -1/8, and an integer part of quarters, multiplied in from a table.
    """
    a = np.asarray(a, np.int64)
    quarter = 1 << (29 - integer_bits)  # 1/4
    fraction = (a & (quarter - 1)) - quarter  # in [-1/4, 0)
    x = (fraction << integer_bits) + (1 << 28)  # Q0.31, shifted by +1/8
    mul = saturating_rounding_doubling_high_mul
    x2 = mul(x, x)
    x3 = mul(x2, x)
    x4 = mul(x2, x2)
    poly = rounding_divide_by_pot(mul(rounding_divide_by_pot(x4, 2) + x3, 715827883) + x2, 1)
    exp_minus_eighth = 1895147668
    result = wrap32(exp_minus_eighth + mul(exp_minus_eighth, wrap32(x + poly)))
    remainder = fraction - a
    for k, factor in enumerate(_EXP_FACTORS[: integer_bits + 2]):
        result = np.where(remainder & (1 << (29 - integer_bits + k)), mul(result, factor), result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in Q0.31 within [0, 1), as Q0.31 (three Newton-Raphson steps)."""
    return _saturating_shift_left(_two_over_one_plus_x(a), 1)


def one_minus_x_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """(1 - a) / (1 + a) for a in Q0.31 within [0, 1), as Q0.31."""
    return _saturating_shift_left(wrap32(_two_over_one_plus_x(a) - (1 << 29)), 2)


def _two_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """2 / (1 + a) in Q2.29 by Newton-Raphson on the half denominator."""
    total = np.asarray(a, np.int64) + INT32_MAX
    half_denominator = _div_trunc(total + np.where(total >= 0, 1, -1), 2)  # Q0.31
    mul = saturating_rounding_doubling_high_mul
    x = wrap32(1515870810 + mul(half_denominator, -1010580540))  # 48/17 - 32/17 d, Q2.29
    for _ in range(3):
        error = wrap32((1 << 29) - mul(half_denominator, x))
        x = wrap32(x + _saturating_shift_left(mul(x, error), 2))
    return x


def softmax(
    x: np.ndarray, input_multiplier: int, input_left_shift: int, diff_min: int
) -> np.ndarray:
    """TFLite's int8 softmax along the last axis (output scale 1/256, zero point -128).

    The parameters come from the input scale and beta (cmsim.model.quant.softmax_parameters).
    """
    xs = np.asarray(x, np.int64)
    diff = xs - xs.max(axis=-1, keepdims=True)
    live = diff >= diff_min
    scaled = saturating_rounding_doubling_high_mul(
        np.where(live, diff, 0) << input_left_shift, input_multiplier
    )
    exps = np.where(live, exp_on_negative_values(scaled), 0)
    total = wrap32(rounding_divide_by_pot(exps, SOFTMAX_ACCUM_BITS).sum(axis=-1, keepdims=True))
    headroom = 32 - np.vectorize(lambda v: int(v).bit_length())(total & 0xFFFFFFFF)  # clz
    shifted = wrap32(((total << headroom) & 0xFFFFFFFF) - (1 << 31))
    scale = one_over_one_plus_x(shifted)
    bits = SOFTMAX_ACCUM_BITS - headroom + 31 - 8
    out = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scale, exps), bits) - 128
    return np.where(live, np.clip(out, -128, 127), -128).astype(np.int8)


ADD_LEFT_SHIFT = 20  # TFLite's headroom shift for int8 add


def add(
    a: np.ndarray,
    b: np.ndarray,
    *,
    a_offset: int,
    a_multiplier: int,
    a_shift: int,
    b_offset: int,
    b_multiplier: int,
    b_shift: int,
    output_offset: int,
    output_multiplier: int,
    output_shift: int,
    left_shift: int = ADD_LEFT_SHIFT,
    act_min: int = -128,
    act_max: int = 127,
) -> np.ndarray:
    """Elementwise int8 add with requantization (TFLite int8 Add, same-shape inputs)."""
    xa = wrap32((np.asarray(a, np.int64) + a_offset) << left_shift)
    xb = wrap32((np.asarray(b, np.int64) + b_offset) << left_shift)
    sa = requantize(xa, a_multiplier, a_shift)
    sb = requantize(xb, b_multiplier, b_shift)
    out = requantize(wrap32(sa + sb), output_multiplier, output_shift) + output_offset
    return _clamp_int8(out, act_min, act_max)


def mean(
    x: np.ndarray, input_offset: int, multiplier: int, shift: int, output_offset: int
) -> np.ndarray:
    """int8 MEAN of x [outer, reduced, inner] over its middle axis -> [outer, inner]; the
    multiplier holds the division by `reduced` (cmsim.model.quant.mean_multiplier)."""
    total = wrap32(np.asarray(x, np.int64).sum(axis=1) + input_offset * x.shape[1])
    return _clamp_int8(requantize(total, multiplier, shift) + output_offset, -128, 127)


def pad(x: np.ndarray, before: list[int], after: list[int], value: int) -> np.ndarray:
    """int8 PAD: `value` (the output zero point) around x."""
    return np.pad(x, list(zip(before, after, strict=True)), constant_values=value).astype(np.int8)


def concatenate(inputs: list[np.ndarray], outer: int, inner: int) -> np.ndarray:
    """int8 CONCATENATION: each input seen as [outer, -1, inner], joined on the middle axis."""
    parts = [np.asarray(x, np.int8).reshape(outer, -1, inner) for x in inputs]
    return np.concatenate(parts, axis=1)


def activation(
    x: np.ndarray,
    input_offset: int,
    multiplier: int,
    shift: int,
    output_offset: int,
    act_min: int,
    act_max: int,
) -> np.ndarray:
    """A stand-alone int8 RELU / RELU6 / RELU_N1_TO_1: requantize, offset, clamp."""
    values = requantize(np.asarray(x, np.int32) + input_offset, multiplier, shift)
    return _clamp_int8(values + output_offset, act_min, act_max)


def logistic(x: np.ndarray, input_offset: int, multiplier: int, left_shift: int, radius: int):
    """TFLite's int8 LOGISTIC (output scale 1/256, zero point -128) in fixed point."""
    v = np.asarray(x, np.int64) + input_offset
    a = requantize(v, multiplier, left_shift)  # Q4.27
    positive = one_over_one_plus_x(exp_on_negative_values(-np.abs(a), 4))
    y = np.where(a > 0, positive, INT32_MAX - positive)
    y = np.where(a == 0, 1 << 30, y)
    out = np.clip(rounding_divide_by_pot(y, 23) - 128, -128, 127)
    out = np.where(v <= -radius, -128, np.where(v >= radius, 127, out))
    return out.astype(np.int8)


def mul(
    a: np.ndarray,
    b: np.ndarray,
    *,
    a_offset: int,
    b_offset: int,
    output_offset: int,
    output_multiplier: int,
    output_shift: int,
    act_min: int = -128,
    act_max: int = 127,
) -> np.ndarray:
    """Elementwise int8 MUL (TFLite): the product of the offset inputs, requantized."""
    product = (np.asarray(a, np.int64) + a_offset) * (np.asarray(b, np.int64) + b_offset)
    out = requantize(product, output_multiplier, output_shift) + output_offset
    return _clamp_int8(out, act_min, act_max)


def _sat16(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -(1 << 15), (1 << 15) - 1)


def _rounding_doubling_high_mul16(a: np.ndarray, b: int) -> np.ndarray:
    ab = np.asarray(a, np.int64) * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    out = _div_trunc(ab + nudge, 1 << 15)
    return np.where((a == -(1 << 15)) & (b == -(1 << 15)), (1 << 15) - 1, out)


def _rounding_divide_by_pot16(x: np.ndarray, exponent: int) -> np.ndarray:
    x = np.asarray(x, np.int64)
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def hard_swish(
    x: np.ndarray,
    input_zero_point: int,
    output_zero_point: int,
    reluish_multiplier: int,
    reluish_exponent: int,
    output_multiplier: int,
    output_exponent: int,
) -> np.ndarray:
    """TFLite's int8 HARD_SWISH (x * relu6(x + 3) / 6) in int16 fixed point."""
    hires = (np.asarray(x, np.int64) - input_zero_point) * (1 << 7)
    preshift = _rounding_doubling_high_mul16(hires, output_multiplier)
    reluish = hires
    if reluish_exponent > 0:
        reluish = _sat16(reluish * (1 << (reluish_exponent - 1)))
    reluish = _rounding_doubling_high_mul16(reluish, reluish_multiplier)
    if reluish_exponent > 0:
        reluish = _sat16(reluish * 2)
    if reluish_exponent < 0:
        reluish = _rounding_divide_by_pot16(reluish, -reluish_exponent)
    reluish = (reluish + (1 << 15)) >> 1
    value = _div_trunc(reluish * preshift, 1 << 15)  # truncating: cancels the rounding bias
    value = _rounding_divide_by_pot16(value, -output_exponent)
    return np.clip(value + output_zero_point, -128, 127).astype(np.int8)


def leaky_relu(
    x: np.ndarray,
    input_zero_point: int,
    output_zero_point: int,
    identity_multiplier: int,
    identity_shift: int,
    alpha_multiplier: int,
    alpha_shift: int,
) -> np.ndarray:
    """TFLite's int8 LEAKY_RELU: one requantization at and above zero, one scaled by alpha."""
    v = np.asarray(x, np.int64) - input_zero_point
    up = requantize(v, identity_multiplier, identity_shift)
    down = requantize(v, alpha_multiplier, alpha_shift)
    return _clamp_int8(np.where(v >= 0, up, down) + output_zero_point, -128, 127)


def tanh(x: np.ndarray, input_offset: int, multiplier: int, left_shift: int, radius: int):
    """TFLite's int8 TANH (output scale 1/128, zero point 0) in fixed point."""
    v = np.asarray(x, np.int64) + input_offset
    a = requantize(v, multiplier, left_shift)  # Q4.27; -|a| read as Q5.26 is -2|a|
    t = one_minus_x_over_one_plus_x(exp_on_negative_values(-np.abs(a)))
    y = np.where(a == 0, 0, np.where(a > 0, t, -t))
    out = np.clip(rounding_divide_by_pot(y, 24), -128, 127)
    out = np.where(v <= -radius, -128, np.where(v >= radius, 127, out))
    return out.astype(np.int8)
