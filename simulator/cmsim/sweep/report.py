"""What a sweep shows on the terminal: a progress bar while it runs, a summary when it ends."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cmsim.sweep.run import Outcome


class SweepProgress:
    """A rich progress bar: points done of all, failures, elapsed time and ETA.

    The ETA counts only the points computed in this run (cached ones are done at once)."""

    def __init__(self, console: Console, title: str):
        self.console = console
        self.title = title
        self.failed = 0
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> SweepProgress:
        return self

    def __exit__(self, *_exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, total: int, done: int, failed: int) -> None:
        self.failed = failed
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("points"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        # Cached points count as done from the start, so they stay out of the speed estimate
        # (rich measures the rate from the advances that follow).
        self._task = self._progress.add_task(self.title, total=total, completed=done, failed=failed)

    def advance(self, failed: bool) -> None:
        assert self._progress is not None
        self.failed += failed
        self._progress.update(self._task, advance=1, failed=self.failed)


def summary(outcome: Outcome) -> str:
    """One line: points, from the cache, computed, failed, skipped, time and throughput."""
    parts = [
        f"{outcome.points} points",
        f"{outcome.cached} from the cache",
        f"{outcome.computed} computed",
        f"{outcome.failed} failed",
    ]
    if outcome.skipped:
        parts.append(f"{outcome.skipped} invalid skipped")
    rate = f" ({outcome.points_per_second:.2f} points/s)" if outcome.computed else ""
    return ", ".join(parts) + f" in {outcome.seconds:.1f} s{rate}"


def failures(outcome: Outcome, limit: int = 5) -> list[str]:
    """The first failed rows, one line each (the files hold all of them)."""
    lines = []
    for row in outcome.rows:
        if row.ok:
            continue
        where = f"{row.model} {row.operator}" if row.model else f"{row.kernel} {row.shape}"
        reason = row.error or "output differs from the golden model"
        lines.append(f"{where.strip()} {row.variant} on {row.board}: {reason}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more (see the files)"]
    return lines


def written(paths: dict[str, Path]) -> str:
    return "wrote " + ", ".join(str(p) for p in paths.values())
