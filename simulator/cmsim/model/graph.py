"""A TFLite model as plain data: tensors, operators in execution order, graph inputs/outputs.

This is what the rest of cmsim sees of a `.tflite` file (see `cmsim.model.tflite`): no
flatbuffer objects, only shapes, types, quantization and constant arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cmsim.errors import ModelError

__all__ = ["Graph", "ModelError", "Operator", "Quant", "Tensor"]


@dataclass(frozen=True)
class Quant:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per `axis` channel."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int) -> Quant:
        """One scale and zero point for the whole tensor (activations)."""
        return cls((float(scale),), (int(zero_point),))

    @classmethod
    def per_channel(cls, scales, axis: int) -> Quant:
        """Symmetric per-channel quantization along `axis` (weights, biases): zero points 0."""
        scales = tuple(float(s) for s in scales)
        return cls(scales, (0,) * len(scales), axis)

    @property
    def is_per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass
class Tensor:
    """One tensor of the graph; `data` is set for constants (weights, biases, shapes)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: "int8", "int32", "float32", ...
    quant: Quant | None = None
    data: np.ndarray | None = None
    dynamic: bool = False  # a dimension unknown until run time (shape_signature -1 past batch)
    sparse: bool = False  # constant data in TFLite's sparse format

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def scale(self) -> float:
        """The per-tensor scale (the first one of a per-channel tensor)."""
        assert self.quant is not None
        return self.quant.scale[0]

    @property
    def zero_point(self) -> int:
        assert self.quant is not None
        return self.quant.zero_point[0]


@dataclass
class Operator:
    """One operator, with its builtin options as a dict of the schema's field names."""

    index: int
    opcode: str  # the builtin operator's name, e.g. "CONV_2D"
    inputs: tuple[int, ...]  # tensor indices; -1 marks an omitted optional input
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict)


@dataclass
class Graph:
    """The model's main subgraph."""

    name: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    description: str = ""

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]
