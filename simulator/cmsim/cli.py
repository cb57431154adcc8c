"""The `cmsim` command: parses arguments, calls the library, renders with rich. Nothing else."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from cmsim.bench import cifar10, models
from cmsim.bench.baseline import (
    DEFAULT_CYCLE_TOLERANCE,
    DEFAULT_SPEEDUP_TOLERANCE,
    baseline_path,
    checked_baseline,
    compare,
    load_baseline,
    save_baseline,
)
from cmsim.bench.cross import render_cross_json, render_cross_markdown, render_cross_rich
from cmsim.bench.models import PreparedModel
from cmsim.bench.report import (
    TABLE_WIDTH,
    render_changes,
    render_csv,
    render_json,
    render_markdown,
    render_model,
    render_rich,
)
from cmsim.bench.results import VARIANTS, BenchResult
from cmsim.bench.runner import REPO_ROOT, run_bench
from cmsim.bench.single import KERNELS, KernelCase, bench_kernel, parse_shape
from cmsim.board import Board, load_board, preset_names
from cmsim.cmsis_nn import ENVIRONMENT, find_checkout
from cmsim.cmsis_nn import VARIANT as CMSIS_NN
from cmsim.cmsis_nn import Build as CmsisNnBuild
from cmsim.cmsis_nn import build as build_cmsis_nn
from cmsim.engine import DEFAULT_MAX_INSTRUCTIONS, Engine, RunResult
from cmsim.errors import CmsimError, Interrupted, OutputClosed, OutputError
from cmsim.image import load_image
from cmsim.machine import Machine
from cmsim.model.workloads import WORKLOADS, build_workload, write_workload
from cmsim.profile import (
    Annotation,
    Annotator,
    InstructionStats,
    Profile,
    Profiler,
    find_code,
)
from cmsim.progress import show_progress
from cmsim.sweep import command as sweep_command
from cmsim.timing.cores import core_names
from cmsim.timing.cortex_m4 import BASE, DIVIDE, FAILED
from cmsim.trace import (
    profile_summary,
    write_chrome_trace,
    write_collapsed,
    write_profile_csv,
    write_profile_json,
)

USAGE_ERROR = 2
MAX_COUNT = 1 << 62  # counts and limits stay well inside the C fast path's int64
PIPE_WIDTH = 1000  # a console this wide prints every table at its natural width
ANNOTATE_WIDE = 130  # terminal columns from which annotate shows the reasons in a column
TRACES_DIR = REPO_ROOT / "traces"
WORKLOAD_NAMES = ("cifar10", *WORKLOADS)


class _Console(Console):
    """rich's Console, except that a closed pipe ends cmsim the way main() handles it (rich
    would exit 1)."""

    def on_broken_pipe(self) -> None:
        raise OutputClosed()


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line (no usage dump) and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"cmsim: error: {message} (see 'cmsim --help')\n")
        raise SystemExit(USAGE_ERROR)


def _positive(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    if value >= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"too large: {text!r} (the limit is 2^62 - 1)")
    return value


def _not_negative(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    if value >= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"too large: {text!r} (the limit is 2^62 - 1)")
    return value


def _add_machine_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("elf", help="firmware ELF built with arm-none-eabi-gcc")
    command.add_argument(
        "--board",
        default="m4-ideal",
        help=f"board preset ({', '.join(preset_names())}) or a .toml/.json board file",
    )
    command.add_argument(
        "--core",
        choices=core_names(),
        default=None,
        help="run the board with this core instead of the one it names (a what-if)",
    )
    command.add_argument(
        "--max-instructions",
        type=_positive,
        default=DEFAULT_MAX_INSTRUCTIONS,
        help="stop a firmware that runs longer than this (default: %(default)s)",
    )
    command.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    command.add_argument(
        "--width",
        type=_positive,
        help="table width in columns (default: the terminal's; a pipe or file gets each "
        "table's natural width)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cmsim", description="Cycle-accurate Cortex-M simulator for NN kernels.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="run a firmware ELF and report instructions and cycles")
    _add_machine_arguments(run)
    profiling = run.add_argument_group("profiling (any of these turns the profiler on)")
    profiling.add_argument(
        "--profile", action="store_true", help="print cycles per function (and named regions)"
    )
    profiling.add_argument(
        "--top",
        metavar="N",
        type=_positive,
        default=20,
        help="functions in the --profile table (default 20)",
    )
    profiling.add_argument(
        "--trace", metavar="OUT.json", help="write a Chrome trace (Perfetto, chrome://tracing)"
    )
    profiling.add_argument(
        "--trace-min-cycles",
        metavar="N",
        type=_not_negative,
        default=0,
        help="leave calls shorter than N cycles out of the trace (keeps files small)",
    )
    profiling.add_argument(
        "--collapsed", metavar="OUT.txt", help="write collapsed stacks (speedscope, flamegraph.pl)"
    )
    profiling.add_argument("--profile-json", metavar="OUT.json", help="write the profile as JSON")
    profiling.add_argument("--profile-csv", metavar="OUT.csv", help="write the profile as CSV")
    annotate = commands.add_parser(
        "annotate",
        help="disassemble a function with executions, cycles and their reasons per instruction",
    )
    _add_machine_arguments(annotate)
    annotate.add_argument(
        "function",
        nargs="?",
        help="function name (ELF symbol) or address range (0x08000400-0x08000480)",
    )
    annotate.add_argument(
        "--region", metavar="NAME", help="explain what runs inside a named region instead"
    )
    annotate.add_argument(
        "--quiet", action="store_true", help="drop the firmware's output (else it goes to stderr)"
    )

    bench = commands.add_parser(
        "bench",
        help="ref vs opt vs asm kernels per layer of a network or a .tflite model: speedup table",
    )
    _add_bench_options(bench)
    formats = bench.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print the results as JSON")
    formats.add_argument("--csv", action="store_true", help="print the table as CSV")
    formats.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    bench.add_argument(
        "--kernel", choices=KERNELS, help="time one kernel instead of a network (random data)"
    )
    bench.add_argument(
        "--boards",
        type=_board_list,
        default=None,
        metavar="B1,B2,...",
        help="run the network on each board (each with its own core) and print one table",
    )
    bench.add_argument(
        "--shape",
        default="",
        metavar="K=V,...",
        help="with --kernel: shape keys over the kernel's defaults, e.g. h=16,w=16,c=32,o=32,k=5",
    )
    bench.add_argument(
        "--seed",
        type=_not_negative,
        default=1,
        help="with --kernel, --model or --workload: input data seed (0 or more)",
    )
    bench.add_argument(
        "--save-baseline",
        nargs="?",
        const="",
        metavar="PATH",
        help="also write the results as the baseline (default: see cmsim check --baseline)",
    )

    model = commands.add_parser("model", help="write a built-in model, or show how a model runs")
    actions = model.add_subparsers(dest="action", required=True, parser_class=_Parser)
    write = actions.add_parser("write", help="write a built-in MLPerf Tiny workload as .tflite")
    write.add_argument("--workload", required=True, choices=list(WORKLOADS))
    write.add_argument("-o", "--output", required=True, metavar="OUT.tflite")
    write.add_argument("--seed", type=_not_negative, default=None, help="weights seed")
    show = actions.add_parser(
        "show", help="the operators of a .tflite model as cmsim runs them (nothing is built)"
    )
    show.add_argument("model", metavar="M.tflite")

    check = commands.add_parser(
        "check", help="re-run the benchmark and fail when it regressed against the baseline"
    )
    _add_bench_options(check)
    check.add_argument(
        "--baseline",
        metavar="PATH",
        help="default traces/baseline-<board>[-<workload>].json, or for --model M.tflite "
        "M.<board>.baseline.json beside the model",
    )
    check.add_argument(
        "--cycle-tolerance",
        type=_fraction,
        default=DEFAULT_CYCLE_TOLERANCE,
        help="allowed relative growth of a cycle count (default %(default)s = 1%%)",
    )
    check.add_argument(
        "--speedup-tolerance",
        type=_fraction,
        default=DEFAULT_SPEEDUP_TOLERANCE,
        help="allowed relative drop of a speedup ratio (default %(default)s = 1%%)",
    )
    sweep_command.add_arguments(commands.add_parser("sweep", help=sweep_command.HELP))
    validate = commands.add_parser(
        "validate", help="replay hardware measurements and compare (CMEmu CC2652 dumps)"
    )
    sources = validate.add_subparsers(dest="source", required=True, parser_class=_Parser)
    cmemu = sources.add_parser("cmemu", help="CMEmu dumps (NAME.tzst) in a folder")
    cmemu.add_argument("folder", help="folder searched for *.tzst (recursively)")
    cmemu.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only configurations whose setting matches, e.g. code=sram (repeatable)",
    )
    cmemu.add_argument("--board", help="board for every configuration (default: the chip's)")
    cmemu.add_argument("--path", choices=("fast", "reference"), default="fast")
    cmemu.add_argument("--json", metavar="OUT.json", help="also write the full report as JSON")
    return parser


def _add_bench_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--board",
        default="m4-ideal",
        help=f"board preset ({', '.join(preset_names())}) or a .toml/.json board file",
    )
    parser.add_argument(
        "--core",
        choices=core_names(),
        default=None,
        help="run the board with this core instead of the one it names (a what-if)",
    )
    parser.add_argument(
        "--variants",
        type=_variants,
        default=None,
        help="comma-separated kernel variants, ref first (default: ref,opt,asm, and cmsis-nn "
        "with --cmsis-nn)",
    )
    parser.add_argument(
        "--cmsis-nn",
        metavar="PATH",
        help=f"a CMSIS-NN checkout to build and time as the cmsis-nn variant (or ${ENVIRONMENT})",
    )
    network = parser.add_mutually_exclusive_group()
    network.add_argument(
        "--workload",
        choices=WORKLOAD_NAMES,
        default="cifar10",
        help="built-in network (default cifar10; ic, kws, vww, ad: the MLPerf Tiny models)",
    )
    network.add_argument(
        "--model", metavar="M.tflite", help="a full-integer int8 TFLite model instead"
    )


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 10:
        raise argparse.ArgumentTypeError(f"tolerance out of range: {text!r}")
    return value


def _variants(text: str) -> tuple[str, ...]:
    chosen = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in chosen if v not in (*VARIANTS, CMSIS_NN)]
    if unknown or not chosen or chosen[0] != "ref":
        raise argparse.ArgumentTypeError(
            f"{text!r}: pick from {','.join((*VARIANTS, CMSIS_NN))}, starting with ref"
        )
    if len(set(chosen)) != len(chosen):
        raise argparse.ArgumentTypeError(f"{text!r}: each variant at most once")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cmsim` console script; returns the process exit code."""
    args = argparse.Namespace(json="--json" in (sys.argv[1:] if argv is None else argv))
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, or a bad argument already reported in one line
            return int(exc.code or 0)
        if sys.stdout is None:  # started with stdout closed (`>&-`)
            raise OutputError("cannot write the output: standard output is closed")
        code = _dispatch(args)
        sys.stdout.flush()  # a full disk shows here, not in the interpreter's last flush
        return code
    except (OutputClosed, BrokenPipeError):
        return _quiet_stdout(OutputClosed.exit_code)  # Unix convention: no message on EPIPE
    except CmsimError as exc:
        return _report(args, str(exc), exc.exit_code, getattr(exc, "partial", {}))
    except OSError as exc:  # an output stream failed (ENOSPC, EBADF...)
        where = f"{exc.filename}: " if exc.filename else "cannot write the output: "
        return _report(args, where + (exc.strerror or str(exc)), OutputError.exit_code, {})
    except KeyboardInterrupt:
        return _report(args, "interrupted (Ctrl-C)", Interrupted.exit_code, {})


