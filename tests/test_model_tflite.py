"""Reading .tflite files: every layout TensorFlow's converters write, and hostile bytes."""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_cases import rewrite

from cmsim.errors import ModelError
from cmsim.model.reference import reference_tensors, seeded_inputs
from cmsim.model.tflite import parse_model, read_model
from cmsim.model.workloads import build_workload


@pytest.fixture(scope="module")
def kws() -> bytes:
    return build_workload("kws")


def test_reads_a_model(kws: bytes) -> None:
    graph = parse_model(kws, "kws")
    ops = [op.opcode for op in graph.operators]
    assert ops[0] == "CONV_2D" and ops[-3:] == ["RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert ops.count("DEPTHWISE_CONV_2D") == 4
    first = graph.operators[0]
    x, w = graph.tensor(first.inputs[0]), graph.tensor(first.inputs[1])
    assert x.shape == (1, 49, 10, 1) and x.dtype == "int8" and not x.is_constant
    assert w.shape == (64, 10, 4, 1) and w.data.dtype == np.int8 and w.quant.is_per_channel
    assert first.options["strideH"] == 2 and graph.inputs == (first.inputs[0],)


def test_old_converters_deprecated_builtin_code(kws: bytes) -> None:
    """TF 2.3 and older wrote the operator in deprecated_builtin_code only."""

    def old_style(model) -> None:
        for code in model.operatorCodes:
            code.deprecatedBuiltinCode, code.builtinCode = code.builtinCode, 0

    old = rewrite(kws, old_style)
    assert [op.opcode for op in parse_model(old).operators] == [
        op.opcode for op in parse_model(kws).operators
    ]


def test_buffers_stored_after_the_flatbuffer(kws: bytes) -> None:
    """Models over 2 GB keep constant data past the flatbuffer (Buffer.offset / size)."""
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(kws, 0))
    blobs = [
        bytes(np.asarray(b.data, np.uint8)) if b.data is not None else b"" for b in model.buffers
    ]

    def external(at: int):
        def change(m) -> None:
            offset = at
            for buffer, blob in zip(m.buffers, blobs, strict=True):
                if blob:
                    buffer.data, buffer.offset, buffer.size = None, offset, len(blob)
                    offset += len(blob)

        return change

    size = len(rewrite(kws, external(1 << 20)))  # the offsets' values do not change the size
    tail = b"".join(blobs)
    moved = rewrite(kws, external(size), tail)
    a, b = parse_model(kws), parse_model(moved)
    for ta, tb in zip(a.tensors, b.tensors, strict=True):
        assert (ta.data is None) == (tb.data is None)
        if ta.data is not None:
            assert np.array_equal(ta.data, tb.data)
    inputs = seeded_inputs(b, 1)
    out = b.outputs[0]
    assert np.array_equal(
        reference_tensors(moved, b, inputs, {out})[out],
        reference_tensors(kws, a, inputs, {out})[out],
    )


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not a TFLite model"),
        (b"\x00" * 64, "not a TFLite model"),
        (b"1234TFL3" + b"\xff" * 40, "malformed"),
        (b"\x08\x00\x00\x00TFL3\x00\x00\x00\x00", "no subgraph"),
    ],
)
def test_garbage_is_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        parse_model(data, "bad.tflite")


def test_files_that_cannot_be_read(tmp_path) -> None:
    with pytest.raises(ModelError, match="cannot read model"):
        read_model(tmp_path / "missing.tflite")
    with pytest.raises(ModelError, match="is a directory"):
        read_model(tmp_path)


FLIPS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=8)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cut=st.integers(0, 10_000), flips=FLIPS)
def test_mutated_models_parse_or_fail_cleanly(cut: int, flips) -> None:
    """Truncated or bit-flipped models: either a graph or a ModelError, nothing else."""
    data = bytearray(_SMALL)
    for position, value in flips:
        data[position % len(data)] ^= value
    data = bytes(data[: len(data) - cut % len(data)]) if cut % 3 == 0 else bytes(data)
    try:
        parse_model(data, "mutated")
    except ModelError:
        pass


_SMALL = build_workload("kws")
