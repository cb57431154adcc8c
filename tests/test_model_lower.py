"""Lowering a model: what runs, and the one-line refusals for what does not."""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from model_cases import rewrite

from cmsim.bench import models
from cmsim.board import load_board
from cmsim.errors import ModelError
from cmsim.model import writer as W
from cmsim.model.lower import lower, needed_operators
from cmsim.model.tflite import parse_model
from cmsim.model.workloads import build_workload

OP = schema.BuiltinOperator
TYPE = schema.TensorType


@pytest.fixture(scope="module")
def kws() -> bytes:
    return build_workload("kws")


def _refusal(data: bytes) -> str:
    with pytest.raises(ModelError) as caught:
        lower(parse_model(data, "m.tflite"))
    message = str(caught.value)
    assert "\n" not in message
    return message


def _set_opcode(index: int, code: int):
    def change(model) -> None:
        op = model.subgraphs[0].operators[index]
        model.operatorCodes.append(schema.OperatorCodeT())
        model.operatorCodes[-1].builtinCode = code
        model.operatorCodes[-1].deprecatedBuiltinCode = min(code, 127)
        op.opcodeIndex = len(model.operatorCodes) - 1

    return change


def test_unsupported_operator_is_named(kws: bytes) -> None:
    message = _refusal(rewrite(kws, _set_opcode(9, OP.TRANSPOSE_CONV)))
    want = "m.tflite: operator 9 (TRANSPOSE_CONV) is not supported; cmsim runs CONV_2D"
    assert message.startswith(want)


def test_custom_operator_is_named(kws: bytes) -> None:
    def custom(model) -> None:
        _set_opcode(0, OP.CUSTOM)(model)
        model.operatorCodes[-1].customCode = "MyOp"

    assert "operator 0 (CUSTOM(MyOp)) is not supported" in _refusal(rewrite(kws, custom))


def _tensor_type(kind: int, which: str = "input"):
    def change(model) -> None:
        graph = model.subgraphs[0]
        index = graph.inputs[0] if which == "input" else graph.operators[0].outputs[0]
        graph.tensors[index].type = kind

    return change


def test_float_model_is_refused(kws: bytes) -> None:
    message = _refusal(rewrite(kws, _tensor_type(TYPE.FLOAT32)))
    assert "operator 0 (CONV_2D)" in message and "float32" in message and "int8" in message


def test_int16_activations_are_refused(kws: bytes) -> None:
    message = _refusal(rewrite(kws, _tensor_type(TYPE.INT16, "output")))
    assert "operator 0 (CONV_2D)" in message and "16x8 quantization is not supported" in message


def test_dynamic_shape_is_refused(kws: bytes) -> None:
    def dynamic(model) -> None:
        t = model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]]
        t.shapeSignature = [-1, -1, 10, 1]

    assert "dynamic shape" in _refusal(rewrite(kws, dynamic))


def test_dynamic_batch_alone_is_fine(kws: bytes) -> None:
    def batch(model) -> None:
        t = model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]]
        t.shapeSignature = [-1, 49, 10, 1]

    assert len(lower(parse_model(rewrite(kws, batch)))) == 13


def test_dilation_is_refused(kws: bytes) -> None:
    def dilate(model) -> None:
        model.subgraphs[0].operators[2].builtinOptions.dilationHFactor = 2

    assert "operator 2 (CONV_2D): dilation (2, 1) is not supported" in _refusal(
        rewrite(kws, dilate)
    )


def test_unsupported_fused_activation_is_refused(kws: bytes) -> None:
    def tanh(model) -> None:
        model.subgraphs[0].operators[
            0
        ].builtinOptions.fusedActivationFunction = schema.ActivationFunctionType.TANH

    assert "fused activation TANH is not supported" in _refusal(rewrite(kws, tanh))