def _report(args: argparse.Namespace, message: str, code: int, partial: dict) -> int:
    """One line on stderr (and with --json one object on stdout); returns the exit code."""
    try:
        if getattr(args, "json", False):
            print(json.dumps({"error": message, "exit_code": code, **partial}))
        sys.stdout.flush()
    except (OSError, AttributeError, ValueError):
        _quiet_stdout(code)  # stdout is broken too: the line on stderr is all we can say
    try:
        sys.stderr.write(f"cmsim: error: {message}\n")
        sys.stderr.flush()
    except (OSError, AttributeError, ValueError):
        pass  # nowhere left to report to
    return code


def _quiet_stdout(code: int) -> int:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, AttributeError, ValueError):
        pass
    return code


def _dispatch(args: argparse.Namespace) -> int:
    commands = {
        "annotate": _annotate,
        "bench": _bench,
        "check": _check,
        "model": _model_command,
        "run": _run,
        "sweep": sweep_command.run,
        "validate": _validate,
    }
    return commands[args.command](args)


def _model(args: argparse.Namespace) -> PreparedModel | None:
    """The model to bench: a .tflite file, a built-in MLPerf Tiny workload, or None (cifar10)."""
    seed = getattr(args, "seed", models.DEFAULT_SEED)
    if args.model:
        return models.load(args.model, seed)
    if args.workload != "cifar10":
        return models.prepare(build_workload(args.workload), args.workload, seed)
    return None


