"""Progress and timings of a run: rich progress bars on a terminal, log lines elsewhere.

Dask computations report through a dask callback, so the bar moves with finished tasks.
Without bars (``show=False``, or stderr is not a terminal) each computation logs its start
and its end at INFO with ``stage``, ``tile`` and ``duration_s`` fields (JSON logs carry them);
the CLI's ``--quiet`` raises the level so schedulers see nothing. Timings are always recorded
for the manifest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dask
from dask.callbacks import Callback
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

log = logging.getLogger("fusion.pipeline")


class Stages:
    """Times named stages and shows progress unless quiet."""

    def __init__(self, *, show: bool) -> None:
        self.show = show
        self.timings: dict[str, float] = {}
        self._console = Console(stderr=True)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step (accumulated per name)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    @contextmanager
    def compute(self, name: str, tile: str | None = None) -> Iterator[None]:
        """Time a dask computation and show a bar of its finished tasks."""
        label = f"{tile}: {name}" if tile else name
        with self.step(name):
            # A dask callback sees only local schedulers' tasks, not a cluster's: log there.
            if not self.show or not self._console.is_terminal or _on_cluster():
                fields = {"stage": name, "tile": tile}
                log.info("%s …", label, extra=fields)
                t0 = time.perf_counter()
                yield
                seconds = round(time.perf_counter() - t0, 3)
                log.info(
                    "%s done in %.1f s", label, seconds, extra={**fields, "duration_s": seconds}
                )
                return
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=self._console, transient=True) as bar:
                task = bar.add_task(label, total=None)
                with _DaskProgress(bar, task):
                    yield


def _on_cluster() -> bool:
    """Whether computations go to a Dask distributed client (see fusion.pipeline.cluster)."""
    return bool(dask.config.get("scheduler", None) == "dask.distributed")


class _DaskProgress(Callback):
    """Feeds a rich progress task from dask's scheduler callbacks."""

    def __init__(self, bar: Progress, task: Any) -> None:
        super().__init__()
        self._bar = bar
        self._task = task

    def _start_state(self, dsk: Any, state: dict[str, Any]) -> None:
        total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
        self._bar.update(self._task, total=total, completed=0)

    def _posttask(
        self, key: Any, result: Any, dsk: Any, state: dict[str, Any], worker_id: Any
    ) -> None:
        self._bar.advance(self._task)
