"""From what the user asked (grids, models, variants, boards) to the list of tasks to run.

Everything that must happen once per sweep happens here, in the process that starts it: boards
are loaded, the kernel harness ELF is built once per board, models are read and their firmware
built once per (model, board) for all variants, and every task gets its content key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cmsim.bench import models
from cmsim.bench.results import VARIANTS
from cmsim.bench.runner import build_firmware
from cmsim.bench.single import KernelCase, macs
from cmsim.board import Board, load_board
from cmsim.cmsis_nn import VARIANT as CMSIS_NN
from cmsim.cmsis_nn import Build, Checkout
from cmsim.cmsis_nn import build as build_cmsis_nn
from cmsim.errors import CmsimError
from cmsim.model.build import build_model, check_fits
from cmsim.sweep.grid import GridError, expand
from cmsim.sweep.keys import board_digest, digest_bytes, file_digest, task_key
from cmsim.sweep.points import Firmware, ModelPoint, ModelSource, Point, describe

HARNESS_ELF = "kernel_harness.elf"


@dataclass
class Spec:
    """A sweep as asked: kernel grids and/or models, per variant and board."""

    grids: list[tuple[str, dict]] = field(default_factory=list)  # (kernel, axes)
    models: list[str] = field(default_factory=list)  # .tflite paths
    variants: tuple[str, ...] = VARIANTS
    boards: tuple[str, ...] = ("m4-ideal",)
    seed: int = 1
    cmsis_nn: Checkout | None = None  # needed when variants hold cmsis-nn


@dataclass
class Task:
    """One point to run, with what it needs; `failure` is set when it cannot run at all."""

    point: Point | ModelPoint
    board: Board
    firmware: Firmware | None
    key: str | None
    cost: float  # a rough estimate of its host time, to start the long ones first
    model: ModelSource | None = None
    failure: str | None = None


@dataclass
class Plan:
    tasks: list[Task]
    skipped: int  # invalid grid combinations (per board and variant)


def make_plan(spec: Spec) -> Plan:
    """Load boards, build firmware, expand grids, prepare models; CmsimError on bad input."""
    if not spec.grids and not spec.models:
        raise GridError("nothing to sweep: give --kernel with --grid, a --grid-file or --models")
    boards = _boards(spec.boards)
    tasks: list[Task] = []
    skipped = 0
    cmsis = {b.name: _cmsis_nn(b, spec) for b in boards}
    harnesses = {b.name: _harnesses(b, cmsis[b.name]) for b in boards} if spec.grids else {}
    for kernel, axes in spec.grids:
        expansion = expand(kernel, axes)
        skipped += expansion.skipped * len(boards) * len(spec.variants)
        for shape in expansion.shapes:
            for board in boards:
                found, missing = _kernel_tasks(kernel, shape, board, harnesses[board.name], spec)
                tasks += found
                skipped += missing
    for path in spec.models:
        tasks += _model_tasks(path, boards, spec, cmsis)
    return Plan(_dedupe(tasks), skipped)


def _boards(names: tuple[str, ...]) -> list[Board]:
    boards = [load_board(name) for name in dict.fromkeys(names)]
    seen: set[str] = set()
    for board in boards:
        if board.name in seen:
            raise GridError(f"two boards are named {board.name!r}: rows would not tell them apart")
        seen.add(board.name)
    return boards


def _cmsis_nn(board: Board, spec: Spec) -> Build | None:
    """The CMSIS-NN build for a board, when the sweep times the cmsis-nn variant."""
    if CMSIS_NN not in spec.variants or spec.cmsis_nn is None:
        return None
    return build_cmsis_nn(spec.cmsis_nn, board)


def _harnesses(board: Board, cmsis: Build | None) -> dict[str, Firmware]:
    """The kernel harness per variant: cmsim's, and CMSIS-NN's for the cmsis-nn variant."""
    elf = build_firmware(board) / HARNESS_ELF
    found = {"": Firmware(file_digest(elf), str(elf))}
    if cmsis is not None:
        found[CMSIS_NN] = Firmware(file_digest(cmsis.harness), str(cmsis.harness))
    return found


def _kernel_tasks(
    kernel: str, shape: dict[str, int], board: Board, harnesses: dict[str, Firmware], spec: Spec
) -> tuple[list[Task], int]:
    """The kernel's points on one shape and board, and how many variants do not exist."""
    work = macs(KernelCase(kernel, shape))
    digest = board_digest(board)
    tasks = []
    for variant in spec.variants:
        if variant == CMSIS_NN and kernel == "relu":
            continue  # CMSIS-NN has no int8 ReLU with a zero point (TFLM fuses it)
        harness = harnesses.get(variant, harnesses[""])
        point = Point(kernel, tuple(shape.items()), variant, board.name, spec.seed)
        key = task_key(harness.digest, digest, point.identity())
        # ref C runs about four times the cycles of opt/asm, each cycle costing host time too
        cost = (4 if variant == "ref" else 1) * max(work, _elements(shape))
        tasks.append(Task(point, board, harness, key, cost))
    return tasks, len(spec.variants) - len(tasks)


def _elements(shape: dict[str, int]) -> int:
    return shape.get("h", 1) * shape.get("w", 1) * shape.get("c", 1)


def _model_tasks(
    path: str, boards: list[Board], spec: Spec, cmsis: dict[str, Build | None]
) -> list[Task]:
    prepared = models.load(path, spec.seed)  # a bad file is bad input: ModelError, exit 2
    data = Path(path).read_bytes()
    source = ModelSource(prepared.name, digest_bytes(data), data)
    cost = float(sum(step.macs for step in prepared.steps)) * 4
    tasks = []
    for board in boards:
        try:
            check_fits(prepared.name, board, len(prepared.sources.blob), prepared.plan.size)
            build = cmsis[board.name]
            extra = build.make_variables() if build else ()
            elfs = build_model(prepared.name, prepared.sources, board, spec.variants, extra)
            failure = None
        except CmsimError as exc:  # does not fit this board, or did not build: a failed point
            elfs, failure = {}, describe(exc)
        for variant in spec.variants:
            point = ModelPoint(prepared.name, source.digest, variant, board.name, spec.seed)
            if failure is not None:
                tasks.append(Task(point, board, None, None, 0, source, failure))
                continue
            firmware = Firmware(file_digest(elfs[variant]), str(elfs[variant]))
            key = task_key(firmware.digest, board_digest(board), point.identity())
            tasks.append(Task(point, board, firmware, key, cost, source))
    return tasks


def _dedupe(tasks: list[Task]) -> list[Task]:
    """A point given twice (overlapping grids, a model listed twice) runs once; two different
    models of one name would give rows that cannot be told apart: refused."""
    kept: list[Task] = []
    seen: set[Point | ModelPoint] = set()
    model_digests: dict[str, str] = {}
    for task in tasks:
        point = task.point
        if isinstance(point, ModelPoint):
            if model_digests.setdefault(point.model, point.digest) != point.digest:
                raise GridError(f"two different models are named {point.model!r}")
        if point not in seen:
            seen.add(point)
            kept.append(task)
    return kept