def _resolved_variants(args: argparse.Namespace, checkout=None) -> tuple[str, ...]:
    """--variants, or ref,opt,asm and cmsis-nn when a CMSIS-NN checkout is given."""
    if args.variants is not None:
        return args.variants
    given = checkout or find_checkout(args.cmsis_nn)
    return (*VARIANTS, CMSIS_NN) if given else VARIANTS


def _cmsis_nn(args: argparse.Namespace, board: Board, console: Console) -> CmsisNnBuild | None:
    """Resolve the variants: cmsis-nn joins them when a checkout is given; build it then."""
    checkout = find_checkout(args.cmsis_nn)
    args.variants = _resolved_variants(args, checkout)
    if CMSIS_NN not in args.variants:
        return None
    if checkout is None:
        raise CmsimError(f"the cmsis-nn variant needs --cmsis-nn PATH (or ${ENVIRONMENT})")
    with console.status(
        f"building {checkout.label} for {board.name} (cached after the first time)"
    ):
        return build_cmsis_nn(checkout, board)


def _bench_result(
    args: argparse.Namespace,
    console: Console,
    model: PreparedModel | None = None,
    board: Board | None = None,
) -> BenchResult:
    board = board or load_board(args.board, args.core)
    cmsis = _cmsis_nn(args, board, console)
    model = model or _model(args)
    layers = len(model.layer_steps) if model else len(cifar10.NETWORK)
    name = model.name if model else "cifar10"
    # Progress goes to stderr, on a terminal only (rich draws nothing elsewhere), never with
    # --json: stdout holds the table or the data alone.
    quiet = bool(getattr(args, "json", False))
    with Progress(console=_Console(stderr=True), transient=True, disable=quiet) as progress:
        task = progress.add_task(f"{name} on {board.name}", total=len(args.variants) * layers)

        def advance(variant: str, layer: str) -> None:
            progress.update(task, advance=1, description=f"{variant}: {layer}")

        if model:
            return models.bench_model(model, board, args.variants, advance, cmsis)
        return run_bench(board, args.variants, advance, cmsis.cifar10 if cmsis else None)


