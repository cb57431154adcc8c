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
    harnesses = {b.name: _harness(b) for b in boards} if spec.grids else {}
    for kernel, axes in spec.grids:
        expansion = expand(kernel, axes)
        skipped += expansion.skipped * len(boards) * len(spec.variants)
        for shape in expansion.shapes:
            for board in boards:
                tasks += _kernel_tasks(kernel, shape, board, harnesses[board.name], spec)
    for path in spec.models:
        tasks += _model_tasks(path, boards, spec)
    return Plan(_dedupe(tasks), skipped)


def _boards(names: tuple[str, ...]) -> list[Board]:
    boards = [load_board(name) for name in dict.fromkeys(names)]
    seen: set[str] = set()
    for board in boards:
        if board.name in seen:
            raise GridError(f"two boards are named {board.name!r}: rows would not tell them apart")
        seen.add(board.name)
    return boards


def _harness(board: Board) -> Firmware:
    elf = build_firmware(board) / HARNESS_ELF
    return Firmware(file_digest(elf), str(elf))


def _kernel_tasks(
    kernel: str, shape: dict[str, int], board: Board, harness: Firmware, spec: Spec
) -> list[Task]:
    work = macs(KernelCase(kernel, shape))
    digest = board_digest(board)
    tasks = []
    for variant in spec.variants:
        point = Point(kernel, tuple(shape.items()), variant, board.name, spec.seed)
        key = task_key(harness.digest, digest, point.identity())
        # ref C runs about four times the cycles of opt/asm, each cycle costing host time too
        cost = (4 if variant == "ref" else 1) * max(work, _elements(shape))
        tasks.append(Task(point, board, harness, key, cost))
    return tasks


def _elements(shape: dict[str, int]) -> int:
    return shape.get("h", 1) * shape.get("w", 1) * shape.get("c", 1)


def _model_tasks(path: str, boards: list[Board], spec: Spec) -> list[Task]:
    prepared = models.load(path, spec.seed)  # a bad file is bad input: ModelError, exit 2
    data = Path(path).read_bytes()
    source = ModelSource(prepared.name, digest_bytes(data), data)
    cost = float(sum(step.macs for step in prepared.steps)) * 4
    tasks = []
    for board in boards:
        try:
            check_fits(prepared.name, board, len(prepared.sources.blob), prepared.plan.size)
            elfs = build_model(prepared.name, prepared.sources, board, spec.variants)
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
