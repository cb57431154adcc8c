"""One table across boards (and so across cores): `cmsim bench --boards a,b,c`. Each board ran
the same workload; a variant its core cannot run (opt/asm without the DSP extension) is n/a."""

from __future__ import annotations

import json

from rich import box
from rich.console import Console
from rich.table import Table

from cmsim.bench.report import print_whole
from cmsim.bench.results import BenchResult
from cmsim.board import Board

NOT_AVAILABLE = "n/a"


def cross_rows(
    results: list[BenchResult], variants: tuple[str, ...]
) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per layer and a total row; one column per (board, variant)."""
    header = ["layer"] + [f"{r.board} {v}" for r in results for v in variants]
    rows = []
    for index, layer in enumerate(results[0].layers):
        row = [layer.name]
        for result in results:
            cycles = result.layers[index].cycles
            row += [_cell(cycles.get(v), v in result.variants) for v in variants]
        rows.append(row)
    if len(results[0].layers) > 1:
        total = ["total"]
        for result in results:
            total += [_cell(result.totals.get(v), v in result.variants) for v in variants]
        rows.append(total)
    return header, rows


def _cell(cycles: int | None, ran: bool) -> str:
    if not ran:
        return NOT_AVAILABLE
    return f"{cycles:,}" if cycles is not None else "-"


def core_lines(boards: list[Board]) -> list[str]:
    """One line per board: its core and how far that core's timing model is established."""
    return [f"{b.name}: {b.core}, {b.core_spec.confidence}" for b in boards]


def render_cross_rich(
    results: list[BenchResult], boards: list[Board], variants: tuple[str, ...], console: Console
) -> None:
    header, rows = cross_rows(results, variants)
    table = Table(
        title=f"{results[0].workload} across boards: cycles per layer",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for name in header:
        table.add_column(name, justify="left" if name == "layer" else "right", no_wrap=True)
    body, total = (rows[:-1], rows[-1]) if len(rows) > 1 else (rows, None)
    for row in body:
        table.add_row(*row)
    if total:
        table.add_section()
        table.add_row(*total, style="bold")
    print_whole(table, console)
    for line in core_lines(boards):
        console.print(line, soft_wrap=True)
    matched = all(r.all_matched for r in results)
    verdict = "every layer matched the golden model" if matched else "MISMATCH"
    console.print(f"[bold]{verdict}[/bold] on every board")


def render_cross_markdown(results: list[BenchResult], variants: tuple[str, ...]) -> str:
    header, rows = cross_rows(results, variants)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def render_cross_json(results: list[BenchResult]) -> str:
    return json.dumps([r.to_dict() for r in results], indent=2)