def _model_command(args: argparse.Namespace) -> int:
    console = Console()
    if args.action == "write":
        seed = {} if args.seed is None else {"seed": args.seed}
        path = write_workload(args.workload, args.output, **seed)
        console.print(f"wrote {path} ({path.stat().st_size:,} bytes)")
        return 0
    model = models.load(args.model)
    render_model(model, console)
    return 0


def _baseline_path(args: argparse.Namespace, board: str) -> Path:
    """The default baseline file; a --core what-if has its own (its cycles are another core's)."""
    if args.core is not None and args.core != load_board(args.board).core:
        board = f"{board}-{args.core}"
    if args.model:
        return Path(args.model).with_suffix(f".{board}.baseline.json")
    return baseline_path(TRACES_DIR, board, args.workload)


def _board_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"two or more different boards, not {text!r}")
    return names


def _bench_boards(args: argparse.Namespace, console: Console) -> int:
    """--boards: the same network on every board, one table across them."""
    if args.kernel or args.save_baseline is not None or args.csv:
        raise CmsimError("--boards prints one table: not with --kernel, --save-baseline or --csv")
    boards = [load_board(name, args.core) for name in args.boards]
    requested = args.variants
    results = []
    for board in boards:
        args.variants = requested  # resolved per board (cmsis-nn joins when a checkout is given)
        results.append(_bench_result(args, console, board=board))
    variants = tuple(dict.fromkeys(v for r in results for v in r.variants))  # n/a where absent
    if args.json:
        print(render_cross_json(results))
    elif args.markdown:
        print(render_cross_markdown(results, variants), end="")
    else:
        render_cross_rich(results, boards, variants, console)
    return 0 if all(r.all_matched for r in results) else 1


