"""`--plot OUT.png`: the sweep as pictures (matplotlib, no display needed).

One row of panels per (kernel, board): a heatmap of cycles per MAC for each variant over the
two shape keys that vary most (the median over the other keys in each cell; cycles per output
element for kernels without MACs), on one colour scale per row so variants compare at a glance,
then bars of each variant's median speedup over ref along the first key. Models get one more
row: each model's speedup over ref (total cycles) per variant and board.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from cmsim.bench.results import ALL_VARIANTS
from cmsim.sweep.points import Row

ANNOTATE_CELLS = 64  # write the value in each cell up to this many cells


def plot_sweep(rows: list[Row], path: str | Path) -> Path:
    """Draw the sweep's rows (those that matched their golden model) into a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = [r for r in rows if r.ok and r.cycles is not None]
    variants = [v for v in ALL_VARIANTS if any(r.variant == v for r in good)]
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in good:
        if not row.model:
            groups[(row.kernel, row.board)].append(row)
    model_rows = [r for r in good if r.model]
    n_rows = len(groups) + (1 if model_rows else 0)
    n_cols = max(len(variants) + 1, 2)
    figure, axes = plt.subplots(
        max(n_rows, 1), n_cols, figsize=(3.8 * n_cols, 3.3 * max(n_rows, 1)), squeeze=False
    )
    for line, ((kernel, board), group) in zip(axes, sorted(groups.items()), strict=False):
        _kernel_row(line, kernel, board, group, variants, figure)
    if model_rows:
        _model_row(axes[-1], model_rows, variants)
    if not good:
        axes[0][0].text(0.5, 0.5, "no point matched its golden model", ha="center")
    for ax in axes.flat:
        if not ax.has_data() and not ax.texts:
            ax.set_visible(False)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _shape(row: Row) -> dict[str, int]:
    return {key: int(value) for key, _, value in (p.partition("=") for p in row.shape.split(","))}


def _metric(row: Row) -> float:
    if row.macs:
        return row.cycles / row.macs
    shape = _shape(row)
    elements = shape.get("h", 1) * shape.get("w", 1) * shape.get("c", 1)
    return row.cycles / elements


def choose_axes(rows: list[Row]) -> tuple[str | None, str | None]:
    """The two shape keys with the most distinct values, leaving out keys that only repeat
    another one (w tied to h)."""
    shapes = [_shape(r) for r in rows]
    order = list(shapes[0]) if shapes else []  # the kernel's key order (Point.shape_text)
    varying = [k for k in order if len({s.get(k) for s in shapes}) > 1]
    independent = []
    for key in varying:
        if not any(all(s.get(key) == s.get(other) for s in shapes) for other in independent):
            independent.append(key)
    independent.sort(key=lambda k: -len({s.get(k) for s in shapes}))  # stable: keeps key order
    chosen = independent[:2]
    return (chosen[0] if chosen else None, chosen[1] if len(chosen) > 1 else None)


def _kernel_row(line, kernel: str, board: str, rows: list[Row], variants, figure) -> None:
    x_key, y_key = choose_axes(rows)
    label = "cycles/MAC" if rows[0].macs else "cycles/element"
    values = [_metric(r) for r in rows]
    low, high = min(values), max(values)
    image = None
    for ax, variant in zip(line, variants, strict=False):
        chosen = [r for r in rows if r.variant == variant]
        if chosen:
            image = _heatmap(ax, chosen, x_key, y_key, (low, high))
            ax.set_title(f"{kernel} on {board}: {variant}", fontsize=9)
    if image is not None:
        figure.colorbar(image, ax=line[len(variants) - 1], label=label, shrink=0.8)
    _speedup_bars(line[len(variants)], rows, x_key, variants, f"{kernel} on {board}")


def _cells(rows: list[Row], key: str | None) -> list[int]:
    return sorted({_shape(r)[key] for r in rows}) if key else [0]


def _heatmap(ax, rows: list[Row], x_key, y_key, limits):
    xs, ys = _cells(rows, x_key), _cells(rows, y_key)
    samples: dict[tuple[int, int], list[float]] = defaultdict(list)
    for row in rows:
        shape = _shape(row)
        x = xs.index(shape[x_key]) if x_key else 0
        y = ys.index(shape[y_key]) if y_key else 0
        samples[(y, x)].append(_metric(row))
    grid = [[float("nan")] * len(xs) for _ in ys]
    for (y, x), found in samples.items():
        grid[y][x] = statistics.median(found)
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis",
                      vmin=limits[0], vmax=limits[1])  # fmt: skip
    ax.set_xticks(range(len(xs)), [str(v) for v in xs] if x_key else [""])
    ax.set_yticks(range(len(ys)), [str(v) for v in ys] if y_key else [""])
    ax.set_xlabel(x_key or "")
    ax.set_ylabel(y_key or "")
    if len(xs) * len(ys) <= ANNOTATE_CELLS:
        middle = (limits[0] + limits[1]) / 2
        for (y, x), _found in samples.items():
            value = grid[y][x]
            ax.text(x, y, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if value > middle else "white")  # fmt: skip
    return image


def _speedup_bars(ax, rows: list[Row], x_key, variants, title: str) -> None:
    others = [v for v in variants if v != "ref"]
    xs = _cells(rows, x_key)
    width = 0.8 / max(len(others), 1)
    for k, variant in enumerate(others):
        heights = []
        for value in xs:
            found = [r.speedup for r in rows if r.variant == variant and r.speedup is not None
                     and (x_key is None or _shape(r)[x_key] == value)]  # fmt: skip
            heights.append(statistics.median(found) if found else 0.0)
        positions = [i + (k - (len(others) - 1) / 2) * width for i in range(len(xs))]
        ax.bar(positions, heights, width, label=variant)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(xs)), [str(v) for v in xs] if x_key else [""])
    ax.set_xlabel(x_key or "")
    ax.set_ylabel("speedup over ref (median)")
    ax.set_title(f"{title}: speedup", fontsize=9)
    if others:
        ax.legend(fontsize=7)


def _model_row(line, rows: list[Row], variants) -> None:
    totals: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in rows:
        totals[(row.model, row.board, row.variant)] += row.cycles
    bars = sorted({(model, board) for model, board, _ in totals})
    ax = line[0]
    others = [v for v in variants if v != "ref"]
    width = 0.8 / max(len(others), 1)
    for k, variant in enumerate(others):
        heights = [totals[(m, b, "ref")] / totals[(m, b, variant)]
                   if totals.get((m, b, variant)) and totals.get((m, b, "ref")) else 0.0
                   for m, b in bars]  # fmt: skip
        positions = [i + (k - (len(others) - 1) / 2) * width for i in range(len(bars))]
        ax.bar(positions, heights, width, label=variant)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(bars)), [f"{m}\n{b}" for m, b in bars], fontsize=7)
    ax.set_ylabel("speedup over ref (total cycles)")
    ax.set_title("models", fontsize=9)
    if others:
        ax.legend(fontsize=7)
