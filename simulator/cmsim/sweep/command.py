"""The `cmsim sweep` command's arguments and what it does with them (cli.py only hooks it in)."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from rich.console import Console

from cmsim.bench.results import ALL_VARIANTS
from cmsim.bench.single import KERNELS
from cmsim.cmsis_nn import ENVIRONMENT, find_checkout
from cmsim.cmsis_nn import VARIANT as CMSIS_NN
from cmsim.errors import CmsimError
from cmsim.sweep.cache import open_cache
from cmsim.sweep.cluster import Cluster
from cmsim.sweep.grid import GridError, load_grid_file, parse_grid
from cmsim.sweep.local import run_local
from cmsim.sweep.output import write_outputs
from cmsim.sweep.plan import Spec, make_plan
from cmsim.sweep.report import SweepProgress, failures, summary, written
from cmsim.sweep.run import run_sweep

HELP = "cycles over a grid of shapes, variants and boards, or of models (cached, parallel, Dask)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep subcommand's options."""
    what = parser.add_argument_group("what to sweep")
    what.add_argument("--kernel", choices=KERNELS, help="the kernel of --grid")
    what.add_argument(
        "--grid",
        default="",
        metavar='"K=V,V K=K ..."',
        help='shape axes, e.g. "h=8,16 w=h c=8,16 k=1,3 pad=same" (w=h: w takes h\'s value)',
    )
    what.add_argument("--grid-file", metavar="GRID.toml", help="grids for several kernels")
    what.add_argument("--models", metavar="A.tflite,B.tflite", help="whole models, per operator")
    what.add_argument(
        "--variants",
        type=_variants,
        help="comma-separated, default ref,opt,asm and cmsis-nn with --cmsis-nn (or the file's)",
    )
    what.add_argument(
        "--cmsis-nn",
        metavar="PATH",
        help=f"a CMSIS-NN checkout to build and time as the cmsis-nn variant (or ${ENVIRONMENT})",
    )
    what.add_argument(
        "--boards", type=_list, help="presets or board files, default m4-ideal (or the file's)"
    )
    what.add_argument("--seed", type=_not_negative, help="input data seed (default 1)")
    how = parser.add_argument_group("how to run it")
    how.add_argument(
        "-j",
        "--jobs",
        type=_positive,
        default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1,
        help="worker processes (default: all cores, %(default)s here)",
    )
    how.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="a Dask scheduler (tcp://host:8786 or a scheduler file)",
    )
    how.add_argument("--cache", metavar="DIR", help="result cache (default ~/.cache/cmsim/sweep)")
    how.add_argument("--fresh", action="store_true", help="compute every point again")
    out = parser.add_argument_group("output")
    out.add_argument(
        "--out", default="sweep", metavar="DIR", help="rows.csv, rows.jsonl, rows.parquet, "
        "latency.json go here (default %(default)s)"
    )  # fmt: skip
    out.add_argument("--plot", metavar="OUT.png", help="heatmaps of cycles/MAC, speedup bars")


def run(args: argparse.Namespace) -> int:
    """Plan, run and write the sweep; 0 when every point matched, 1 when one failed."""
    spec = spec_from_args(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CmsimError(f"--out {out}: not a directory")
    if args.plot and not Path(args.plot).parent.is_dir():
        raise CmsimError(f"cannot write {args.plot}: no such directory")
    console = Console(stderr=True)

    def warn(message: str) -> None:
        sys.stderr.write(f"cmsim: warning: {message}\n")

    cache = open_cache(args.cache, warn)
    plan = make_plan(spec)
    with ExitStack() as stack:
        if args.cluster:
            execute = stack.enter_context(Cluster(args.cluster)).run
            title = f"sweep on {args.cluster}"
        else:
            execute = partial(run_local, jobs=args.jobs)
            title = f"sweep -j {args.jobs}"
        progress = stack.enter_context(SweepProgress(console, title))
        outcome = run_sweep(plan, cache, execute, fresh=args.fresh, progress=progress)
    paths = write_outputs(outcome.rows, out)
    if args.plot:
        from cmsim.sweep.plot import plot_sweep

        paths["plot"] = plot_sweep(outcome.rows, args.plot)
    print(summary(outcome))
    for line in failures(outcome):
        print(f"  failed: {line}")
    print(written(paths))
    return 0 if outcome.failed == 0 else 1


def spec_from_args(args: argparse.Namespace) -> Spec:
    """The command line over the grid file over the defaults."""
    spec = Spec()
    if args.grid_file:
        found = load_grid_file(args.grid_file)
        spec.grids = list(found.grids)
        spec.models = list(found.models)
        if found.variants:
            try:
                spec.variants = _variants(",".join(found.variants))
            except argparse.ArgumentTypeError as exc:
                raise GridError(f"grid file {args.grid_file}: {exc}") from None
        if found.boards:
            spec.boards = tuple(found.boards)
        if found.seed is not None:
            spec.seed = found.seed
    if args.grid and not args.kernel:
        raise GridError("--grid needs --kernel (or put the grids in a --grid-file)")
    if args.kernel:
        spec.grids.append((args.kernel, parse_grid(args.kernel, args.grid)))
    if args.models:
        spec.models += _list(args.models)
    spec.cmsis_nn = find_checkout(args.cmsis_nn)
    if args.variants:
        spec.variants = args.variants
    elif spec.cmsis_nn is not None and CMSIS_NN not in spec.variants:
        spec.variants = (*spec.variants, CMSIS_NN)
    if CMSIS_NN in spec.variants and spec.cmsis_nn is None:
        raise GridError(f"the cmsis-nn variant needs --cmsis-nn PATH (or ${ENVIRONMENT})")
    spec.boards = tuple(args.boards or spec.boards)
    spec.seed = spec.seed if args.seed is None else args.seed
    return spec


def _list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"an empty list: {text!r}")
    return items


def _variants(text: str) -> tuple[str, ...]:
    chosen = _list(text)
    unknown = [v for v in chosen if v not in ALL_VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown variant {unknown[0]!r} (known: {', '.join(ALL_VARIANTS)})"
        )
    return tuple(v for v in ALL_VARIANTS if v in chosen)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer: {text!r}")
    return int(text)


def _not_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a non-negative integer: {text!r}")
    return int(text)