def _bench(args: argparse.Namespace) -> int:
    quiet = args.json or args.csv or args.markdown
    console = _wide_console(stderr=quiet)
    if args.boards:
        return _bench_boards(args, console)
    baseline_out = None
    if args.save_baseline is not None:
        if args.kernel:
            raise CmsimError("--save-baseline records the network benchmark, not --kernel")
        name = load_board(args.board, args.core).name
        baseline_out = Path(args.save_baseline or _baseline_path(args, name))
        _check_writable(baseline_out, make_parents=True)
    if args.kernel:
        if args.model or args.workload != "cifar10":
            raise CmsimError("--kernel times one kernel: it does not go with --model or --workload")
        case = KernelCase(args.kernel, parse_shape(args.kernel, args.shape), args.seed)
        board = load_board(args.board, args.core)
        cmsis = _cmsis_nn(args, board, console)
        result = bench_kernel(board, case, args.variants, cmsis.harness if cmsis else None)
    else:
        if args.shape:
            raise CmsimError("--shape goes with --kernel")
        result = _bench_result(args, console)
    if args.json:
        print(render_json(result))
    elif args.csv:
        print(render_csv(result), end="")
    elif args.markdown:
        print(render_markdown(result), end="")
    else:
        render_rich(result, console)
    if baseline_out is not None:
        try:
            save_baseline(result, baseline_out)
        except OSError as exc:
            raise CmsimError(f"cannot write {baseline_out}: {exc.strerror or exc}") from None
        console.print(f"baseline written to {baseline_out}")
    return 0 if result.all_matched else 1


def _validate(args: argparse.Namespace) -> int:
    from cmsim.validate import cmemu

    console = _wide_console()
    filters = cmemu.parse_filters(args.filter)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("CMEmu dumps", total=None)

        def advance(done: int, total: int, name: str) -> None:
            progress.update(task, completed=done, total=total, description=name)

        results = cmemu.validate_folder(
            Path(args.folder), filters, args.board, args.path, progress=advance
        )
    if not results:
        raise CmsimError(f"no configuration in {args.folder} matches the filters")
    cmemu.render(results, console)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(cmemu.report(results), indent=1) + "\n")
        except OSError as exc:
            raise CmsimError(f"cannot write {args.json}: {exc.strerror}") from None
    return 0


def _wide_console(stderr: bool = False) -> Console:
    """A console at least as wide as the bench table, so a pipe or CI log shows it whole."""
    console = _Console(stderr=stderr)
    return _Console(stderr=stderr, width=max(console.width, TABLE_WIDTH))


def _check(args: argparse.Namespace) -> int:
    console = _wide_console()
    board = load_board(args.board, args.core)
    path = Path(args.baseline or _baseline_path(args, board.name))
    model = _model(args)
    layers = tuple(s.name for s in model.steps) if model else cifar10.LAYER_NAMES
    variants = _resolved_variants(args)
    baseline = checked_baseline(load_baseline(path), path, board.name, variants, layers)
    result = _bench_result(args, console, model)
    changes = compare(baseline, result, args.cycle_tolerance, args.speedup_tolerance)
    regressions = [c for c in changes if c.regressed]
    if changes:
        render_changes(changes, console)
    if not result.all_matched:
        console.print("[bold red]FAIL[/]: a layer no longer matches the golden model")
        return 1
    if regressions:
        console.print(f"[bold red]FAIL[/]: {len(regressions)} regression(s) against {path}")
        return 1
    console.print(f"OK: no regression against {path} ({len(changes)} number(s) moved)")
    return 0


def _run(args: argparse.Namespace) -> int:
    outputs = {
        args.trace: "--trace",
        args.collapsed: "--collapsed",
        args.profile_json: "--profile-json",
        args.profile_csv: "--profile-csv",
    }
    for path in outputs:
        _check_writable(path)
    profiling = args.profile or any(path is not None for path in outputs)
    board = load_board(args.board, args.core)
    image = load_image(args.elf)
    engine = _engine(args, image, board)
    profiler = None
    if profiling:
        profiler = Profiler.attach(
            engine, record_events=args.trace is not None, min_event_cycles=args.trace_min_cycles
        )
    try:
        with show_progress(engine, Path(args.elf).name, not args.json):
            result = engine.run()
    except CmsimError as exc:
        # A fault, the instruction limit or Ctrl-C: the results so far (and the profile up to
        # the stop) show where the firmware was, e.g. the loop it hung in. The error is still
        # reported as one line.
        exc.partial = _partial(engine, args.elf, board.name)
        if profiler is not None:
            profile = profiler.finish(engine.issue_cycle())
            _write_outputs(args, profile)
            if args.profile and not args.json:
                _print_profile(profile, args.top, args.width)
        raise
    profile = profiler.finish(result) if profiler is not None else None
    if profile is not None:
        _write_outputs(args, profile)
    if args.json:
        summary = run_summary(result, args.elf, board.name)
        if profile is not None and args.profile:
            summary["profile"] = profile_summary(profile)
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(result, args.elf, board.name, args.width)
        if profile is not None and args.profile:
            _print_profile(profile, args.top, args.width)
    return result.exit_code