def test_adds_that_do_not_broadcast_are_refused() -> None:
    g = W.Graph()
    q = W.Quantization.per_tensor(0.1, 0)
    a = g.add_tensor(W.Tensor("a", (1, 4, 4, 8), quant=q))
    b = g.add_tensor(W.Tensor("b", (1, 4, 4, 8), quant=q))
    y = g.add_tensor(W.Tensor("y", (1, 4, 4, 8), quant=q))
    g.add_operator(W.Add(), (a, b), (y,))
    g.inputs, g.outputs = [a, b], [y]

    def reshaped(b_shape, y_shape=None):
        def change(model) -> None:
            model.subgraphs[0].tensors[b].shape = b_shape
            if y_shape is not None:
                model.subgraphs[0].tensors[y].shape = y_shape

        return _refusal(rewrite(W.to_tflite(g), change))

    message = reshaped([1, 3, 1, 8])
    assert "operator 0 (ADD): inputs [1, 4, 4, 8] and [1, 3, 1, 8] do not broadcast" in message
    message = reshaped([2, 1, 4, 4, 8], [2, 1, 4, 4, 8])
    assert "do not broadcast to the output [2, 1, 4, 4, 8] in at most 4 dimensions" in message


def test_shape_arithmetic_for_a_reshape_is_left_out() -> None:
    """Converters emit SHAPE -> STRIDED_SLICE -> PACK for a Flatten with a dynamic batch; the
    RESHAPE's output shape is static, so that chain is not needed."""
    g = W.Graph()
    x = g.add_tensor(W.Tensor("x", (1, 2, 2, 4), quant=W.Quantization.per_tensor(0.1, 0)))
    y = g.add_tensor(W.Tensor("y", (1, 16), quant=W.Quantization.per_tensor(0.1, 0)))
    g.add_operator(W.Reshape((1, 16)), (x,), (y,))
    g.inputs, g.outputs = [x], [y]

    def shape_chain(model) -> None:
        sub = model.subgraphs[0]
        shape = schema.TensorT()
        shape.name, shape.shape, shape.type, shape.buffer = "shape", [4], TYPE.INT32, 0
        sub.tensors.append(shape)
        _set_opcode(0, OP.SHAPE)(model)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = len(model.operatorCodes) - 1, [x], [2]
        reshape = sub.operators[0]
        reshape.inputs = [x, 2]
        sub.operators.insert(0, op)
        sub.operators[1].opcodeIndex = 0

    graph = parse_model(rewrite(W.to_tflite(g), shape_chain))
    assert [op.opcode for op in graph.operators] == ["SHAPE", "RESHAPE"]
    assert [op.opcode for op in needed_operators(graph)] == ["RESHAPE"]


def _fc_model(n: int, m: int) -> bytes:
    g = W.Graph()
    x = g.add_tensor(W.Tensor("x", (1, n), quant=W.Quantization.per_tensor(0.1, 0)))
    weights = np.ones((m, n), np.int8)
    w = g.add_tensor(W.Tensor("w", (m, n), quant=W.Quantization.per_tensor(0.01, 0), data=weights))
    bias_quant = W.Quantization.per_tensor(float(np.float32(0.1) * np.float32(0.01)), 0)
    b = g.add_tensor(W.Tensor("b", (m,), "int32", bias_quant, np.zeros(m, np.int32)))
    y = g.add_tensor(W.Tensor("y", (1, m), quant=W.Quantization.per_tensor(1.0, 0)))
    g.add_operator(W.FullyConnected(), (x, w, b), (y,))
    g.inputs, g.outputs = [x], [y]
    return W.to_tflite(g)


def test_model_too_big_for_flash_says_by_how_much() -> None:
    model = models.prepare(_fc_model(1024, 1100), "big.tflite")
    with pytest.raises(ModelError, match=r"big.tflite does not fit m4-ideal: .* flash, the board "
                       r"has 1,048,576 \(\d[\d,]* too many\)"):  # fmt: skip
        models.bench_model(model, load_board("m4-ideal"), ("ref",))


def test_model_too_big_for_sram_says_by_how_much() -> None:
    model = models.prepare(_fc_model(200_000, 1), "wide.tflite")
    with pytest.raises(ModelError, match=r"activation arena \(200,008 bytes\).*128 KiB|too many"):
        models.bench_model(model, load_board("stm32f4"), ("ref",))


def test_absurd_shapes_are_refused_before_any_allocation(kws: bytes) -> None:
    def huge(model) -> None:
        t = model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]]
        t.shape = [1, 49_000, 100_000, 1]

    assert "more than any microcontroller's memory" in _refusal(rewrite(kws, huge))
