"""The `cmsim` command: parses arguments, calls the library, renders with rich. Nothing else."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cmsim.board import load_board, preset_names
from cmsim.engine import DEFAULT_MAX_INSTRUCTIONS, Engine, RunResult
from cmsim.errors import CmsimError
from cmsim.image import load_image
from cmsim.machine import Machine

USAGE_ERROR = 2


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
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cmsim", description="Cycle-accurate Cortex-M simulator for NN kernels.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="run a firmware ELF and report instructions and cycles")
    run.add_argument("elf", help="firmware ELF built with arm-none-eabi-gcc")
    run.add_argument(
        "--board",
        default="m4-ideal",
        help=f"board preset ({', '.join(preset_names())}) or a .toml/.json board file",
    )
    run.add_argument(
        "--max-instructions",
        type=_positive,
        default=DEFAULT_MAX_INSTRUCTIONS,
        help="stop a firmware that runs longer than this (default: %(default)s)",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cmsim` console script; returns the process exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a bad argument already reported in one line
        return int(exc.code or 0)
    try:
        return _run(args)
    except CmsimError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(exc), "exit_code": exc.exit_code}))
        sys.stderr.write(f"cmsim: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("cmsim: interrupted\n")
        return 130


def _run(args: argparse.Namespace) -> int:
    board = load_board(args.board)
    image = load_image(args.elf)
    stdout = None if args.json else sys.stdout.buffer
    machine = Machine(image, board, stdout=stdout, stderr=None if args.json else sys.stderr.buffer)
    result = Engine(machine, max_instructions=args.max_instructions).run()
    if args.json:
        print(json.dumps(run_summary(result, args.elf, board.name), indent=2))
    else:
        _print_summary(result, args.elf, board.name)
    return result.exit_code


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


def _print_summary(result: RunResult, elf: str, board: str) -> None:
    console = Console(stderr=False)
    title = f"{Path(elf).name} on {board}"
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("exit code", str(result.exit_code))
    table.add_row("instructions", f"{result.instructions:,}")
    table.add_row("cycles", f"{result.cycles:,}")
    table.add_row(
        "time at board clock",
        f"{format_seconds(result.simulated_seconds)} @ {result.clock_hz / 1e6:g} MHz",
    )
    table.add_row("host time", f"{result.host_seconds:.3f} s")
    table.add_row("simulation speed", f"{result.instructions_per_second / 1e6:.2f} M instr/s")
    console.print(table)


if __name__ == "__main__":
    raise SystemExit(main())