def _partial(engine: Engine, elf: str, board: str) -> dict:
    """What a run that stopped early did (the --json output of an error)."""
    return {
        "elf": elf,
        "board": board,
        "instructions": engine.instructions,
        "cycles": engine.cycles,
        "clock_hz": engine.machine.board.clock_hz,
        "host_seconds": round(engine.machine.host_seconds, 6),
        "output": bytes(engine.machine.semihost.output).decode("utf-8", errors="replace"),
    }


def _engine(args: argparse.Namespace, image, board, path: str = "fast") -> Engine:
    stdout = None if args.json else sys.stdout.buffer
    machine = Machine(image, board, stdout=stdout, stderr=None if args.json else sys.stderr.buffer)
    return Engine(machine, max_instructions=args.max_instructions, path=path)


def _check_writable(path: str | Path | None, make_parents: bool = False) -> None:
    """Fail before a long run, not after it, when an output file cannot be created: opening
    it for appending (and removing it again if it did not exist) is the only test that
    answers for permissions, read-only file systems and the like alike."""
    if path is None:
        return
    target = Path(path)
    try:
        if target.is_dir():
            raise CmsimError(f"cannot write {path}: it is a directory")
        if make_parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        elif not target.parent.is_dir():
            raise CmsimError(f"cannot write {path}: no such directory {str(target.parent)!r}")
        if target.exists() and not target.is_file():
            return  # a device or a pipe: opening it here could block or consume it
        existed = target.exists()
        with target.open("a"):
            pass
        if not existed:
            target.unlink()
    except OSError as exc:
        raise CmsimError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_outputs(args: argparse.Namespace, profile: Profile) -> None:
    title = f"cmsim {Path(args.elf).name} on {args.board}"
    writers: list[tuple[str | None, Callable[[str], None]]] = [
        (args.trace, lambda p: write_chrome_trace(profile, p, args.trace_min_cycles, title)),
        (args.collapsed, lambda p: write_collapsed(profile, p)),
        (args.profile_json, lambda p: write_profile_json(profile, p)),
        (args.profile_csv, lambda p: write_profile_csv(profile, p)),
    ]
    for path, write in writers:
        if path is None:
            continue
        try:
            write(path)
        except OSError as exc:
            raise CmsimError(f"cannot write {path}: {exc.strerror or exc}") from None


def _annotate(args: argparse.Namespace) -> int:
    board = load_board(args.board, args.core)
    image = load_image(args.elf)
    if (args.function is None) == (args.region is None):
        raise CmsimError("annotate takes a FUNCTION, an address range or --region NAME (one)")
    function = None if args.function is None else find_code(image, args.function)
    # The firmware's output goes to stderr: stdout holds the table alone.
    output = None if args.json or args.quiet else sys.stderr.buffer
    machine = Machine(image, board, stdout=output, stderr=output)
    engine = Engine(machine, max_instructions=args.max_instructions)
    profiler = Profiler.attach(engine)
    annotator = Annotator(engine, function, args.region)
    what = annotator.function.name
    with show_progress(engine, f"{Path(args.elf).name} ({what})", not args.json):
        result = engine.run()
    profile = profiler.finish(result)
    annotation = annotator.finish(result)
    if args.region is not None and all(r.name != args.region for r in profile.regions):
        names = ", ".join(r.name for r in profile.regions) or "none"
        raise CmsimError(
            f"{Path(args.elf).name} never opened a region named {args.region!r} "
            f"(its regions: {names})"
        )
    if args.json:
        print(json.dumps(annotation_summary(annotation, profile), indent=2))
    else:
        _print_annotation(annotation, profile, args.width)
    return result.exit_code


def _instruction_rows(annotation: Annotation) -> list[dict]:
    return [
        {
            "address": f"0x{i.address:08x}",
            "text": i.text,
            "count": i.count,
            "cycles": i.cycles,
            "reasons": i.reasons,
        }
        for i in annotation.instructions
    ]


