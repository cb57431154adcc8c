"""Run sweep tasks on this machine: in this process (-j 1) or in N worker processes.

Workers are started with `spawn` (a fresh interpreter: no state, locks or progress-bar threads
inherited from this process), ignore Ctrl-C (this process handles it and ends them), and keep
their harnesses between tasks (cmsim.sweep.points). Results come back as they finish.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from cmsim.sweep.plan import Task
from cmsim.sweep.points import Row, run_task

OnDone = Callable[[Task, list[Row]], None]


def run_local(tasks: list[Task], on_done: OnDone, jobs: int = 1) -> None:
    """Run every task (jobs = worker processes; 1 = this process) and hand each result to
    `on_done` as it arrives, in this process."""
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            on_done(task, run_task(task.point, task.board, task.firmware, task.model))
        return
    executor = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_ignore_interrupts,
    )
    try:
        pending: dict[Future, Task] = {
            executor.submit(run_task, t.point, t.board, t.firmware, t.model): t for t in tasks
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                on_done(task, _result(future, task))
    except BaseException:  # Ctrl-C or an error in on_done: stop the workers now, not later
        _terminate(executor)
        raise
    executor.shutdown(wait=True)


def _result(future: Future, task: Task) -> list[Row]:
    try:
        return future.result()
    except BrokenProcessPool as exc:  # a worker died (killed, out of memory, a crash)
        return [task.point.error_row(f"worker process died: {exc}")]


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _terminate(executor: ProcessPoolExecutor) -> None:
    """End the workers at once (shutdown() alone waits for the tasks they are running)."""
    executor.shutdown(wait=False, cancel_futures=True)
    # Python 3.14 has terminate_workers(); before it, the processes are only in _processes.
    terminate = getattr(executor, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.terminate()
