"""What runs on the Dask workers of [cluster]: the task that analyses a batch of files,
and the plugin that loads the models once per worker process, not once per task.

Workers need facewatchd installed (`pip install facewatchd[cluster]`): a task names
`analyse_batch` of this module, and the plugin this module's `EnginePlugin`. dlib holds
the GIL (two threads of one process are no faster than one: docs/cluster.md), so workers
are meant to run `--nthreads 1`, one process per core; the plugin warns otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from .. import kinds
from ..report import FaceReport
from ..worker import EngineSettings

if TYPE_CHECKING:  # dlib is loaded on the workers only, when a task first needs it
    from ..faces import FaceEngine

PLUGIN_NAME = "facewatchd-engine"

log = logging.getLogger("facewatchd.worker")


class _Engines:
    """This worker process's FaceEngines, by settings: one per thread using one at once
    (a file abandoned at its time limit keeps its engine until its thread ends)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[EngineSettings, list[FaceEngine]] = {}

    @contextmanager
    def borrow(self, settings: EngineSettings) -> Iterator[FaceEngine]:
        with self._lock:
            free = self._free.setdefault(settings, [])
            engine = free.pop() if free else None
        if engine is None:
            from ..faces import FaceEngine

            engine = FaceEngine(**dataclasses.asdict(settings))
        try:
            yield engine
        finally:
            with self._lock:
                self._free.setdefault(settings, []).append(engine)

    def preload(self, settings: EngineSettings) -> None:
        """Load the models for `settings` now; engines of other settings go."""
        with self._lock:
            for other in [s for s in self._free if s != settings]:
                del self._free[other]
        with self.borrow(settings):
            pass


_ENGINES = _Engines()


class EnginePlugin(WorkerPlugin):
    """Registered by the daemon on every (re)connection and whenever the engine
    settings change: each worker loads the models as it gets it (and as it joins)."""

    name = PLUGIN_NAME

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings

    def setup(self, worker: distributed.Worker) -> None:
        if worker.state.nthreads > 1:
            log.warning("worker %s has %d threads: dlib holds the GIL, so they take turns; "
                        "run `dask worker --nthreads 1 --nworkers N` instead", worker.name,
                        worker.state.nthreads)
        _ENGINES.preload(self.settings)


def analyse_batch(settings: EngineSettings, files: list[tuple[str, bytes | None]],
                  timeout: float) -> list[FaceReport]:
    """The Dask task: each (path as this worker sees it, and the content if the daemon
    sent it) -> its FaceReport, in order. Never raises for a file."""
    return [_analyse_one(settings, where, data, timeout) for where, data in files]


def _analyse_one(settings: EngineSettings, where: str, data: bytes | None,
                 timeout: float) -> FaceReport:
    """One file, in a helper thread joined with `timeout`: a file that takes longer is
    abandoned (set aside in failed/, as the local pool does). Its thread cannot be
    killed; it runs on with its own engine, and the next file gets another."""
    found: list[FaceReport] = []

    def run() -> None:
        try:
            with _ENGINES.borrow(settings) as engine:
                found.append(engine.analyse(where) if data is None else engine.analyse_bytes(data, where))
        except Exception as e:  # a bug must cost one file, not the batch
            found.append(FaceReport(where, kinds.analysed_as(where),
                                    error=f"internal error: {type(e).__name__}: {e}"))

    thread = threading.Thread(target=run, name="facewatchd-analyse", daemon=True)
    thread.start()
    thread.join(timeout)
    if not found:
        return FaceReport(where, kinds.analysed_as(where), abandoned=True,
                          error=f"analysis took longer than {timeout:g} s")
    return found[0]