def annotation_summary(annotation: Annotation, profile: Profile) -> dict:
    """The annotate output as plain data (the --json output)."""
    function = annotation.function
    if annotation.region is not None:
        found = [r for r in profile.regions if r.name == annotation.region]
        return {
            "region": annotation.region,
            "count": found[0].count if found else 0,
            "cycles": annotation.cycles,  # of the instructions listed
            "region_cycles": found[0].cycles if found else 0,  # between the markers
            "total_cycles": annotation.total_cycles,
            "instructions": _instruction_rows(annotation),
        }
    try:
        stats = profile.function(function.name)
        calls, inclusive = stats.calls, stats.inclusive_cycles
    except KeyError:
        calls, inclusive = 0, 0
    return {
        "function": function.name,
        "sized": function.sized,
        "start": f"0x{function.start:08x}",
        "end": f"0x{function.end:08x}",
        "calls": calls,
        "exclusive_cycles": annotation.cycles,
        "inclusive_cycles": inclusive,
        "total_cycles": annotation.total_cycles,
        "callers": [
            {"function": e.caller, "calls": e.calls, "cycles": e.cycles}
            for e in profile.callers(function.name)
        ],
        "callees": [
            {"function": e.callee, "calls": e.calls, "cycles": e.cycles}
            for e in profile.callees(function.name)
        ],
        "instructions": _instruction_rows(annotation),
    }


def run_summary(result: RunResult, elf: str, board: str) -> dict:
    """The run's results as plain data (the --json output)."""
    return {
        "elf": elf,
        "board": board,
        "exit_code": result.exit_code,
        "instructions": result.instructions,
        "cycles": result.cycles,
        "clock_hz": result.clock_hz,
        "simulated_seconds": result.simulated_seconds,
        "host_seconds": round(result.host_seconds, 6),
        "instructions_per_second": round(result.instructions_per_second),
        "output": result.output.decode("utf-8", errors="replace"),
    }


def format_seconds(seconds: float) -> str:
    """A duration in the unit that reads best: s, ms or µs."""
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.3f} µs"


def _table_console(width: int | None) -> Console:
    """The console for tables on stdout: `width` columns when given; else the terminal's (or
    $COLUMNS); a pipe or file gets room for each table's natural width (never cut at 80)."""
    if width is None and "COLUMNS" not in os.environ and not sys.stdout.isatty():
        width = PIPE_WIDTH
    return _Console(stderr=False, width=width)


def _print_summary(result: RunResult, elf: str, board: str, width: int | None = None) -> None:
    console = _table_console(width)
    title = f"{Path(elf).name} on {board}"
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("exit code", str(result.exit_code))
    table.add_row("instructions", f"{result.instructions:,}")
    table.add_row("cycles", f"{result.cycles:,}")
    if result.exceptions:
        table.add_row("exceptions taken", f"{result.exceptions:,}")
    table.add_row(
        "time at board clock",
        f"{format_seconds(result.simulated_seconds)} @ {result.clock_hz / 1e6:g} MHz",
    )
    table.add_row("host time", f"{result.host_seconds:.3f} s")
    table.add_row("simulation speed", f"{result.instructions_per_second / 1e6:.2f} M instr/s")
    console.print(table)


def _print_profile(profile: Profile, top: int, width: int | None = None) -> None:
    console = _table_console(width)
    total = profile.total_cycles or 1
    shown = profile.functions[:top]
    table = Table(
        title=f"profile: {len(shown)} of {len(profile.functions)} functions by exclusive cycles "
        f"(total {profile.total_cycles:,} cycles)",
        title_justify="left",
        box=box.SIMPLE_HEAD,  # light borders: the table fits 80 columns
    )
    longest = max((len(stats.label) for stats in shown), default=8)
    table.add_column("function", overflow="fold", min_width=min(longest, 32))
    # Instructions per function are in --profile-json/--profile-csv; CPI shows their effect.
    for name in ("calls", "exclusive", "%", "inclusive", "%", "CPI"):
        table.add_column(name, justify="right", no_wrap=True)
    for stats in shown:
        cpi = f"{stats.exclusive_cycles / stats.instructions:.2f}" if stats.instructions else "-"
        table.add_row(
            escape(stats.label),
            f"{stats.calls:,}",
            f"{stats.exclusive_cycles:,}",
            f"{100 * stats.exclusive_cycles / total:.1f}",
            f"{stats.inclusive_cycles:,}",
            f"{100 * stats.inclusive_cycles / total:.1f}",
            cpi,
        )
    console.print(table)
    if profile.regions:
        regions = Table(
            title="regions (cmsim_region_begin/end)", title_justify="left", box=box.SIMPLE_HEAD
        )
        regions.add_column("region")
        regions.add_column("count", justify="right")
        regions.add_column("cycles", justify="right")
        regions.add_column("%", justify="right")
        for region in profile.regions:
            regions.add_row(
                escape(region.name),
                f"{region.count:,}",
                f"{region.cycles:,}",
                f"{100 * region.cycles / total:.1f}",
            )
        console.print(regions)
    if profile.unmatched_region_ends:
        console.print(
            f"warning: {profile.unmatched_region_ends} cmsim_region_end() without an open region"
        )


