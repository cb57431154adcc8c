"""One sweep point run where it lands (this process, a local worker, a cluster worker).

A kernel point is one kernel variant on one shape on one board, run through the kernel
harness on the same seeded data as `cmsim bench --kernel` and checked bit for bit against the
numpy golden model. A model point is one variant of a whole .tflite model on one board (one
row per operator, checked against TFLite). Everything a point needs travels with it (the ELF's
bytes too, for workers on other machines); each process loads a harness once per (ELF, board)
and reuses it, starting every point from a cold memory system so that its cycles do not depend
on which points that process ran before.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from cmsim.bench import models
from cmsim.bench.single import KernelCase, macs, run_case
from cmsim.board import Board
from cmsim.errors import CmsimError
from cmsim.harness import Harness
from cmsim.sweep.keys import board_digest

MATCH, MISMATCH, ERROR = "match", "mismatch", "error"


@dataclass(frozen=True)
class Point:
    """One kernel variant on one shape on one board."""

    kernel: str
    shape: tuple[tuple[str, int], ...]
    variant: str
    board: str
    seed: int = 1

    @property
    def shape_text(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.shape)

    def identity(self) -> dict:
        """What the point's result depends on besides the ELF and the board (for the cache)."""
        return {"kernel": self.kernel, "shape": self.shape_text, "variant": self.variant,
                "seed": self.seed}  # fmt: skip

    def error_row(self, message: str) -> Row:
        return Row(self.kernel, self.shape_text, self.variant, self.board, None, 0, None, None,
                   ERROR, 0.0, message, seed=self.seed)  # fmt: skip


@dataclass(frozen=True)
class ModelPoint:
    """One variant of a whole model on one board."""

    model: str  # the model's name (its file's stem)
    digest: str  # of the .tflite file
    variant: str
    board: str
    seed: int = 1

    def identity(self) -> dict:
        return {"model": self.digest, "variant": self.variant, "seed": self.seed}

    def error_row(self, message: str) -> Row:
        return Row("", "", self.variant, self.board, None, 0, None, None, ERROR, 0.0, message,
                   model=self.model, seed=self.seed)  # fmt: skip


@dataclass
class Row:
    """One result row: a kernel point, or one operator of a model point."""

    kernel: str  # kernel name, or the operator's opcode in a model
    shape: str
    variant: str
    board: str
    cycles: int | None  # None when the point failed
    macs: int
    cycles_per_mac: float | None
    speedup: float | None  # the ref row's cycles / this row's (filled in over the whole sweep)
    golden: str  # MATCH, MISMATCH or ERROR
    host_seconds: float
    error: str = ""
    model: str = ""
    operator: str = ""  # "<index> <opcode>" in a model
    seed: int = 1

    @property
    def ok(self) -> bool:
        return self.golden == MATCH


@dataclass(frozen=True)
class Firmware:
    """An ELF by content: workers on other machines get its bytes (`data`), local ones its path."""

    digest: str
    path: str
    data: bytes | None = None

    def shipped(self) -> Firmware:
        """The same firmware carrying its bytes (for a cluster)."""
        return replace(self, data=Path(self.path).read_bytes())

    def local_path(self) -> Path:
        """A path to the ELF in this process's file system (written once from `data`)."""
        if self.data is None:
            return Path(self.path)
        folder = Path(tempfile.gettempdir()) / f"cmsim-sweep-{os.getuid()}"
        target = folder / f"{self.digest}.elf"
        if not target.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            staging = folder / f".{self.digest}.{os.getpid()}.{threading.get_ident()}"
            staging.write_bytes(self.data)
            os.replace(staging, target)  # atomic: a reader never sees half an ELF
        return target


@dataclass(frozen=True)
class ModelSource:
    """A .tflite model's bytes (workers prepare it themselves, once per process)."""

    name: str
    digest: str
    data: bytes


# Per thread (a Dask worker may run several): harnesses by (ELF, board), prepared models.
_local = threading.local()


def run_task(
    point: Point | ModelPoint, board: Board, firmware: Firmware, model: ModelSource | None = None
) -> list[Row]:
    """Run one point; a fault, a limit, a mismatch or any error becomes a row, never a raise."""
    begin = time.perf_counter()
    try:
        if isinstance(point, ModelPoint):
            assert model is not None
            rows = _run_model(point, board, firmware, model)
        else:
            rows = [_run_kernel(point, board, firmware)]
    except Exception as exc:  # the sweep goes on; the error is the point's result
        _forget(firmware, board)  # its machine may be in any state: load it afresh next time
        rows = [point.error_row(describe(exc))]
    share = (time.perf_counter() - begin) / len(rows)
    for row in rows:
        row.host_seconds = share
    return rows


def describe(exc: BaseException) -> str:
    """An exception as one line (its class when the message alone would not say what)."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, CmsimError) and text else f"{type(exc).__name__}: {text}"


def _run_kernel(point: Point, board: Board, firmware: Firmware) -> Row:
    harness = _harness(firmware, board)
    harness.reset_memory()
    case = KernelCase(point.kernel, dict(point.shape), point.seed)
    cycles, matched = run_case(harness, case, point.variant)
    work = macs(case)
    return Row(point.kernel, point.shape_text, point.variant, point.board, cycles, work,
               cycles / work if work else None, None, MATCH if matched else MISMATCH, 0.0,
               seed=point.seed)  # fmt: skip


def _run_model(
    point: ModelPoint, board: Board, firmware: Firmware, source: ModelSource
) -> list[Row]:
    prepared = _prepared(source, point.seed)
    elfs = {point.variant: firmware.local_path()}
    result = models.bench_model(prepared, board, (point.variant,), elfs=elfs)
    rows = []
    for layer in result.layers:
        cycles = layer.cycles[point.variant]
        golden = MATCH if layer.matched[point.variant] else MISMATCH
        rows.append(Row(layer.kind, layer.shape, point.variant, point.board, cycles, layer.macs,
                        cycles / layer.macs if layer.macs else None, None, golden, 0.0,
                        model=point.model, operator=layer.name, seed=point.seed))  # fmt: skip
    return rows


def _cache() -> dict:
    if not hasattr(_local, "cache"):
        _local.cache = {}
    return _local.cache


def _harness(firmware: Firmware, board: Board) -> Harness:
    key = ("harness", firmware.digest, board_digest(board))
    cache = _cache()
    if key not in cache:
        cache[key] = Harness(firmware.local_path(), board)
    return cache[key]


def _forget(firmware: Firmware, board: Board) -> None:
    _cache().pop(("harness", firmware.digest, board_digest(board)), None)


def _prepared(source: ModelSource, seed: int) -> models.PreparedModel:
    key = ("model", source.digest, seed)
    cache = _cache()
    if key not in cache:
        cache[key] = models.prepare(source.data, source.name, seed)
    return cache[key]
