"""Every supported operator on random shapes and quantization, three ways against TFLite.

For each drawn single-operator model: TFLite's reference kernels (the golden model) give the
output; cmsim lowers the operator (cmsim.model.lower), and the firmware kernels of every
variant (through the kernel harness) and the numpy golden models (cmsim.bench.golden) must
produce the same bytes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from model_cases import OPERATOR_MODELS

from cmsim.bench import golden
from cmsim.bench import kernels as K
from cmsim.model.lower import Step, lower
from cmsim.model.reference import reference_tensors, seeded_inputs
from cmsim.model.tflite import parse_model

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _numpy_golden(step: Step, inputs: list[np.ndarray]) -> np.ndarray | None:
    """The numpy golden model of a lowered step (None where it has none: the quantizers)."""
    p, c = step.params, step.constants
    if step.kernel in ("conv2d", "conv2d_1x1", "conv2d_rgb", "depthwise_conv2d"):
        x = inputs[0].reshape(p["in_h"], p["in_w"], p["in_c"])
        extra = {}
        model = golden.conv2d
        if step.kernel == "depthwise_conv2d":
            model = golden.depthwise_conv2d
            extra = {"depth_multiplier": p["out_c"] // p["in_c"]}
        return model(
            x, c["weights"], c["bias"], c["multiplier"], c["shift"],
            stride=(p["stride_h"], p["stride_w"]), pad=(p["pad_h"], p["pad_w"]),
            out_size=(p["out_h"], p["out_w"]), input_offset=p["input_offset"],
            output_offset=p["output_offset"], act_min=p["act_min"], act_max=p["act_max"],
            **extra,
        )  # fmt: skip
    if step.kernel == "fully_connected":
        x = inputs[0].reshape(p["batches"], p["in_features"])
        return golden.fully_connected(
            x, c["weights"], c["bias"], c["multiplier"], c["shift"],
            input_offset=p["input_offset"], output_offset=p["output_offset"],
            act_min=p["act_min"], act_max=p["act_max"],
        )  # fmt: skip
    if step.kernel in ("max_pool", "avg_pool"):
        model = golden.max_pool if step.kernel == "max_pool" else golden.avg_pool
        x = inputs[0].reshape(p["in_h"], p["in_w"], p["channels"])
        return model(
            x, (p["k_h"], p["k_w"]), (p["stride_h"], p["stride_w"]), (p["pad_h"], p["pad_w"]),
            (p["out_h"], p["out_w"]), p["act_min"], p["act_max"],
        )  # fmt: skip
    if step.kernel == "add":
        names = ("a_offset", "a_multiplier", "a_shift", "b_offset", "b_multiplier", "b_shift")
        names += ("output_offset", "output_multiplier", "output_shift", "left_shift")
        names += ("act_min", "act_max")
        return golden.add(inputs[0], inputs[1], **{k: p[k] for k in names})
    if step.kernel == "softmax":
        x = inputs[0].reshape(p["rows"], p["row_size"])
        return golden.softmax(x, p["input_multiplier"], p["input_left_shift"], p["diff_min"])
    if step.kernel == "mean_s8":
        x = inputs[0].reshape(p["outer"], p["reduced"], p["inner"])
        names = ("input_offset", "multiplier", "shift", "output_offset")
        return golden.mean(x, **{k: p[k] for k in names})
    if step.kernel == "concat_s8":
        return golden.concatenate(inputs, p["outer"], p["inner"])
    if step.kernel == "activation_s8":
        names = ("input_offset", "multiplier", "shift", "output_offset", "act_min", "act_max")
        return golden.activation(inputs[0], **{k: p[k] for k in names})
    if step.kernel == "logistic_s8":
        names = ("input_offset", "multiplier", "left_shift", "radius")
        return golden.logistic(inputs[0], **{k: p[k] for k in names})
    if step.kernel == "broadcast_s8":
        return _broadcast_golden(p, inputs)
    if step.kernel == "hard_swish_s8":
        return golden.hard_swish(inputs[0], **{k: v for k, v in p.items() if k != "size"})
    if step.kernel == "leaky_relu_s8":
        return golden.leaky_relu(inputs[0], **{k: v for k, v in p.items() if k != "size"})
    if step.kernel == "tanh_s8":
        names = ("input_offset", "multiplier", "left_shift", "radius")
        return golden.tanh(inputs[0], **{k: p[k] for k in names})
    if step.kernel == "pad_s8":
        dims = [[p[f"{name}[{i}]"] for i in range(4)] for name in ("in_dims", "before", "out_dims")]
        after = [o - i - b for i, b, o in zip(*dims, strict=True)]
        return golden.pad(inputs[0].reshape(dims[0]), dims[1], after, p["value"])
    return None


def _broadcast_golden(p: dict, inputs: list[np.ndarray]) -> np.ndarray:
    """ADD or MUL on the inputs viewed through the step's 4-D strides (numpy broadcasting)."""
    dims = [p[f"out_dims[{i}]"] for i in range(4)]
    views = []
    for name, x in zip("ab", inputs, strict=True):
        strides = [p[f"{name}_strides[{i}]"] for i in range(4)]
        index = sum(
            np.arange(d).reshape([-1 if k == i else 1 for k in range(4)]) * s
            for i, (d, s) in enumerate(zip(dims, strides, strict=True))
        )
        views.append(np.asarray(x).reshape(-1)[index])
    q = {k[2:]: v for k, v in p.items() if k.startswith("q.")}
    if p["op"] == 0:
        names = ("a_offset", "a_multiplier", "a_shift", "b_offset", "b_multiplier", "b_shift")
        names += ("output_offset", "output_multiplier", "output_shift", "left_shift")
        return golden.add(
            views[0],
            views[1],
            act_min=q["act_min"],
            act_max=q["act_max"],
            **{k: q[k] for k in names},
        )
    return golden.mul(
        views[0],
        views[1],
        **{
            k: q[k]
            for k in (
                "a_offset",
                "b_offset",
                "output_offset",
                "output_multiplier",
                "output_shift",
                "act_min",
                "act_max",
            )
        },
    )


def _check(harness, data: bytes) -> None:
    graph = parse_model(data, "case")
    (step,) = lower(graph)
    inputs = seeded_inputs(graph, seed=len(data))
    want = reference_tensors(data, graph, inputs, {step.output})[step.output]
    want_bytes = np.ascontiguousarray(want).tobytes()
    activations = [inputs[i] for i in step.inputs if not graph.tensor(i).is_constant]
    numpy_model = _numpy_golden(step, activations)
    if numpy_model is not None:
        assert np.ascontiguousarray(numpy_model).tobytes() == want_bytes, "numpy golden"
    out_dtype = graph.tensor(step.output).dtype
    for variant in K.VARIANTS if step.variants else ("ref",):
        harness.free()
        got, _ = K.call_step(harness, step, variant, activations, out_dtype)
        assert got.tobytes() == want_bytes, f"{step.kernel}_{variant}"


@pytest.mark.parametrize("operator", list(OPERATOR_MODELS))
def test_operator_matches_tflite(harness, operator: str) -> None:
    @EXAMPLES
    @given(data=OPERATOR_MODELS[operator])
    def check(data: bytes) -> None:
        _check(harness, data)

    check()