def format_reasons(stats: InstructionStats) -> list[str]:
    """An instruction's cost parts beyond its base cost, per execution, e.g.
    ["branch refill +1 (M4-BR-1)", "fetch stall +2.50 (M4-MEM-FETCH)"]."""
    shown: list[str] = []
    if not stats.count:
        return shown
    for reason, cycles in stats.reasons.items():
        if reason == BASE or not cycles:
            continue
        label, _, rule = reason.partition(" (")
        mean = cycles / stats.count
        if mean == int(mean):
            value = f"{mean:.0f}"
        else:  # a rare stall stays visible: "<0.01", not "0.00"
            value = f"{mean:.2f}" if abs(mean) >= 0.01 else f"{'-' if mean < 0 else ''}<0.01"
        sign = "" if reason in (DIVIDE, FAILED) or mean < 0 else "+"  # a cost, not an addition
        shown.append(f"{label} {sign}{value}" + (f" ({rule}" if rule else ""))
    return shown


def _annotation_title(annotation: Annotation, summary: dict) -> str:
    share = f"{100 * annotation.cycles / (annotation.total_cycles or 1):.1f}% of "
    share += f"{annotation.total_cycles:,}"
    if annotation.region is not None:
        return (
            f"region {escape(annotation.region)}: {summary['count']:,} times, "
            f"{annotation.cycles:,} cycles in the blocks run inside it ({share}), "
            f"{summary['region_cycles']:,} between its markers"
        )
    unsized = "" if summary.get("sized", True) else " (no .size)"
    return (
        f"{escape(summary['function'])}{unsized} ({summary['start']}-{summary['end']}): "
        f"{summary['calls']:,} calls, {annotation.cycles:,} exclusive cycles ({share}), "
        f"{summary['inclusive_cycles']:,} inclusive"
    )


def _print_annotation(annotation: Annotation, profile: Profile, width: int | None = None) -> None:
    console = _table_console(width)
    summary = annotation_summary(annotation, profile)
    function_cycles = annotation.cycles or 1
    rows = []
    for stats in annotation.instructions:
        ran = bool(stats.count)
        rows.append(
            [
                f"{stats.address:08x}",
                f"{stats.count:,}" if ran else "",
                f"{stats.cycles:,}" if ran else "",
                f"{stats.cycles / stats.count:.2f}" if ran else "",
                f"{100 * stats.cycles / function_cycles:.1f}" if ran else "",
                escape(stats.text),
                format_reasons(stats),
            ]
        )
    # The reasons get their own column when it fits; on a narrow terminal they go on a dim
    # second line under the instruction, which keeps both readable.
    wide = console.width >= ANNOTATE_WIDE
    for row in rows:
        reasons = row.pop()
        if wide:
            row.append(escape(", ".join(reasons)))
        elif reasons:
            row[-1] += "".join(f"\n[dim]  {escape(reason)}[/dim]" for reason in reasons)
    table = Table(
        title=_annotation_title(annotation, summary),
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    # Numbers keep their full width; the disassembly and the reasons fold when the terminal
    # is narrow.
    headers = ["address", "count", "cycles", "cyc/exec", "%"]
    for index, name in enumerate(headers):
        width = max([len(name)] + [len(row[index]) for row in rows])
        table.add_column(
            name, justify="left" if index == 0 else "right", no_wrap=True, min_width=width
        )
    table.add_column("instruction", overflow="fold")
    if wide:
        table.add_column("cycles beyond base, per execution (rule)", overflow="fold")
    for row, stats in zip(rows, annotation.instructions, strict=True):
        table.add_row(*row, style=None if stats.count else "dim")
    console.print(table)
    edges_by_label = (("called from", summary.get("callers")), ("calls", summary.get("callees")))
    for label, edges in edges_by_label:
        if edges:
            listed = ", ".join(
                f"{escape(e['function'])} ({e['calls']:,}x, {e['cycles']:,} cycles)" for e in edges
            )
            console.print(f"{label}: {listed}")


if __name__ == "__main__":
    raise SystemExit(main())
