"""Regression gates: compare a fresh benchmark with a committed baseline under traces/."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from cmsim.bench.results import BenchResult
from cmsim.errors import CmsimError

DEFAULT_CYCLE_TOLERANCE = 0.01  # cycles are deterministic: 1% is generous
DEFAULT_SPEEDUP_TOLERANCE = 0.01


class BaselineError(CmsimError):
    """A baseline file is missing or unreadable."""


@dataclass(frozen=True)
class Change:
    """One number that moved between the baseline and now."""

    layer: str  # a layer name or "total"
    variant: str
    metric: str  # "cycles" or "speedup"
    baseline: float
    current: float
    regressed: bool

    @property
    def relative(self) -> float:
        return (self.current - self.baseline) / self.baseline if self.baseline else 0.0


def baseline_path(folder: Path, board: str, workload: str = "cifar10") -> Path:
    """traces/baseline-<board>.json for the default workload, -<workload> added for others."""
    suffix = "" if workload == "cifar10" else f"-{workload}"
    return folder / f"baseline-{board}{suffix}.json"


def save_baseline(result: BenchResult, path: Path) -> None:
    """Write a baseline (the benchmark's JSON, keys sorted so diffs stay readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")


def load_baseline(path: Path) -> BenchResult:
    """Read a baseline written by save_baseline."""
    try:
        found = path.is_file()
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    if not found:
        raise BaselineError(f"no baseline at {path} (make one with: cmsim bench --save-baseline)")
    try:
        return BenchResult.from_dict(json.loads(path.read_text()))
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BaselineError(f"unreadable baseline {path}: {type(exc).__name__} {exc}") from None


def checked_baseline(
    baseline: BenchResult,
    path: Path,
    board: str,
    variants: tuple[str, ...],
    layers: tuple[str, ...],
) -> BenchResult:
    """The baseline restricted to `variants`, after checking that it can judge a run of
    `layers` in `variants` on `board` (BaselineError otherwise, before anything runs)."""
    if baseline.board != board:
        raise BaselineError(
            f"baseline {path} was made on board {baseline.board!r}, not {board!r} "
            f"(pass --baseline traces/baseline-{board}.json, or make one with --save-baseline)"
        )
    names = tuple(layer.name for layer in baseline.layers)
    if names != layers:
        missing = [name for name in layers if name not in names] or ["(order)"]
        raise BaselineError(f"baseline {path} does not hold the layers {', '.join(missing)}")
    restricted = []
    for layer in baseline.layers:
        cycles = {v: _cycles(path, layer.name, v, layer.cycles.get(v)) for v in variants}
        restricted.append(replace(layer, cycles=cycles))
    totals = {v: _cycles(path, "total", v, baseline.totals.get(v), 1) for v in variants}
    return replace(baseline, variants=list(variants), layers=restricted, totals=totals)


def _cycles(path: Path, layer: str, variant: str, value: object, least: int = 0) -> int:
    """A baseline cycle count: an integer of at least `least` (a layer may cost 0: a RESHAPE
    that only renames bytes, a ReLU fused into the layer before it; a whole run may not)."""
    if value is None:
        raise BaselineError(f"baseline {path} has no {variant} cycles for {layer}")
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        word = "positive" if least else "non-negative"
        raise BaselineError(
            f"baseline {path}: {layer} {variant} cycles must be a {word} integer, "
            f"not {str(value)[:40]!r}"
        )
    return value


def compare(
    baseline: BenchResult,
    current: BenchResult,
    cycle_tolerance: float = DEFAULT_CYCLE_TOLERANCE,
    speedup_tolerance: float = DEFAULT_SPEEDUP_TOLERANCE,
) -> list[Change]:
    """Every cycle count and speedup ratio that moved; `regressed` marks those beyond tolerance.

    A regression is a cycle count that grew by more than `cycle_tolerance` (relative) or a
    speedup over ref that dropped by more than `speedup_tolerance` (relative). Layers missing
    from the current run count as regressions too; variants the current run did not ask for
    (e.g. cmsis-nn without a checkout) are left out.
    """
    changes: list[Change] = []
    now = {layer.name: layer for layer in current.layers}
    for old in baseline.layers:
        new = now.get(old.name)
        for variant, old_cycles in old.cycles.items():
            if variant not in current.variants:
                continue
            new_cycles = new.cycles.get(variant) if new else None
            changes += _moved(old.name, variant, "cycles", old_cycles, new_cycles, cycle_tolerance)
            if variant != "ref":
                changes += _moved(
                    old.name,
                    variant,
                    "speedup",
                    old.speedup(variant),
                    new.speedup(variant) if new else None,
                    speedup_tolerance,
                )
    for variant, old_total in baseline.totals.items():
        if variant not in current.variants:
            continue
        changes += _moved(
            "total", variant, "cycles", old_total, current.totals.get(variant), cycle_tolerance
        )
        if variant != "ref":
            changes += _moved(
                "total",
                variant,
                "speedup",
                baseline.total_speedup(variant),
                current.total_speedup(variant),
                speedup_tolerance,
            )
    return changes


def _moved(
    layer: str, variant: str, metric: str, old: float | None, new: float | None, tolerance: float
) -> list[Change]:
    if old is None:
        return []
    if new is None:
        return [Change(layer, variant, metric, old, float("nan"), regressed=True)]
    if new == old:
        return []
    grew = (new - old) / old if old else 0.0
    worse = grew > tolerance if metric == "cycles" else -grew > tolerance
    return [Change(layer, variant, metric, old, new, regressed=worse)]
