"""The golden model of a `.tflite` file: TFLite's own reference kernels, every tensor kept.

LiteRT's interpreter runs the model with the BUILTIN_REF op resolver (the reference
kernels, not the optimized ones) and `experimental_preserve_all_tensors`, so every
operator's output can be compared with the firmware's. The seeded input is what the firmware
gets too.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cmsim.model.graph import Graph, ModelError


def seeded_inputs(graph: Graph, seed: int) -> dict[int, np.ndarray]:
    """Random data for every graph input: the full int8/uint8 range, or for a float input the
    range its QUANTIZE consumer can represent (so no value saturates)."""
    rng = np.random.default_rng(seed)
    data = {}
    for index in graph.inputs:
        t = graph.tensor(index)
        if t.dtype == "int8":
            data[index] = rng.integers(-128, 128, t.shape).astype(np.int8)
        elif t.dtype == "uint8":
            data[index] = rng.integers(0, 256, t.shape).astype(np.uint8)
        else:
            low, high = _float_range(graph, index)
            data[index] = rng.uniform(low, high, t.shape).astype(np.float32)
    return data


def _float_range(graph: Graph, index: int) -> tuple[float, float]:
    for op in graph.operators:
        if op.opcode == "QUANTIZE" and op.inputs and op.inputs[0] == index:
            out = graph.tensor(op.outputs[0])
            if out.quant is not None:
                return out.scale * (-128 - out.zero_point), out.scale * (127 - out.zero_point)
    return -1.0, 1.0


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """The interpreter's C++ side logs to file descriptor 2; keep it off the user's terminal."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def reference_interpreter(model: bytes):
    """LiteRT's interpreter on `model` with the reference kernels and every tensor kept,
    tensors allocated (RuntimeError or ValueError when TFLite rejects the model)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_content=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    return interpreter


def reference_tensors(
    model: bytes,
    graph: Graph,
    inputs: dict[int, np.ndarray],
    tensors: set[int],
    isolated: bool = False,
) -> dict[int, np.ndarray]:
    """Run the model in TFLite with its reference kernels; the values of `tensors`.

    `isolated` runs TFLite in a child process: its C++ kernels abort the whole process on
    some models they do not support (e.g. an int8 softmax whose input scale is below 2^-26),
    and a user's model must get a clear error instead."""
    if isolated:
        return _in_child_process(model, graph, inputs, tensors)
    try:
        with _quiet_stderr():
            interpreter = reference_interpreter(model)
            for index, data in inputs.items():
                interpreter.set_tensor(index, data.reshape(graph.tensor(index).shape))
            interpreter.invoke()
            return {i: np.array(interpreter.get_tensor(i)) for i in sorted(tensors)}
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{graph.name}: TFLite's interpreter rejects the model: {first}") from None


def _in_child_process(
    model: bytes, graph: Graph, inputs: dict[int, np.ndarray], tensors: set[int]
) -> dict[int, np.ndarray]:
    """reference_tensors in `python -m cmsim.model.reference` (a plain child process: no
    multiprocessing, which would re-import the caller's main script)."""
    package_root = str(Path(__file__).resolve().parents[2])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [package_root, *filter(None, [os.environ.get("PYTHONPATH")])]
    )}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "cmsim.model.reference"],
        input=pickle.dumps((model, graph, inputs, tensors)),
        capture_output=True,
        env=environment,
        check=False,
    )
    if done.returncode == 0:
        status, value = pickle.loads(done.stdout)
        if status == "ok":
            return value
        raise ModelError(value)
    raise ModelError(
        f"{graph.name}: TFLite's reference interpreter crashed on this model (its C++ kernels "
        "abort on what they do not support), so there is no golden output"
    )


def _serve() -> None:
    """The child's side: a pickled request on stdin, ("ok", tensors) or ("error", message)."""
    model, graph, inputs, tensors = pickle.loads(sys.stdin.buffer.read())
    try:
        answer = ("ok", reference_tensors(model, graph, inputs, tensors))
    except ModelError as exc:
        answer = ("error", str(exc))
    sys.stdout.buffer.write(pickle.dumps(answer))


if __name__ == "__main__":
    _serve()
