"""Host time of `cmsim bench --workload vww` (three variants), split into its parts.

    .venv/bin/python tests/bench/model_speed.py [--board m4-ideal] [--workload vww]

Cold = the model's firmware is built (its cache folder removed first); warm = reused. The
parts: writing the model, reading and lowering it, TFLite's reference run (the golden model),
building, and simulating each variant. Target (issue 11): under 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "simulator"))

from cmsim.bench import models  # noqa: E402
from cmsim.bench.results import VARIANTS  # noqa: E402
from cmsim.bench.runner import run_variant  # noqa: E402
from cmsim.board import load_board  # noqa: E402
from cmsim.model.build import build_model  # noqa: E402
from cmsim.model.reference import reference_tensors  # noqa: E402
from cmsim.model.workloads import build_workload  # noqa: E402


def timed(label: str, parts: dict, work):
    begin = time.perf_counter()
    result = work()
    parts[label] = time.perf_counter() - begin
    return result


def once(workload: str, board_name: str, cold: bool) -> dict[str, float]:
    parts: dict[str, float] = {}
    board = load_board(board_name)
    data = timed("write model", parts, lambda: build_workload(workload))
    model = timed("read + lower + generate", parts, lambda: models.prepare(data, workload))
    outputs = {s.output for s in model.layer_steps}
    timed(
        "TFLite reference",
        parts,
        lambda: reference_tensors(data, model.graph, model.inputs, outputs),
    )
    if cold:
        folder = build_model(workload, model.sources, board, VARIANTS)["ref"].parent
        shutil.rmtree(folder)
    elfs = timed("build", parts, lambda: build_model(workload, model.sources, board, VARIANTS))
    for variant in VARIANTS:
        timed(
            f"simulate {variant}",
            parts,
            lambda v=variant: run_variant(elfs[v], board, lambda *a: None),
        )
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="m4-ideal")
    parser.add_argument("--workload", default="vww")
    args = parser.parse_args()
    for label, cold in (("cold", True), ("warm", False)):
        parts = once(args.workload, args.board, cold)
        total = sum(parts.values())
        detail = ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
        print(f"{args.workload} on {args.board}, {label}: {total:.1f} s ({detail})")
    begin = time.perf_counter()
    models.bench_model(models.prepare(build_workload(args.workload), args.workload),
                       load_board(args.board), VARIANTS)  # fmt: skip
    print(f"bench_model (warm, as `cmsim bench` runs it): {time.perf_counter() - begin:.1f} s")


if __name__ == "__main__":
    main()
