"""Run sweep tasks on a Dask distributed cluster (`--cluster ADDRESS`).

Dask's scheduler and workers do the distribution: cmsim only connects a client, checks that
every worker runs the same cmsim (the version and source digest of cmsim.sweep.keys), sends
each distinct ELF and model once to every worker (scatter), submits one task per point and
collects results as they finish. Workers need cmsim installed (pip install cmsim); they get
the firmware from this process, so they need neither the sources nor a cross compiler.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cmsim.errors import CmsimError
from cmsim.sweep.keys import version_tag
from cmsim.sweep.plan import Task
from cmsim.sweep.points import Row, describe, run_task

CONNECT_SECONDS = 20


class ClusterError(CmsimError):
    """The scheduler cannot be reached, has no workers, or its workers run another cmsim."""


class Cluster:
    """A connection to a Dask scheduler whose workers run this cmsim."""

    def __init__(self, address: str):
        """Connect to `address` (tcp://host:port, or a scheduler file) and check the workers."""
        from distributed import Client

        self.address = address
        self.client = _connect(Client, address)
        try:
            _check_workers(self.client, address)
        except BaseException:
            self.client.close()
            raise

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_exc) -> None:
        self.client.close()

    def run(self, tasks: list[Task], on_done: Callable[[Task, list[Row]], None]) -> None:
        """Run every task on the cluster; hand each result to `on_done` as it arrives."""
        from distributed import as_completed

        shared = _scatter(self.client, tasks)
        futures = {}
        for task in tasks:
            firmware = shared[("elf", task.firmware.digest)]
            model = shared[("model", task.model.digest)] if task.model else None
            future = self.client.submit(
                run_task, task.point, task.board, firmware, model, pure=False, retries=1
            )
            futures[future] = task
        try:
            for future in as_completed(futures):
                task = futures.pop(future)
                on_done(task, _result(future, task))
        except (OSError, TimeoutError) as exc:  # the scheduler went away; finished points stay
            raise ClusterError(f"lost the Dask scheduler at {self.address}: {exc}") from None
        finally:
            self.client.cancel(list(futures))  # after Ctrl-C, nothing left running for us


def _connect(client_class, address: str):
    options = {"timeout": CONNECT_SECONDS}
    if Path(address).is_file():  # a scheduler file (dask scheduler --scheduler-file F)
        options["scheduler_file"] = address
    else:
        options["address"] = address
    try:
        return client_class(**options)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _check_workers(client, address: str) -> None:
    versions = client.run(version_tag)
    if not versions:
        raise ClusterError(f"the Dask scheduler at {address} has no workers")
    mine = version_tag()
    for worker, version in sorted(versions.items()):
        if version != mine:
            raise ClusterError(
                f"worker {worker} runs cmsim {version}, this client {mine}: "
                "install the same cmsim on every worker"
            )


def _scatter(client, tasks: list[Task]) -> dict:
    """Each distinct ELF and model once to every worker (tasks then carry only a reference)."""
    unique: dict = {}
    for task in tasks:
        unique.setdefault(("elf", task.firmware.digest), task.firmware)
        if task.model is not None:
            unique.setdefault(("model", task.model.digest), task.model)
    shared = {}
    for key, value in unique.items():
        payload = value.shipped() if key[0] == "elf" else value
        shared[key] = client.scatter(payload, broadcast=True, hash=False)
    return shared


def _result(future, task: Task) -> list[Row]:
    try:
        return future.result()
    except Exception as exc:  # the task itself never raises: the worker was lost twice
        return [task.point.error_row(f"cluster task failed: {describe(exc)}")]
