"""Every kernel x every variant bit-exact against the numpy golden model.

Fixed shapes (including each CIFAR-10 layer of DESIGN.md) and hypothesis-randomized shapes and
quantization parameters (odd channel counts, borders, extreme zero points and shifts).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmsim.bench import golden
from cmsim.bench import kernels as K
from cmsim.model.quant import softmax_parameters

VARIANTS = K.VARIANTS
FAST = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _shift_for(k: int) -> int:
    """A right shift that maps accumulators of k int8 x int8 products onto the int8 range."""
    spread = math.sqrt(k) * 74 * 74 * 0.75  # std of a sum of k uniform int8 products x ~0.75
    return min(int(math.floor(math.log2(40 / spread))), 0)


def conv_quant(
    rng: np.random.Generator,
    out_c: int,
    k: int,
    input_offset: int | None = None,
    output_offset: int | None = None,
) -> K.ConvQuant:
    shift = _shift_for(k) + rng.integers(-1, 2, out_c)
    return K.ConvQuant(
        multiplier=rng.integers(1 << 30, (1 << 31) - 1, out_c).astype(np.int32),
        shift=shift.astype(np.int32),
        input_offset=int(rng.integers(-127, 129)) if input_offset is None else input_offset,
        output_offset=int(rng.integers(-20, 21)) if output_offset is None else output_offset,
    )


def random_int8(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(-128, 128, shape).astype(np.int8)


def run_conv(
    harness,
    variant: str,
    kernel: str,
    x,
    w,
    bias,
    q: K.ConvQuant,
    stride,
    pad,
    out_size,
    weights_region: str = "sram",
):
    harness.free()
    got, result, _ = K.conv2d(
        harness,
        variant,
        x,
        w,
        bias,
        q,
        stride=stride,
        pad=pad,
        out_size=out_size,
        kernel=kernel,
        weights_region=weights_region,
    )
    golden_fn = golden.depthwise_conv2d if kernel == "depthwise_conv2d" else golden.conv2d
    extra = {}
    if kernel == "depthwise_conv2d":
        extra["depth_multiplier"] = w.shape[2] // x.shape[2]
    want = golden_fn(
        x,
        w,
        bias,
        q.multiplier,
        q.shift,
        stride=stride,
        pad=pad,
        out_size=out_size,
        input_offset=q.input_offset,
        output_offset=q.output_offset,
        act_min=q.act_min,
        act_max=q.act_max,
        **extra,
    )
    np.testing.assert_array_equal(got, want)
    return result


def conv_case(
    harness,
    variant: str,
    kernel: str,
    seed: int,
    in_shape,
    out_c: int,
    k,
    stride,
    pad,
    weights_region: str = "sram",
):
    rng = np.random.default_rng(seed)
    h, w, c = in_shape
    out_size = (
        golden.output_size(h, k[0], stride[0], pad[0]),
        golden.output_size(w, k[1], stride[1], pad[1]),
    )
    x = random_int8(rng, in_shape)
    if kernel == "depthwise_conv2d":
        weights = random_int8(rng, (k[0], k[1], out_c))
        taps = k[0] * k[1]
    else:
        weights = random_int8(rng, (out_c, k[0], k[1], c))
        taps = k[0] * k[1] * c
    bias = rng.integers(-20000, 20000, out_c).astype(np.int32)
    q = conv_quant(rng, out_c, taps)
    return run_conv(
        harness, variant, kernel, x, weights, bias, q, stride, pad, out_size, weights_region
    )


# -- CIFAR-10 layers (DESIGN.md) ---------------------------------------------------------------
# The reference variant runs 20-40 M instructions per convolution layer: marked slow.
VARIANTS_BIG = [pytest.param("ref", marks=pytest.mark.slow), "opt", "asm"]


@pytest.mark.parametrize("variant", VARIANTS_BIG)
@pytest.mark.parametrize("kernel", ["conv2d", "conv2d_rgb"])
def test_cifar_conv1(harness, variant: str, kernel: str) -> None:
    conv_case(harness, variant, kernel, 1, (32, 32, 3), 32, (5, 5), (1, 1), (2, 2))


@pytest.mark.parametrize("variant", VARIANTS_BIG)
def test_cifar_conv2(harness, variant: str) -> None:
    result = conv_case(harness, variant, "conv2d", 2, (16, 16, 32), 32, (5, 5), (1, 1), (2, 2))
    assert result.cycles > 16 * 16 * 32 * 800 // 2  # at least one cycle per two MACs


@pytest.mark.parametrize("variant", VARIANTS_BIG)
def test_cifar_conv3_weights_in_flash(harness, variant: str) -> None:
    conv_case(
        harness,
        variant,
        "conv2d",
        3,
        (8, 8, 32),
        64,
        (5, 5),
        (1, 1),
        (2, 2),
        weights_region="flash",
    )


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    "kind, in_shape, out_size",
    [("max", (32, 32, 32), (16, 16)), ("avg", (16, 16, 32), (8, 8)), ("avg", (8, 8, 64), (4, 4))],
)
def test_cifar_pools(harness, variant: str, kind: str, in_shape, out_size) -> None:
    # 3x3 stride 2 SAME: TensorFlow puts the odd padding row/column at the bottom/right.
    harness.free()
    x = random_int8(np.random.default_rng(4), in_shape)
    got, _ = K.pool(harness, variant, kind, x, (3, 3), (2, 2), (0, 0), out_size)
    fn = golden.max_pool if kind == "max" else golden.avg_pool
    np.testing.assert_array_equal(got, fn(x, (3, 3), (2, 2), (0, 0), out_size))


@pytest.mark.parametrize("variant", VARIANTS)
def test_cifar_fully_connected(harness, variant: str) -> None:
    fc_case(harness, variant, 5, 1, 1024, 10)


@pytest.mark.parametrize("variant", VARIANTS)
def test_cifar_relu(harness, variant: str) -> None:
    harness.free()
    x = random_int8(np.random.default_rng(6), (16, 16, 32))
    got, _ = K.relu(harness, variant, x, -7)
    np.testing.assert_array_equal(got, golden.relu(x, -7))


# -- fixed small shapes: borders, odd sizes, fast paths ----------------------------------------

CONV_SHAPES = [
    # kernel, in (H, W, C), out_c, k, stride, pad
    ("conv2d", (5, 6, 5), 3, (3, 3), (1, 1), (1, 1)),
    ("conv2d", (7, 7, 8), 5, (3, 2), (2, 2), (1, 0)),
    ("conv2d", (1, 1, 1), 1, (1, 1), (1, 1), (0, 0)),
    ("conv2d", (4, 9, 13), 7, (4, 4), (3, 1), (2, 3)),
    ("conv2d", (6, 6, 4), 2, (6, 6), (1, 1), (0, 0)),
    ("conv2d_1x1", (5, 5, 7), 5, (1, 1), (1, 1), (0, 0)),
    ("conv2d_1x1", (6, 4, 16), 6, (1, 1), (2, 2), (0, 0)),
    ("conv2d_rgb", (8, 8, 3), 4, (5, 5), (1, 1), (2, 2)),
    ("conv2d_rgb", (9, 7, 3), 3, (3, 3), (2, 2), (1, 1)),
    ("depthwise_conv2d", (10, 10, 8), 8, (3, 3), (1, 1), (1, 1)),
    ("depthwise_conv2d", (9, 9, 7), 7, (3, 3), (2, 2), (1, 1)),
    ("depthwise_conv2d", (6, 7, 5), 5, (5, 5), (1, 1), (2, 2)),
    ("depthwise_conv2d", (5, 5, 3), 6, (3, 3), (1, 1), (1, 1)),  # depth multiplier 2
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", CONV_SHAPES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]}")
def test_conv_shapes(harness, variant: str, case) -> None:
    kernel, in_shape, out_c, k, stride, pad = case
    seed = zlib.crc32(repr(case).encode())
    conv_case(harness, variant, kernel, seed, in_shape, out_c, k, stride, pad)


@pytest.mark.parametrize("variant", VARIANTS)
def test_int32_min_multiplier_saturates(harness, variant: str) -> None:
    # The one saturating case of the doubling high multiply: (acc << left) == multiplier ==
    # INT32_MIN. The assembly requantization hands such layers to the C column kernel.
    harness.free()
    x = np.full((2, 3, 1), -128, np.int8)
    w = np.full((3, 1, 1, 1), 1, np.int8)
    bias = np.array([0, 128, 0], np.int32)  # acc = -128 (+ offset 0) + bias
    q = K.ConvQuant(
        np.array([golden.INT32_MIN, golden.INT32_MIN, 1 << 30], np.int32),
        np.array([24, 0, 0], np.int32),
        0,
        -5,
        act_min=-128,
        act_max=127,
    )
    # Channel 0: -128 << 24 = INT32_MIN, times INT32_MIN saturates to INT32_MAX -> clamps 127.
    result = run_conv(harness, variant, "conv2d", x, w, bias, q, (1, 1), (0, 0), (2, 3))
    assert result.value == 0


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kernel", ["conv2d_1x1", "conv2d_rgb"])
def test_fast_paths_reject_other_shapes(harness, variant: str, kernel: str) -> None:
    with pytest.raises(K.HarnessError, match="rejected"):
        conv_case(harness, variant, kernel, 0, (4, 4, 4), 2, (3, 3), (1, 1), (1, 1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_1x1_rejects_outputs_beyond_the_input(harness, variant: str) -> None:
    harness.free()
    x = np.zeros((4, 4, 2), np.int8)
    q = K.ConvQuant(np.full(1, 1 << 30), np.zeros(1), 0, 0)
    with pytest.raises(K.HarnessError, match="rejected"):
        K.conv2d(
            harness,
            variant,
            x,
            np.ones((1, 1, 1, 2), np.int8),
            None,
            q,
            stride=(2, 2),
            out_size=(3, 2),
            kernel="conv2d_1x1",
        )


def fc_case(harness, variant: str, seed: int, batches: int, n: int, m: int):
    harness.free()
    rng = np.random.default_rng(seed)
    x = random_int8(rng, (batches, n))
    w = random_int8(rng, (m, n))
    bias = rng.integers(-20000, 20000, m).astype(np.int32)
    q = conv_quant(rng, m, n)
    got, result, _ = K.fully_connected(harness, variant, x, w, bias, q)
    want = golden.fully_connected(
        x,
        w,
        bias,
        q.multiplier,
        q.shift,
        input_offset=q.input_offset,
        output_offset=q.output_offset,
    )
    np.testing.assert_array_equal(got, want)
    return result


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shape", [(1, 37, 5), (3, 16, 4), (1, 1, 1), (2, 7, 9)])
def test_fully_connected_shapes(harness, variant: str, shape) -> None:
    fc_case(harness, variant, sum(shape), *shape)


@pytest.mark.parametrize("variant", VARIANTS)
def test_softmax_rows(harness, variant: str) -> None:
    harness.free()
    rng = np.random.default_rng(8)
    params = softmax_parameters(0.05, 1.0)
    for shape in [(3, 10), (1, 1), (2, 1001), (4, 7)]:
        x = random_int8(rng, shape)
        got, _ = K.softmax(harness, variant, x, *params)
        np.testing.assert_array_equal(got, golden.softmax(x, *params))


# -- randomized --------------------------------------------------------------------------------


@st.composite
def conv_problems(draw, kernel: str):
    k_h, k_w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if kernel == "conv2d_1x1":
        k_h = k_w = 1
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (
        (0, 0)
        if kernel == "conv2d_1x1"
        else (draw(st.integers(0, k_h - 1)), draw(st.integers(0, k_w - 1)))
    )
    h = draw(st.integers(max(k_h - 2 * pad[0], 1), 9))
    w = draw(st.integers(max(k_w - 2 * pad[1], 1), 9))
    c = 3 if kernel == "conv2d_rgb" else draw(st.integers(1, 11))
    out_c = draw(st.integers(1, 7))
    if kernel == "depthwise_conv2d":
        out_c = c * draw(st.sampled_from([1, 1, 2]))
    extreme = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return kernel, (h, w, c), out_c, (k_h, k_w), stride, pad, extreme, seed


def run_random_conv(harness, problem) -> None:
    kernel, in_shape, out_c, k, stride, pad, extreme, seed = problem
    rng = np.random.default_rng(seed)
    h, w, c = in_shape
    out_size = (
        golden.output_size(h, k[0], stride[0], pad[0]),
        golden.output_size(w, k[1], stride[1], pad[1]),
    )
    x = random_int8(rng, in_shape)
    depthwise = kernel == "depthwise_conv2d"
    weights = random_int8(rng, (k[0], k[1], out_c) if depthwise else (out_c, k[0], k[1], c))
    taps = k[0] * k[1] * (1 if depthwise else c)
    if extreme:
        # Extreme zero points and shifts: saturation, wrapping left shifts, rounding at 2^-31.
        bias = rng.integers(-(1 << 20), 1 << 20, out_c).astype(np.int32)
        q = K.ConvQuant(
            rng.integers(-(1 << 31), 1 << 31, out_c).astype(np.int32),
            rng.integers(-31, 9, out_c).astype(np.int32),
            int(rng.choice([-127, 128])),
            int(rng.choice([-128, 127])),
            act_min=int(rng.integers(-128, 0)),
            act_max=int(rng.integers(0, 128)),
        )
    else:
        bias = rng.integers(-5000, 5000, out_c).astype(np.int32)
        q = conv_quant(rng, out_c, taps)
    for variant in VARIANTS:
        run_conv(harness, variant, kernel, x, weights, bias, q, stride, pad, out_size)


@FAST
@given(problem=conv_problems("conv2d"))
def test_conv2d_random(harness, problem) -> None:
    run_random_conv(harness, problem)


@FAST
@given(problem=conv_problems("conv2d_1x1"))
def test_conv2d_1x1_random(harness, problem) -> None:
    run_random_conv(harness, problem)


@FAST
@given(problem=conv_problems("conv2d_rgb"))
def test_conv2d_rgb_random(harness, problem) -> None:
    run_random_conv(harness, problem)


@FAST
@given(problem=conv_problems("depthwise_conv2d"))
def test_depthwise_random(harness, problem) -> None:
    run_random_conv(harness, problem)


@FAST
@given(
    batches=st.integers(1, 3),
    n=st.integers(1, 70),
    m=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_fully_connected_random(harness, batches: int, n: int, m: int, seed: int) -> None:
    for variant in VARIANTS:
        fc_case(harness, variant, seed, batches, n, m)


@st.composite
def pool_problems(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)))
    h = draw(st.integers(max(k[0] - pad[0], 1), 9))
    w = draw(st.integers(max(k[1] - pad[1], 1), 9))
    c = draw(st.integers(1, 10))
    act_min = draw(st.integers(-128, 0))
    act_max = draw(st.integers(act_min, 127))
    return (h, w, c), k, stride, pad, act_min, act_max, draw(st.integers(0, 2**32 - 1))


@FAST
@given(problem=pool_problems(), kind=st.sampled_from(["max", "avg"]))
def test_pool_random(harness, problem, kind: str) -> None:
    shape, k, stride, pad, act_min, act_max, seed = problem
    x = random_int8(np.random.default_rng(seed), shape)
    # Windows start at -pad and stay within the input plus `pad` on the far side, so every
    # window holds at least one valid position (pad < k).
    out_size = (
        golden.output_size(shape[0], k[0], stride[0], pad[0]),
        golden.output_size(shape[1], k[1], stride[1], pad[1]),
    )
    fn = golden.max_pool if kind == "max" else golden.avg_pool
    want = fn(x, k, stride, pad, out_size, act_min, act_max)
    for variant in VARIANTS:
        harness.free()
        got, _ = K.pool(harness, variant, kind, x, k, stride, pad, out_size, act_min, act_max)
        np.testing.assert_array_equal(got, want)


@FAST
@given(
    size=st.integers(1, 67),
    zero_point=st.integers(-128, 127),
    six=st.integers(-128, 127),
    seed=st.integers(0, 2**32 - 1),
)
def test_relu_random(harness, size: int, zero_point: int, six: int, seed: int) -> None:
    x = random_int8(np.random.default_rng(seed), size)
    six = max(six, zero_point)
    for variant in VARIANTS:
        harness.free()
        got, _ = K.relu(harness, variant, x, zero_point)
        np.testing.assert_array_equal(got, golden.relu(x, zero_point))
        got6, _ = K.relu(harness, variant, x, zero_point, six)
        np.testing.assert_array_equal(got6, golden.relu6(x, zero_point, six))


@FAST
@given(
    rows=st.integers(1, 3),
    row_size=st.integers(1, 40),
    scale=st.floats(0.001, 2.0),
    beta=st.sampled_from([1.0, 0.5, 2.0]),
    spread=st.integers(0, 255),
    seed=st.integers(0, 2**32 - 1),
)
def test_softmax_random(
    harness, rows: int, row_size: int, scale: float, beta: float, spread: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    low = int(rng.integers(-128, 128 - spread)) if spread < 255 else -128
    x = rng.integers(low, low + spread + 1, (rows, row_size)).astype(np.int8)
    params = softmax_parameters(scale, beta)
    for variant in VARIANTS:
        harness.free()
        got, _ = K.softmax(harness, variant, x, *params)
        np.testing.assert_array_equal(got, golden.softmax(x, *params))


@FAST
@given(size=st.integers(1, 40), seed=st.integers(0, 2**32 - 1), extreme=st.booleans())
def test_add_random(harness, size: int, seed: int, extreme: bool) -> None:
    rng = np.random.default_rng(seed)
    a, b = random_int8(rng, size), random_int8(rng, size)
    params = {
        "a_offset": int(rng.integers(-127, 129)),
        "b_offset": int(rng.integers(-127, 129)),
        "a_multiplier": int(rng.integers(1 << 30, 1 << 31)),
        "b_multiplier": int(rng.integers(1 << 30, 1 << 31)),
        "a_shift": int(rng.integers(-3, 1)),
        "b_shift": int(rng.integers(-3, 1)),
        "output_offset": int(rng.integers(-128, 128)),
        "output_multiplier": int(rng.integers(1 << 30, 1 << 31)),
        "output_shift": int(rng.integers(-22, -17)),
        "act_min": int(rng.integers(-128, 0)),
        "act_max": int(rng.integers(0, 128)),
    }
    if extreme:
        params.update(
            a_shift=int(rng.integers(-31, 3)),
            output_shift=int(rng.integers(-31, 5)),
            left_shift=int(rng.integers(0, 24)),
        )
    want = golden.add(a, b, **params)
    for variant in VARIANTS:
        harness.free()
        got, _ = K.add(harness, variant, a, b, **params)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kernel", ["conv2d", "conv2d_rgb"])
def test_variants_get_faster(harness, kernel: str) -> None:
    """On a convolution, ref > opt > asm in cycles: the optimizations must pay off."""
    in_c = 3 if kernel == "conv2d_rgb" else 32
    cycles = {
        variant: conv_case(
            harness, variant, kernel, 9, (8, 8, in_c), 16, (5, 5), (1, 1), (2, 2)
        ).cycles
        for variant in VARIANTS
    }
    assert cycles["ref"] > 2 * cycles["opt"], cycles
    assert cycles["opt"] > cycles["asm"], cycles


@pytest.mark.parametrize("variant", VARIANTS)
def test_null_bias(harness, variant: str) -> None:
    """Bias is optional (NULL): the same as a zero bias."""
    rng = np.random.default_rng(12)
    x = random_int8(rng, (5, 5, 6))
    zeros = np.zeros(5, np.int32)
    for kernel, w in [
        ("conv2d", random_int8(rng, (5, 3, 3, 6))),
        ("depthwise_conv2d", random_int8(rng, (3, 3, 6))),
    ]:
        q = conv_quant(rng, w.shape[0] if kernel == "conv2d" else 6, 54)
        harness.free()
        got, _, _ = K.conv2d(
            harness, variant, x, w, None, q, pad=(1, 1), out_size=(5, 5), kernel=kernel
        )
        fn = golden.conv2d if kernel == "conv2d" else golden.depthwise_conv2d
        want = fn(
            x,
            w,
            np.zeros(w.shape[0] if kernel == "conv2d" else 6, np.int32),
            q.multiplier,
            q.shift,
            pad=(1, 1),
            input_offset=q.input_offset,
            output_offset=q.output_offset,
        )
        np.testing.assert_array_equal(got, want)
    harness.free()
    w = random_int8(rng, (5, 25))
    q = conv_quant(rng, 5, 25)
    got, _, _ = K.fully_connected(harness, variant, x.reshape(-1)[:25], w, None, q)
    want = golden.fully_connected(
        x.reshape(-1)[:25],
        w,
        zeros,
        q.multiplier,
        q.shift,
        input_offset=q.input_offset,
        output_offset=q.output_offset,
    )
    np.testing.assert_array_equal(got, want)
