"""cmsim.model.calibrate: float kernels against plain loops, quantization parameters, Net.

(The float kernels are also checked against TFLite's int8 kernels in test_model_writer.)
"""

from __future__ import annotations

import numpy as np
import pytest

from cmsim.model import calibrate as C
from cmsim.model import writer as W


def loop_conv(x, w, b, stride, padding, dilation=(1, 1), depthwise=False, mult=1):
    """Direct definition: out[n, i, j, o] = sum over taps of x[n, i*s + k*d - pad, ...] * w."""
    n, h, wd, c = x.shape
    kh, kw = w.shape[1:3]
    out_c = c * mult if depthwise else w.shape[0]
    oh = W.conv_output_size(h, kh, stride[0], dilation[0], padding)
    ow = W.conv_output_size(wd, kw, stride[1], dilation[1], padding)
    top = W.same_padding(h, kh, stride[0], dilation[0])[0] if padding == "SAME" else 0
    left = W.same_padding(wd, kw, stride[1], dilation[1])[0] if padding == "SAME" else 0
    out = np.zeros((n, oh, ow, out_c))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for bb in range(kw):
                    y = i * stride[0] + a * dilation[0] - top
                    xx = j * stride[1] + bb * dilation[1] - left
                    if not (0 <= y < h and 0 <= xx < wd):
                        continue
                    pixel = x[:, y, xx, :]  # (n, c)
                    if depthwise:
                        out[:, i, j, :] += np.repeat(pixel, mult, axis=1) * w[0, a, bb, :]
                    else:
                        out[:, i, j, :] += pixel @ w[:, a, bb, :].T
    return out + b


CASES = [
    ((7, 5, 3), (3, 3), (1, 1), "SAME", (1, 1)),
    ((8, 9, 2), (3, 2), (2, 2), "SAME", (1, 1)),
    ((8, 9, 2), (3, 2), (2, 3), "VALID", (1, 1)),
    ((9, 9, 4), (3, 3), (1, 1), "SAME", (2, 2)),
    ((10, 4, 1), (10, 4), (2, 2), "SAME", (1, 1)),
    ((6, 6, 5), (1, 1), (2, 2), "SAME", (1, 1)),
]


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation", CASES)
def test_conv2d_matches_the_loop_definition(shape, kernel, stride, padding, dilation):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, *shape))
    w = rng.normal(size=(4, *kernel, shape[2]))
    b = rng.normal(size=4)
    got = C.conv2d(x, w, b, stride, padding, dilation)
    np.testing.assert_allclose(got, loop_conv(x, w, b, stride, padding, dilation), atol=1e-12)


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation", CASES)
@pytest.mark.parametrize("mult", [1, 2])
def test_depthwise_matches_the_loop_definition(shape, kernel, stride, padding, dilation, mult):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, *shape))
    w = rng.normal(size=(1, *kernel, shape[2] * mult))
    b = rng.normal(size=shape[2] * mult)
    got = C.depthwise_conv2d(x, w, b, stride, padding, mult, dilation)
    want = loop_conv(x, w, b, stride, padding, dilation, depthwise=True, mult=mult)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_pools_average_over_valid_positions_and_skip_padding():
    x = np.arange(1, 10, dtype=np.float64).reshape(1, 3, 3, 1)
    avg = C.average_pool(x, (2, 2), (2, 2), "SAME")[0, :, :, 0]
    assert avg.tolist() == [[3.0, 4.5], [7.5, 9.0]]  # corners average 4, 2, 2 and 1 values
    mx = C.max_pool(-x, (2, 2), (2, 2), "SAME")[0, :, :, 0]
    assert mx.tolist() == [[-1.0, -3.0], [-7.0, -9.0]]  # padding never wins
    assert C.average_pool(x, (3, 3), (3, 3))[0, 0, 0, 0] == 5.0


def test_activation_quantization_covers_the_range_with_zero_exact():
    q = C.activation_quantization(-1.0, 3.0)
    scale, zp = q.scale[0], q.zero_point[0]
    assert abs(scale - 4.0 / 255) < 1e-7 and -128 <= zp <= 127
    assert abs((-128 - zp) * scale - -1.0) < scale and abs((127 - zp) * scale - 3.0) < scale
    assert C.activation_quantization(0.0, 6.0).zero_point == (-128,)  # ReLU outputs
    assert C.activation_quantization(0.5, 2.0).zero_point == (-128,)  # widened to include 0
    assert C.activation_quantization(-3.0, -1.0).zero_point == (127,)
    assert C.activation_quantization(0.0, 0.0).scale[0] > 0


def test_weights_are_symmetric_per_channel():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(5, 3, 3, 2)) * np.arange(1, 6)[:, None, None, None]
    q, scales = C.quantize_weights(w, 0)
    assert q.dtype == np.int8 and (np.abs(q).reshape(5, -1).max(axis=1) == 127).all()
    np.testing.assert_allclose(q * scales[:, None, None, None], w, atol=scales.max() / 2)
    q, scales = C.quantize_weights(np.zeros((1, 3, 3, 4)), 3)
    assert (q == 0).all() and (scales == 1.0).all()
    bias, bscales = C.quantize_bias(np.array([0.5, -0.25]), 0.01, np.float32([0.1, 0.05]))
    assert bias.tolist() == [500, -500] and bias.dtype == np.int32
    np.testing.assert_allclose(bscales, [0.001, 0.0005])


def test_net_folds_batch_norm_and_shares_pool_quantization():
    rng = np.random.default_rng(4)
    net = C.Net(rng, "tiny")
    x = net.input("input", rng.uniform(0, 1, (16, 8, 8, 3)), 0.0, 1.0)
    y = net.conv("conv", x, 6, 3, activation="NONE")
    # folded batch norm: every channel's output has mean beta and std gamma on the batch
    std = y.x.reshape(-1, 6).std(axis=0)
    assert ((std > 0.55) & (std < 1.45)).all()
    p = net.avg_pool("pool", net.depthwise("dw", y, 3), 8)
    f = net.flatten("flat", p)
    out = net.softmax("prob", net.dense("fc", f, 4, "NONE"))
    g = net.graph([out])
    quant = {t.name: t.quant for t in g.tensors}
    assert quant["pool"] == quant["flat"] == quant["dw"]
    assert quant["prob"] == W.Quantization.per_tensor(1 / 256, -128)
    assert quant["input"] == C.activation_quantization(0.0, 1.0)
    assert [op.kind for op in g.operators] == [
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "AVERAGE_POOL_2D",
        "RESHAPE",
        "FULLY_CONNECTED",
        "SOFTMAX",
    ]
    assert W.to_tflite(g)[4:8] == b"TFL3"
