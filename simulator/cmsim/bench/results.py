"""Benchmark results as data: per-layer cycles per kernel variant, speedups, footprints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

VARIANTS = ("ref", "opt", "asm")  # cmsim's own kernels, always built
ALL_VARIANTS = (*VARIANTS, "cmsis-nn")  # cmsis-nn: built from a CMSIS-NN checkout


@dataclass
class LayerResult:
    """One layer (or one kernel call) timed in each variant."""

    name: str
    kind: str
    shape: str
    macs: int
    cycles: dict[str, int] = field(default_factory=dict)
    matched: dict[str, bool] = field(default_factory=dict)

    def speedup(self, variant: str, base: str = "ref") -> float | None:
        """cycles[base] / cycles[variant], or None when either is missing."""
        if variant not in self.cycles or base not in self.cycles or not self.cycles[variant]:
            return None
        return self.cycles[base] / self.cycles[variant]

    def cycles_per_mac(self, variant: str) -> float | None:
        if not self.macs or variant not in self.cycles:
            return None
        return self.cycles[variant] / self.macs


@dataclass
class Footprint:
    """Memory a build needs: flash and static RAM from the ELF, stack and scratch measured."""

    flash_bytes: int
    ram_bytes: int
    peak_stack_bytes: int
    scratch_bytes: int = 0
    arena_bytes: int = 0  # a model's activation arena (part of the static RAM)


@dataclass
class BenchResult:
    """A whole benchmark run: the workload on one board, every variant."""

    workload: str
    board: str
    clock_hz: int
    variants: list[str]
    layers: list[LayerResult]
    totals: dict[str, int] = field(default_factory=dict)  # cycles of one whole inference
    footprints: dict[str, Footprint] = field(default_factory=dict)
    host_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # shown under the table

    @property
    def all_matched(self) -> bool:
        return all(all(layer.matched.values()) for layer in self.layers)

    def total_speedup(self, variant: str, base: str = "ref") -> float | None:
        if variant not in self.totals or base not in self.totals or not self.totals[variant]:
            return None
        return self.totals[base] / self.totals[variant]

    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def to_dict(self) -> dict:
        """Plain data for JSON (speedups included, so a reader needs no arithmetic)."""
        data = asdict(self)
        for layer, row in zip(self.layers, data["layers"], strict=True):
            row["speedup"] = {v: layer.speedup(v) for v in self.variants if v != "ref"}
        data["total_speedup"] = {v: self.total_speedup(v) for v in self.variants if v != "ref"}
        data["all_matched"] = self.all_matched
        return data

    @classmethod
    def from_dict(cls, data: dict) -> BenchResult:
        layers = [
            LayerResult(
                name=row["name"],
                kind=row["kind"],
                shape=row["shape"],
                macs=row["macs"],
                cycles=dict(row["cycles"]),
                matched=dict(row.get("matched", {})),
            )
            for row in data["layers"]
        ]
        footprints = {k: Footprint(**v) for k, v in data.get("footprints", {}).items()}
        return cls(
            workload=data["workload"],
            board=data["board"],
            clock_hz=data["clock_hz"],
            variants=list(data["variants"]),
            layers=layers,
            totals=dict(data.get("totals", {})),
            footprints=footprints,
            host_seconds=data.get("host_seconds", 0.0),
            notes=list(data.get("notes", [])),
        )
