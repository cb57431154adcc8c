"""`cmsim bench --model M.tflite`: a TFLite model's operators timed per kernel variant.

The model is read, lowered to kernel calls, given an activation arena, generated as C and
built once per variant (cmsim.model). Each build runs on the board; when an operator's region
ends, its output tensor is read from the arena and compared bit for bit with TFLite's
reference kernels on the same seeded input (cmsim.model.reference).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmsim import cmsis_nn as cmsis_nn_build
from cmsim.bench.results import BenchResult, LayerResult
from cmsim.bench.runner import BenchError, core_variants, run_variant
from cmsim.board import Board
from cmsim.image import Image
from cmsim.machine import Machine
from cmsim.model.arena import Plan, plan_arena
from cmsim.model.build import build_model, check_fits
from cmsim.model.codegen import ARENA_SYMBOL, Sources, generate
from cmsim.model.graph import Graph
from cmsim.model.lower import Step, lower
from cmsim.model.reference import reference_tensors, seeded_inputs
from cmsim.model.tflite import parse_model, read_model

DEFAULT_SEED = 1


@dataclass
class PreparedModel:
    """A model ready to build: its graph, kernel calls, arena plan, seeded input and C."""

    name: str
    data: bytes
    graph: Graph
    steps: list[Step]
    plan: Plan
    inputs: dict[int, np.ndarray]
    sources: Sources

    @property
    def layer_steps(self) -> list[Step]:
        """The steps that run code (aliases run none)."""
        return [s for s in self.steps if not s.is_alias]


def prepare(data: bytes, name: str, seed: int = DEFAULT_SEED) -> PreparedModel:
    """Parse, check and lower a model and generate its firmware source (nothing built yet)."""
    graph = parse_model(data, name)
    steps = lower(graph)
    plan = plan_arena(graph, steps)
    inputs = seeded_inputs(graph, seed)
    return PreparedModel(
        name, data, graph, steps, plan, inputs, generate(graph, steps, plan, inputs)
    )


def load(path: str | Path, seed: int = DEFAULT_SEED) -> PreparedModel:
    """prepare() for a .tflite file."""
    graph, data = read_model(path)
    return prepare(data, graph.name, seed)


def _reader(model: PreparedModel) -> Callable[[str, Machine, Image], np.ndarray | None]:
    by_name = {s.name: s for s in model.layer_steps}

    def read(region: str, machine: Machine, image: Image) -> np.ndarray | None:
        step = by_name.get(region)
        if step is None:
            return None
        t = model.graph.tensor(step.output)
        address = image.symbol(ARENA_SYMBOL) + model.plan.offsets[step.output]
        return np.frombuffer(bytes(machine.uc.mem_read(address, t.nbytes)), dtype=t.dtype)

    return read


def bench_model(
    model: PreparedModel,
    board: Board,
    variants: tuple[str, ...],
    progress: Callable[[str, str], None] | None = None,
    cmsis_nn: cmsis_nn_build.Build | None = None,
    elfs: dict[str, Path] | None = None,
) -> BenchResult:
    """Build and run every variant; one row per operator, checked against TFLite. The
    `cmsis-nn` variant links the CMSIS-NN build `cmsis_nn` (cmsim.cmsis_nn.build); `elfs` are
    the variants' ELFs when already built (cmsim sweep builds them once and runs them in other
    processes)."""
    begin = time.perf_counter()
    variants, unavailable = core_variants(board, variants)
    if cmsis_nn_build.VARIANT in variants and cmsis_nn is None and elfs is None:
        raise BenchError("the cmsis-nn variant needs a CMSIS-NN checkout (--cmsis-nn PATH)")
    check_fits(model.name, board, len(model.sources.blob), model.plan.size)
    outputs = {s.output for s in model.layer_steps}
    golden = reference_tensors(model.data, model.graph, model.inputs, outputs, isolated=True)
    if elfs is None:
        extra = cmsis_nn.make_variables() if cmsis_nn else ()
        elfs = build_model(model.name, model.sources, board, variants, extra)
    rows = [LayerResult(s.name, s.op.opcode, s.shape_text, s.macs) for s in model.steps]
    result = BenchResult(model.name, board.name, board.clock_hz, list(variants), rows)
    result.notes.extend(unavailable)
    for variant in variants:
        run = run_variant(
            elfs[variant],
            board,
            _reader(model),
            (lambda name, v=variant: progress(v, name)) if progress else None,
            arena=model.plan.size,
        )
        matched: dict[int, bool] = {}
        for step, row in zip(model.steps, rows, strict=True):
            if step.is_alias:  # no code: it holds what its input's producer wrote
                row.cycles[variant] = 0
                row.matched[variant] = matched.get(step.inputs[0], True)
                matched[step.output] = row.matched[variant]
                continue
            got = run.layer_outputs.get(step.name)
            if got is None:
                raise _never_finished(model, variant, step)
            want = golden[step.output]
            row.cycles[variant] = run.layer_cycles[step.name]
            row.matched[variant] = got.tobytes() == np.ascontiguousarray(want).tobytes()
            matched[step.output] = row.matched[variant]
        result.totals[variant] = run.total_cycles
        assert run.footprint is not None
        result.footprints[variant] = run.footprint
    result.host_seconds = time.perf_counter() - begin
    return result


def _never_finished(model: PreparedModel, variant: str, step: Step) -> Exception:
    return BenchError(f"{model.name} ({variant}) never finished operator {step.name}")
