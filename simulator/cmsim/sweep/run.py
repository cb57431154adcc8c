"""A sweep from plan to rows: the cache answers what it can, an executor runs the rest.

Results are written to the cache as they arrive, so an interrupted sweep resumes where it
stopped. Points that failed (an error, not a mismatch) are not cached: the next run tries them
again. A mismatch is a result like any other (the same ELF gives it every time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cmsim.sweep.cache import Cache
from cmsim.sweep.output import finish_rows
from cmsim.sweep.plan import Plan, Task
from cmsim.sweep.points import ERROR, Row


class Progress(Protocol):
    """What a sweep reports while it runs (cmsim.sweep.report draws it)."""

    def start(self, total: int, done: int, failed: int) -> None: ...

    def advance(self, failed: bool) -> None: ...


@dataclass
class Outcome:
    """A finished sweep: its rows (sorted, speedups filled in) and its counts."""

    rows: list[Row]
    points: int  # tasks: kernel points and (model, variant, board) runs
    cached: int
    computed: int
    failed: int  # points with an error or a golden mismatch
    skipped: int  # invalid grid combinations
    seconds: float

    @property
    def points_per_second(self) -> float:
        return self.computed / self.seconds if self.seconds else 0.0


# Runs tasks and hands each one's rows to the callback as they arrive (cmsim.sweep.local's
# run_local, or a connected cmsim.sweep.cluster.Cluster's run).
Executor = Callable[[list[Task], Callable[[Task, list[Row]], None]], None]


def run_sweep(
    plan: Plan,
    cache: Cache,
    execute: Executor,
    *,
    fresh: bool = False,
    progress: Progress | None = None,
) -> Outcome:
    """Take what the cache has (unless `fresh`), run the rest with `execute`."""
    begin = time.perf_counter()
    results: dict[int, list[Row]] = {}
    to_run: list[tuple[int, Task]] = []
    for index, task in enumerate(plan.tasks):
        if task.failure is not None:
            results[index] = [task.point.error_row(task.failure)]
        elif not fresh and (rows := cache.get(task.key)) is not None:
            results[index] = rows
        else:
            to_run.append((index, task))
    cached = sum(1 for task in plan.tasks if task.failure is None) - len(to_run)
    cache.report()
    failed = sum(1 for rows in results.values() if not all(r.ok for r in rows))
    if progress is not None:
        progress.start(len(plan.tasks), len(results), failed)
    index_of = {id(task): index for index, task in to_run}

    def on_done(task: Task, rows: list[Row]) -> None:
        results[index_of[id(task)]] = rows
        if all(row.golden != ERROR for row in rows):
            cache.put(task.key, rows)
        if progress is not None:
            progress.advance(not all(row.ok for row in rows))

    tasks = [task for _, task in sorted(to_run, key=lambda item: -item[1].cost)]
    if tasks:
        execute(tasks, on_done)
    rows = finish_rows([row for index in sorted(results) for row in results[index]])
    failed = sum(1 for rows_ in results.values() if not all(r.ok for r in rows_))
    return Outcome(rows, len(plan.tasks), cached, len(to_run), failed, plan.skipped,
                   time.perf_counter() - begin)  # fmt: skip
