"""Read a `.tflite` flatbuffer into a `Graph`, with the TFLite schema that LiteRT ships.

Handles what TensorFlow's converters have written over the years: operator codes in
`deprecated_builtin_code` (TF 2.3 and older) or `builtin_code` (newer; the larger of the two
is the real one), per-tensor and per-channel quantization, constant data stored inside the
flatbuffer or after it (`Buffer.offset`/`size`, for models over 2 GB), `shape_signature`.
Anything unreadable is a `ModelError` naming the file and what is wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from cmsim.model.graph import Graph, ModelError, Operator, Quant, Tensor

IDENTIFIER = b"TFL3"
_OPCODE_NAMES = {
    value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}
_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(schema.TensorType).items()
    if not name.startswith("_")
}
_NUMPY_TYPES = {
    "float32",
    "float16",
    "float64",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "bool",
}


def read_model(path: str | Path) -> tuple[Graph, bytes]:
    """The main subgraph of the model at `path`, and the file's bytes."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ModelError(f"{path}: is a directory, not a .tflite model") from None
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from None
    return parse_model(data, path.name), data


def parse_model(data: bytes, name: str = "model") -> Graph:
    """Parse flatbuffer bytes; `name` labels the model in messages and reports."""
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise ModelError(f"{name}: not a TFLite model (no 'TFL3' flatbuffer identifier)")
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    except Exception as exc:  # a malformed flatbuffer fails anywhere in the generated code
        raise ModelError(f"{name}: malformed TFLite flatbuffer ({type(exc).__name__})") from None
    try:
        return _graph(model, data, name)
    except ModelError:
        raise
    except Exception as exc:  # offsets, indices or enums out of range
        raise ModelError(f"{name}: malformed TFLite model ({type(exc).__name__}: {exc})") from None


def _graph(model: schema.ModelT, data: bytes, name: str) -> Graph:
    if not model.subgraphs:
        raise ModelError(f"{name}: the model has no subgraph")
    subgraph = model.subgraphs[0]
    buffers = model.buffers or []
    tensors = [_tensor(i, t, buffers, data, name) for i, t in enumerate(subgraph.tensors or [])]
    codes = model.operatorCodes or []
    operators = [
        _operator(i, op, codes, len(tensors), name) for i, op in enumerate(subgraph.operators or [])
    ]
    inputs = _indices(subgraph.inputs, len(tensors), f"{name}: graph input")
    outputs = _indices(subgraph.outputs, len(tensors), f"{name}: graph output")
    description = _text(model.description)
    return Graph(name, tensors, operators, inputs, outputs, description)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _indices(values, count: int, what: str, optional: bool = False) -> tuple[int, ...]:
    out = tuple(int(v) for v in (values if values is not None else []))
    for v in out:
        if not (0 <= v < count or (optional and v == -1)):
            raise ModelError(f"{what} refers to tensor {v}, but the graph has {count} tensors")
    return out


def _tensor(index: int, t: schema.TensorT, buffers, data: bytes, model: str) -> Tensor:
    label = _text(t.name) or f"#{index}"
    dtype = _TYPE_NAMES.get(t.type, f"type {t.type}")
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
    signature = tuple(int(d) for d in (t.shapeSignature if t.shapeSignature is not None else []))
    tensor = Tensor(index, label, shape, dtype, _quant(t.quantization))
    tensor.dynamic = any(d < 1 for d in shape) or any(d < 0 for d in signature[1:])
    tensor.sparse = t.sparsity is not None
    if not 0 <= t.buffer < max(len(buffers), 1):
        raise ModelError(f"{model}: tensor {label} refers to buffer {t.buffer}, which is missing")
    raw = _buffer_bytes(buffers[t.buffer], data) if t.buffer > 0 else b""
    if raw and not tensor.sparse:
        tensor.data = _constant(raw, tensor, model)
    return tensor


def _quant(q: schema.QuantizationParametersT | None) -> Quant | None:
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    scale = tuple(float(np.float32(s)) for s in q.scale)
    zero_point = tuple(int(z) for z in q.zeroPoint) if q.zeroPoint is not None else ()
    if len(zero_point) not in (len(scale), 1):
        zero_point = (0,) * len(scale) if not zero_point else zero_point
    return Quant(scale, zero_point or (0,) * len(scale), int(q.quantizedDimension))


def _buffer_bytes(buffer: schema.BufferT, data: bytes) -> bytes:
    if buffer.offset and buffer.offset > 1:  # stored after the flatbuffer (large models)
        end = buffer.offset + buffer.size
        if end > len(data):
            raise ModelError(f"a buffer lies past the end of the file ({end} > {len(data)} bytes)")
        return data[buffer.offset : end]
    if buffer.data is None:
        return b""
    return bytes(np.asarray(buffer.data, dtype=np.uint8))


def _constant(raw: bytes, tensor: Tensor, model: str) -> np.ndarray | None:
    if tensor.dtype not in _NUMPY_TYPES or tensor.dynamic:
        return None
    if len(raw) != tensor.nbytes:
        raise ModelError(
            f"{model}: tensor {tensor.name} holds {len(raw)} bytes of data, but its shape "
            f"{list(tensor.shape)} of {tensor.dtype} needs {tensor.nbytes}"
        )
    return np.frombuffer(raw, dtype=np.dtype(tensor.dtype).newbyteorder("<")).reshape(tensor.shape)


def _operator(index: int, op: schema.OperatorT, codes, tensor_count: int, model: str) -> Operator:
    if not 0 <= op.opcodeIndex < len(codes):
        raise ModelError(
            f"{model}: operator {index} has opcode index {op.opcodeIndex} (of {len(codes)})"
        )
    code = codes[op.opcodeIndex]
    number = max(int(code.deprecatedBuiltinCode), int(code.builtinCode))
    opcode = _OPCODE_NAMES.get(number, f"BUILTIN_{number}")
    if opcode == "CUSTOM":
        opcode = f"CUSTOM({_text(code.customCode)})"
    what = f"{model}: operator {index} ({opcode})"
    inputs = _indices(op.inputs, tensor_count, f"{what} input", optional=True)
    outputs = _indices(op.outputs, tensor_count, f"{what} output")
    options = dict(vars(op.builtinOptions)) if op.builtinOptions is not None else {}
    return Operator(index, opcode, inputs, outputs, options)
