"""The numpy golden models against hand-computed cases (they are the oracle for the firmware)."""

from __future__ import annotations

import numpy as np
import pytest

from cmsim.bench import golden
from cmsim.model.quant import softmax_parameters

MIN, MAX = golden.INT32_MIN, golden.INT32_MAX


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (MIN, MIN, MAX),  # the one overflow saturates
        (1 << 30, 1 << 30, 1 << 29),  # 2 * 2^60 / 2^32
        (1, 1 << 30, 1),  # +0.5 rounds up
        (-1, 1 << 30, 0),  # -0.5: the nudge then truncation toward zero gives 0
        (-3, 1 << 30, -1),  # -1.5 -> -1
        (3, 1 << 30, 2),  # 1.5 -> 2
        (MAX, MAX, MAX - 1),
        (MIN, MAX, -MAX),
        (0, MIN, 0),
    ],
)
def test_saturating_rounding_doubling_high_mul(a: int, b: int, expected: int) -> None:
    assert int(golden.saturating_rounding_doubling_high_mul(a, b)) == expected


@pytest.mark.parametrize(
    "x, exponent, expected",
    [
        (5, 1, 3),  # 2.5 -> 3
        (-5, 1, -3),  # -2.5 -> -3 (half away from zero)
        (4, 1, 2),
        (-4, 1, -2),
        (7, 2, 2),  # 1.75
        (6, 2, 2),  # 1.5 -> 2
        (-6, 2, -2),  # -1.5 -> -2
        (-7, 2, -2),
        (-5, 2, -1),  # -1.25
        (123, 0, 123),
        (MAX, 31, 1),
        (MIN, 31, -1),
        (-(1 << 30), 31, -1),  # -0.5 -> -1
        ((1 << 30) - 1, 31, 0),
    ],
)
def test_rounding_divide_by_pot(x: int, exponent: int, expected: int) -> None:
    assert int(golden.rounding_divide_by_pot(x, exponent)) == expected


