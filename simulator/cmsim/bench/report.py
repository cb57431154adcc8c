"""Render benchmark results: rich tables for people, JSON/CSV/Markdown for tools and READMEs."""

from __future__ import annotations

import csv
import io
import json

from rich import box
from rich.console import Console
from rich.table import Table

from cmsim.bench.baseline import Change
from cmsim.bench.results import BenchResult


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def _per_mac(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def table_rows(result: BenchResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-layer table, total row last (shared by every format)."""
    others = [v for v in result.variants if v != "ref"]
    header = ["layer", "shape", "MACs"]
    header += list(result.variants)  # cycles of each variant
    header += [f"{v}/ref" for v in others]
    header += ["cyc/MAC " + "/".join(result.variants), "golden"]
    rows = []
    for layer in result.layers:
        row = [layer.name, layer.shape, _count(layer.macs or None)]
        row += [_count(layer.cycles.get(v)) for v in result.variants]
        row += [_ratio(layer.speedup(v)) for v in others]
        row.append(_per_mac_list([layer.cycles_per_mac(v) for v in result.variants]))
        row.append("match" if all(layer.matched.values()) else "MISMATCH")
        rows.append(row)
    if len(result.layers) == 1:
        return header, rows  # one kernel: its row is the total
    macs = result.total_macs()
    total = ["total", "one inference", _count(macs)]
    total += [_count(result.totals.get(v)) for v in result.variants]
    total += [_ratio(result.total_speedup(v)) for v in others]
    per_mac = [
        result.totals[v] / macs if v in result.totals and macs else None for v in result.variants
    ]
    total.append(_per_mac_list(per_mac))
    total.append("match" if result.all_matched else "MISMATCH")
    rows.append(total)
    return header, rows


def _per_mac_list(values: list[float | None]) -> str:
    if all(v is None for v in values):
        return "-"
    return " / ".join(_per_mac(v) for v in values)


TABLE_WIDTH = 136  # the CIFAR-10 table's natural width; narrower consoles would cut cells


def print_whole(table: Table, console: Console) -> None:
    """Print a table at its natural width even where the console is narrower (a pipe, a
    small terminal): a cut or wrapped cell would hide a number."""
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
    if console.width < natural:
        console = Console(file=console.file, width=natural, force_terminal=console.is_terminal)
    console.print(table)


def render_rich(result: BenchResult, console: Console) -> None:
    """The per-layer speedup table, then time per inference and memory footprints."""
    header, rows = table_rows(result)
    table = Table(
        title=f"{result.workload} on {result.board}: cycles per layer and speedup over ref",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for name in header:
        table.add_column(
            name,
            justify="left" if name in ("layer", "shape", "golden") else "right",
            no_wrap=True,
        )
    body, total = (rows, None) if len(result.layers) == 1 else (rows[:-1], rows[-1])
    for row in body:
        table.add_row(*row, style=None if row[-1] == "match" else "bold red")
    if total:
        table.add_section()
        table.add_row(*total, style="bold")
    print_whole(table, console)
    for note in result.notes:
        console.print(note, soft_wrap=True)
    if result.footprints:
        _render_builds(result, console)
    verdict = "every layer matched the golden model" if result.all_matched else "MISMATCH"
    console.print(
        f"[bold]{verdict}[/bold]; clock {result.clock_hz / 1e6:g} MHz; "
        f"host time {result.host_seconds:.1f} s"
    )


def _render_builds(result: BenchResult, console: Console) -> None:

    extra = Table(title="per build", title_justify="left", box=box.SIMPLE_HEAD)
    arena = any(fp.arena_bytes for fp in result.footprints.values())
    columns = ["variant", "time/inference", "flash", "static RAM", "peak stack", "scratch"]
    for name in columns + (["of which arena"] if arena else []):
        extra.add_column(name, justify="left" if name == "variant" else "right")
    for variant in result.variants:
        cycles = result.totals.get(variant)
        time_text = f"{cycles / result.clock_hz * 1e3:.2f} ms" if cycles else "-"
        fp = result.footprints.get(variant)
        sizes = (
            [
                f"{fp.flash_bytes:,} B",
                f"{fp.ram_bytes:,} B",
                f"{fp.peak_stack_bytes:,} B",
                f"{fp.scratch_bytes:,} B",
            ]
            if fp
            else ["-"] * 4
        )
        if arena:
            sizes.append(f"{fp.arena_bytes:,} B" if fp else "-")
        extra.add_row(variant, time_text, *sizes)
    console.print(extra)


def render_json(result: BenchResult) -> str:
    return json.dumps(result.to_dict(), indent=2)


def render_csv(result: BenchResult) -> str:
    header, rows = table_rows(result)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[_plain_number(cell) for cell in row] for row in rows])
    return out.getvalue()


def _plain_number(cell: str) -> str:
    """'1,234,567' -> '1234567' (CSV readers want bare numbers); other text unchanged."""
    bare = cell.replace(",", "")
    return bare if bare.isdigit() else cell


def render_markdown(result: BenchResult) -> str:
    header, rows = table_rows(result)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def render_changes(changes: list[Change], console: Console) -> None:
    """The table `cmsim check` prints: what moved, and which moves are regressions."""
    table = Table(title="changes against the baseline", title_justify="left")
    for name in ("layer", "variant", "metric", "baseline", "now", "change", "verdict"):
        table.add_column(
            name, justify="left" if name in ("layer", "variant", "metric") else "right"
        )
    for change in changes:
        fmt = "{:,.0f}" if change.metric == "cycles" else "{:.3f}"
        table.add_row(
            change.layer,
            change.variant,
            change.metric,
            fmt.format(change.baseline),
            fmt.format(change.current),
            f"{change.relative:+.2%}",
            "[bold red]REGRESSION[/]" if change.regressed else "ok",
        )
    console.print(table)


def render_model(model, console: Console) -> None:
    """`cmsim model show`: each operator as cmsim runs it (a cmsim.bench.models.PreparedModel)."""
    table = Table(
        title=f"{model.name}: {len(model.steps)} operators as cmsim runs them",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for name in ("operator", "shape", "MACs", "kernel", "output", "arena offset"):
        table.add_column(name, justify="right" if name in ("MACs", "arena offset") else "left")
    for step in model.steps:
        out = model.graph.tensor(step.output)
        table.add_row(
            step.name,
            step.shape_text,
            _count(step.macs or None),
            f"nn_{step.kernel}" if step.kernel else "alias (no code)",
            f"{out.dtype} {list(out.shape)}",
            f"{model.plan.offsets[step.output]:,}",
        )
    print_whole(table, console)
    macs = sum(s.macs for s in model.steps)
    left_out = len(model.graph.operators) - len(model.steps)
    console.print(
        f"{macs:,} MACs; weights and constants {len(model.sources.blob):,} B (flash); "
        f"activation arena {model.plan.size:,} B"
        + (f"; {left_out} shape operator(s) left out (static shapes)" if left_out else ""),
        soft_wrap=True,
    )
