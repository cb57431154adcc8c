"""The golden model: LiteRT's reference kernels, and what happens when they give up."""

from __future__ import annotations

import numpy as np
import pytest

from cmsim.model import writer as W
from cmsim.model.graph import ModelError
from cmsim.model.lower import lower
from cmsim.model.reference import reference_tensors, seeded_inputs
from cmsim.model.tflite import parse_model


def _softmax_model(input_scale: float) -> bytes:
    g = W.Graph()
    x = g.add_tensor(W.Tensor("logits", (1, 10), quant=W.Quantization.per_tensor(input_scale, 0)))
    y = g.add_tensor(W.Tensor("probs", (1, 10), quant=W.Quantization.per_tensor(1 / 256, -128)))
    g.add_operator(W.Softmax(), (x,), (y,))
    g.inputs, g.outputs = [x], [y]
    return W.to_tflite(g)


def test_isolated_run_equals_the_in_process_run() -> None:
    data = _softmax_model(0.05)
    graph = parse_model(data, "softmax.tflite")
    inputs = seeded_inputs(graph, seed=3)
    here = reference_tensors(data, graph, inputs, {1})
    there = reference_tensors(data, graph, inputs, {1}, isolated=True)
    assert here[1].tobytes() == there[1].tobytes()


def test_a_crash_of_the_reference_interpreter_is_one_clear_error() -> None:
    # LiteRT's int8 softmax aborts the process (a failed check, SIGABRT) when beta x input
    # scale x 2^26 <= 1: a random-weights MobileNetV2's logits have scale 7.8e-9.
    data = _softmax_model(7.8e-9)
    graph = parse_model(data, "tiny.tflite")
    with pytest.raises(ModelError, match="TFLite's reference interpreter crashed"):
        reference_tensors(data, graph, seeded_inputs(graph, seed=3), {1}, isolated=True)


def test_the_lowering_refuses_what_makes_tflite_abort() -> None:
    graph = parse_model(_softmax_model(7.8e-9), "tiny.tflite")
    with pytest.raises(ModelError, match=r"operator 0 \(SOFTMAX\): input scale 7.8e-09 x beta"):
        lower(graph)
    assert lower(parse_model(_softmax_model(2.0**-25), "ok.tflite"))


def test_seeded_inputs_are_deterministic() -> None:
    graph = parse_model(_softmax_model(0.05), "softmax.tflite")
    a, b = seeded_inputs(graph, seed=9), seeded_inputs(graph, seed=9)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], seeded_inputs(graph, 10)[0])