@pytest.mark.parametrize(
    "acc, multiplier, shift, expected",
    [
        (100, 1 << 30, 0, 50),  # x0.5
        (3, 1 << 30, 1, 3),  # left shift then x0.5
        (100, 1 << 30, -2, 13),  # 50 / 4 = 12.5 -> 13
        (-100, 1 << 30, -2, -13),
        (-99, 1 << 30, -1, -25),  # -49.5 -> -49 (SRDHM) then -24.5 -> -25
        (1 << 30, 1 << 30, 2, 0),  # 2^32 wraps to 0 in the 32-bit left shift
        (1 << 29, 1 << 30, 2, MIN // 2),  # 2^31 wraps to INT32_MIN
        (MIN, MIN, 0, MAX),  # saturation
        (1000, MAX, -31, 0),
        (1 << 30, MAX, -29, 2),  # ~2^30 / 2^29
    ],
)
def test_requantize(acc: int, multiplier: int, shift: int, expected: int) -> None:
    assert int(golden.requantize(acc, multiplier, shift)) == expected


def test_requantize_broadcasts_per_channel() -> None:
    acc = np.array([[100, 100], [-100, 7]])
    got = golden.requantize(acc, np.array([1 << 30, 1 << 30]), np.array([0, -1]))
    assert got.tolist() == [[50, 25], [-50, 2]]


@pytest.mark.parametrize(
    "real, expected",
    [
        (0.5, (1 << 30, 0)),
        (0.75, (1610612736, 0)),
        (0.25, (1 << 30, -1)),
        (3.0, (3 << 29, 2)),
        (0.0, (0, 0)),
    ],
)
def test_quantize_multiplier(real: float, expected: tuple[int, int]) -> None:
    assert golden.quantize_multiplier(real) == expected


def test_conv2d_hand_computed() -> None:
    # 2x2x1 input, zero point 1 (offset -1), one 2x2 filter, pad 1 on top/left, stride 2.
    x = np.array([[[3], [1]], [[2], [5]]], dtype=np.int8)
    w = np.array([[[[1], [2]], [[3], [4]]]], dtype=np.int8)  # (O=1, 2, 2, I=1)
    got = golden.conv2d(
        x,
        w,
        np.array([10]),
        np.array([1 << 30]),
        np.array([1]),
        stride=(2, 2),
        pad=(1, 1),
        out_size=(2, 2),
        input_offset=-1,
        output_offset=5,
    )
    # Window (0,0) sees only x[0,0] under w[1,1]: (3-1)*4 = 8, +10 = 18, x2 x0.5 = 18, +5.
    # Window (0,1): x[0,1] under w[1,0]: (1-1)*3 = 0 -> 10 + 5.
    # Window (1,0): x[1,0] under w[0,1]: (2-1)*2 = 2 -> 12 + 5.
    # Window (1,1): x[1,1] under w[0,0]: (5-1)*1 = 4 -> 14 + 5.
    assert got[:, :, 0].tolist() == [[23, 15], [17, 19]]


def test_conv2d_clamps_to_activation_range() -> None:
    x = np.full((1, 1, 2), 100, dtype=np.int8)
    w = np.full((2, 1, 1, 2), 100, dtype=np.int8)
    got = golden.conv2d(
        x,
        w,
        np.array([0, -40000]),
        np.array([1 << 30] * 2),
        np.array([-7] * 2),
        input_offset=0,
        output_offset=0,
        act_min=-10,
        act_max=20,
    )
    # 20000 * 0.5 / 128 = 78.1 -> 20 ; (20000 - 40000) * 0.5 / 128 = -78.1 -> -10
    assert got.ravel().tolist() == [20, -10]


def test_depthwise_hand_computed() -> None:
    x = np.array([[[1, 2], [3, 4]]], dtype=np.int8)  # 1x2x2
    w = np.array([[[1, -1, 2, -2], [1, 1, 1, 1]]], dtype=np.int8)  # 1x2 filter, multiplier 2
    got = golden.depthwise_conv2d(
        x,
        w,
        np.zeros(4),
        np.full(4, 1 << 30),
        np.ones(4),
        depth_multiplier=2,
        input_offset=0,
        output_offset=0,
    )
    # channel 0 (x 1, 3) -> outputs 0, 1 use weights (1, 1) and (-1, 1): 4, 2
    # channel 1 (x 2, 4) -> outputs 2, 3 use weights (2, 1) and (-2, 1): 8, 0
    assert got.ravel().tolist() == [4, 2, 8, 0]


def test_fully_connected_hand_computed() -> None:
    x = np.array([1, 2, 3], dtype=np.int8)
    w = np.array([[1, 0, -1], [2, 2, 2]], dtype=np.int8)
    got = golden.fully_connected(
        x, w, np.array([0, 1]), 1 << 30, 1, input_offset=1, output_offset=-1
    )
    # (2, 3, 4) . (1, 0, -1) = -2 ; (2, 3, 4) . (2, 2, 2) + 1 = 19
    assert got.tolist() == [-3, 18]


def test_pools_round_and_skip_padding() -> None:
    x = np.array([[[1], [2]], [[-1], [-2]]], dtype=np.int8)
    avg = golden.avg_pool(x, (1, 2), (1, 1), out_size=(2, 1))
    assert avg.ravel().tolist() == [2, -2]  # 1.5 -> 2, -1.5 -> -2
    mixed = golden.avg_pool(np.array([[[-1], [2]]], dtype=np.int8), (1, 2), (1, 1))
    assert mixed.ravel().tolist() == [1]  # 0.5 -> 1
    # 2x2 window, pad 1: the corner window averages only the one valid value.
    corner = golden.avg_pool(x, (2, 2), (2, 2), pad=(1, 1), out_size=(1, 1))
    assert corner.ravel().tolist() == [1]
    assert golden.max_pool(x, (2, 2), (1, 1)).ravel().tolist() == [2]
    assert golden.max_pool(x, (2, 2), (1, 1), act_max=0).ravel().tolist() == [0]


def test_relu_and_relu6() -> None:
    x = np.array([-128, -5, 0, 3, 60, 127], dtype=np.int8)
    assert golden.relu(x, -5).tolist() == [-5, -5, 0, 3, 60, 127]
    assert golden.relu6(x, -5, 50).tolist() == [-5, -5, 0, 3, 50, 50]


def test_softmax_hand_computed() -> None:
    params = softmax_parameters(0.1, 1.0)
    equal = golden.softmax(np.array([4, 4], dtype=np.int8), *params)
    assert equal.tolist() == [0, 0]  # 0.5 each: 0.5 * 256 - 128
    assert golden.softmax(np.array([9], dtype=np.int8), *params).tolist() == [127]  # 1.0 saturates
    # e^0 / (e^0 + e^-1) = 0.731 -> 187.1 - 128 = 59; e^-1 / (...) = 0.269 -> 68.9 - 128 = -59.
    assert golden.softmax(np.array([10, 0], dtype=np.int8), *params).tolist() == [59, -59]


def test_softmax_close_to_float() -> None:
    rng = np.random.default_rng(3)
    for scale in (0.01, 0.1, 0.5):
        x = rng.integers(-128, 128, (20, 30)).astype(np.int8)
        xs = x.astype(np.float64)
        real = np.exp(scale * (xs - xs.max(axis=1, keepdims=True)))
        want = np.clip(np.rint(real / real.sum(axis=1, keepdims=True) * 256) - 128, -128, 127)
        got = golden.softmax(x, *softmax_parameters(scale, 1.0)).astype(np.int64)
        assert np.abs(got - want).max() <= 1


def test_fixed_point_exp_and_reciprocal() -> None:
    a = np.array([0, -(1 << 24), -(1 << 26), -(5 << 26), -(31 << 26)])  # 0, -1/4, -1, -5, -31
    got = golden.exp_on_negative_values(a) / 2**31
    np.testing.assert_allclose(got, np.exp(a / 2**26), atol=3e-7)  # about 2^-22
    x = np.array([0, 1 << 29, 1 << 30, (1 << 31) - 1])  # 0, 1/4, 1/2, ~1
    np.testing.assert_allclose(
        golden.one_over_one_plus_x(x) / 2**31, 1 / (1 + x / 2**31), atol=3e-7
    )


def test_add_hand_computed() -> None:
    # Both inputs scaled by 0.5 (after the 2^20 headroom shift), output scaled back by 2^-20.
    half, _ = golden.quantize_multiplier(0.5)
    one = (1 << 31) - 1
    got = golden.add(
        np.array([10, -128]),
        np.array([4, 127]),
        a_offset=0,
        a_multiplier=half,
        a_shift=0,
        b_offset=0,
        b_multiplier=half,
        b_shift=0,
        output_offset=1,
        output_multiplier=one,
        output_shift=-20,
    )
    # (10 + 4) / 2 + 1 = 8 ; (-128 + 127) / 2 = -0.5: the sum is -2^19 before the output
    # scaling, and -2^19 / 2^20 rounds half away from zero to -1, + 1 = 0.
    assert got.tolist() == [8, 0]
