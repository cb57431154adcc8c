"""TFLite's prepare-time arithmetic for int8 operators, reproduced to the bit.

The int8 kernels take integer parameters (Q31 multipliers and shifts, offsets, clamps) that
TFLite derives from the tensors' float32 scales when it prepares a model. Matching TFLite's
reference kernels bit for bit needs the same derivation, including where it rounds through
float32 and where through double (each function says which).
"""

from __future__ import annotations

import math

import numpy as np

from cmsim.bench.golden import quantize_multiplier

INT8_MIN, INT8_MAX = -128, 127
SOFTMAX_DIFF_INTEGER_BITS = 5  # the exp input's integer bits in TFLite's quantized softmax
ADD_LEFT_SHIFT = 20  # headroom shift of TFLite's int8 Add


def _f32(x: float) -> np.float32:
    return np.float32(x)


def conv_multipliers(
    input_scale: float, filter_scales: tuple[float, ...], output_scale: float, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel (multiplier, shift) of CONV_2D / DEPTHWISE_CONV_2D (and per-channel
    FULLY_CONNECTED): input_scale * filter_scale[c] / output_scale, all in double."""
    pairs = [
        quantize_multiplier(
            float(input_scale)
            * float(filter_scales[c if len(filter_scales) > 1 else 0])
            / float(output_scale)
        )
        for c in range(channels)
    ]
    return (
        np.array([m for m, _ in pairs], dtype=np.int32),
        np.array([s for _, s in pairs], dtype=np.int32),
    )


def fc_multiplier(input_scale: float, filter_scale: float, output_scale: float) -> tuple[int, int]:
    """Per-tensor FULLY_CONNECTED: TFLite multiplies the two scales in float32 first, then
    divides by the output scale in double."""
    product = float(_f32(input_scale) * _f32(filter_scale))
    return quantize_multiplier(product / float(output_scale))


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """The int8 clamp of a fused activation: zero_point + round(f / scale) in float32,
    rounded half away from zero, within [-128, 127]."""

    def quantize(value: float) -> int:
        ratio = float(_f32(value) / _f32(scale))
        ratio = max(min(ratio, 1e9), -1e9)
        return zero_point + int(math.copysign(math.floor(abs(ratio) + 0.5), ratio))

    if activation == "NONE":
        return INT8_MIN, INT8_MAX
    if activation == "RELU":
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == "RELU6":
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise ValueError(f"unsupported fused activation {activation}")


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(output size, leading pad) of TFLite's SAME padding; the extra pad goes at the end."""
    out = (size + stride - 1) // stride
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return out, total // 2


def valid_output(size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Output size of TFLite's VALID padding."""
    effective = (kernel - 1) * dilation + 1
    return (size - effective + stride) // stride


def softmax_parameters(input_scale: float, beta: float) -> tuple[int, int, int]:
    """(input multiplier, input left shift, diff_min) of TFLite's int8 softmax.

    The scaled difference (x - max) * beta * input_scale becomes a Q5.26 fixed-point number;
    differences below diff_min give exp() = 0. The left shift is negative only for input
    scales below about 2^-26, which TFLite does not support either.
    """
    real = min(
        float(beta) * float(input_scale) * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS)),
        float((1 << 31) - 1),
    )
    multiplier, left_shift = quantize_multiplier(real)
    radius = (
        ((1 << SOFTMAX_DIFF_INTEGER_BITS) - 1)
        * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS))
        / (1 << left_shift)
    )
    return multiplier, left_shift, -math.floor(radius)


LOGISTIC_INPUT_INTEGER_BITS = 4


def logistic_parameters(input_scale: float) -> tuple[int, int, int]:
    """(input multiplier, input left shift, input radius) of TFLite's int8 LOGISTIC and TANH:
    the input is scaled to Q4.27; beyond the radius (15 in the input's units) it saturates."""
    bits = LOGISTIC_INPUT_INTEGER_BITS
    multiplier, left_shift = quantize_multiplier(float(input_scale) * (1 << (31 - bits)))
    radius = ((1 << bits) - 1) * (1 << (31 - bits)) / 2.0**left_shift
    return multiplier, left_shift, math.floor(radius)


def hard_swish_parameters(input_scale: float, output_scale: float) -> tuple[int, int, int, int]:
    """(reluish multiplier, reluish exponent, output multiplier, output exponent) of TFLite's
    int8 HARD_SWISH: Q15 multipliers from float32 ratios of the input at 2^-7 of its scale to
    the output scale and to 3 / 32768 (where 3.0 is represented as 32768)."""
    hires = _f32(1.0 / 128.0) * _f32(input_scale)
    output_multiplier, output_exponent = quantize_multiplier(float(hires / _f32(output_scale)))
    reluish = hires / (_f32(3.0) / _f32(32768.0))
    reluish_multiplier, reluish_exponent = quantize_multiplier(float(reluish))
    return (
        _q15(reluish_multiplier),
        reluish_exponent,
        _q15(output_multiplier),
        output_exponent,
    )


def _q15(multiplier: int) -> int:
    """A Q31 multiplier rounded to Q15 (TFLite's DownScaleInt32ToInt16Multiplier)."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (multiplier + (1 << 15)) >> 16


def leaky_relu_parameters(
    input_scale: float, output_scale: float, alpha: float
) -> tuple[tuple[int, int], tuple[int, int]]:
    """((identity multiplier, shift), (alpha multiplier, shift)) of TFLite's int8 LEAKY_RELU,
    whose ratios are computed in float32 (its operands are floats)."""
    identity = _f32(input_scale) / _f32(output_scale)
    scaled = _f32(input_scale) * _f32(alpha) / _f32(output_scale)
    return quantize_multiplier(float(identity)), quantize_multiplier(float(scaled))


def add_parameters(
    scale_a: float, scale_b: float, scale_out: float
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """((a multiplier, shift), (b ...), (output ...)) of TFLite's int8 ADD.

    Both inputs are shifted left by 20 bits, scaled to twice the larger input scale, summed,
    then scaled to the output.
    """
    twice_max = 2.0 * float(max(_f32(scale_a), _f32(scale_b)))
    out_real = twice_max / (float(1 << ADD_LEFT_SHIFT) * float(scale_out))
    return (
        quantize_multiplier(float(scale_a) / twice_max),
        quantize_multiplier(float(scale_b) / twice_max),
        quantize_multiplier(out_real),
    )


def mul_multiplier(scale_a: float, scale_b: float, scale_out: float) -> tuple[int, int]:
    """TFLite's int8 MUL: scale_a * scale_b / scale_out, in double."""
    return quantize_multiplier(float(scale_a) * float(scale_b) / float(scale_out))


def requantize_multiplier(input_scale: float, output_scale: float) -> tuple[int, int]:
    """int8 -> int8 QUANTIZE: input_scale / output_scale in double."""
    return quantize_multiplier(float(input_scale) / float(output_scale))



def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """int8 MEAN of `count` elements: input_scale / output_scale as a multiplier, with the
    division by `count` folded in the way TFLite's reference kernel does (LiteRT 2.x; it
    replaced the float32 and per-case paths of older TFLite): shift the multiplier left by
    k = floor(log2(count)), at most 32 and at most 31 + shift, divide it by `count` in 64-bit
    integers and take k off the shift. Checked against LiteRT on every MEAN path (keep_dims
    or not, equal or different quantization)."""
    multiplier, shift = requantize_multiplier(input_scale, output_scale)
    k = max(0, min(count.bit_length() - 1, 32, 31 + shift))
    return (multiplier << k) // count, shift - k
