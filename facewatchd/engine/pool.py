"""The worker pool: N processes, each with the models loaded once, one file at a time.

Workers are pure: path in, FaceReport out; they never move a file or write the
database, so killing one leaves nothing half-done. A worker that dies is replaced
and its file retried once; a file that takes longer than the time limit has its
worker killed and comes back as a failed report. concurrent.futures cannot do
either (a dead worker breaks its whole executor), hence this small pool.

Workers fork from a forkserver that has imported dlib and loaded its models
(engine/preload.py), so a worker, the first or a replacement, starts in a fraction of
a second and the library's and the models' pages are shared.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from multiprocessing.connection import wait
from typing import Any, Protocol

from .report import FaceReport
from .worker import READY, EngineSettings, Job, Worker

log = logging.getLogger("facewatchd.pool")

# What the forkserver imports before it forks a worker: the engine and its models.
PRELOAD = ["facewatchd.engine.preload"]
RETRIES_AFTER_CRASH = 1
WINDOW = 2  # files outstanding per worker: one in work, one ready to go


class WorkerPool(Protocol):
    """What the daemon and --oneshot use of a pool: this module's, or the Dask one of
    cluster/ ([cluster]); apart from choosing one (pools.py), they use both the same way."""

    @property
    def size(self) -> int: ...  # workers there now

    @property
    def capacity(self) -> int: ...  # files a caller may keep pending

    @property
    def pending(self) -> int: ...  # submitted and not yet collected

    @property
    def restarts(self) -> int: ...  # workers replaced (a cluster: reconnections)

    @property
    def state(self) -> str: ...  # "running" while results can come back

    def submit(self, key: Hashable, path: str) -> None: ...  # never blocks

    def collect(self, timeout: float | None = None) -> list[tuple[Hashable, FaceReport]]: ...

    def waitables(self) -> list[Any]: ...  # for multiprocessing.connection.wait

    def next_timeout(self) -> float | None: ...

    def unavailable(self) -> str | None: ...  # why nothing can come back for a while (no Dask workers)

    def imap(self, paths: Iterable[str], stop: Callable[[], bool] = ...) -> Iterator[FaceReport]: ...

    def describe(self) -> dict[str, Any]: ...  # where analysis runs, for status

    def close(self) -> None: ...


def _forkserver() -> multiprocessing.context.ForkServerContext:
    """The context workers start in: forked from a forkserver that imported PRELOAD."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start_forkserver() -> None:
    """Start the forkserver the workers fork from, which loads the models, now rather
    than at the first worker's start: for a caller with other work to do meanwhile."""
    _forkserver()
    multiprocessing.forkserver.ensure_running()


class Pool:
    """Submit paths with `submit`, collect (key, FaceReport) pairs with `collect`."""

    def __init__(self, settings: EngineSettings, workers: int, timeout: float) -> None:
        ctx = _forkserver()
        self._ctx, self._settings, self._timeout = ctx, settings, timeout
        self._workers = [Worker(ctx, settings) for _ in range(workers)]
        self._backlog: deque[Job] = deque()
        self.restarts = 0

    @property
    def size(self) -> int:
        return len(self._workers)

    @property
    def pending(self) -> int:
        """Files submitted and not yet collected: the caller bounds this."""
        return len(self._backlog) + sum(w.job is not None for w in self._workers)

    @property
    def in_flight(self) -> int:
        return sum(w.job is not None for w in self._workers)

    @property
    def capacity(self) -> int:
        """How many files a caller should keep pending: one in work and one ready per worker."""
        return WINDOW * self.size

    @property
    def state(self) -> str:
        """Always "running": a local worker that dies is replaced (a cluster can be lost)."""
        return "running"

    def describe(self) -> dict[str, Any]:
        """Where analysis runs, for status and the oneshot summary."""
        return {"mode": "local", "state": self.state, "workers": self.size, "restarts": self.restarts}

    def waitables(self) -> list[Any]:
        """What to wait on: the pipes and sentinels of busy workers and of those starting."""
        watched = [w for w in self._workers if w.job is not None or not w.ready]
        return [w.conn for w in watched] + [w.process.sentinel for w in watched]

    def next_timeout(self) -> float | None:
        """Seconds until the earliest job in flight reaches the time limit."""
        started = [w.job.started for w in self._workers if w.job is not None]
        return max(0.0, min(started) + self._timeout - time.monotonic()) if started else None

    def unavailable(self) -> str | None:
        """Never: a worker that dies is replaced, one past its time limit killed."""
        return None

    def submit(self, key: Hashable, path: str) -> None:
        self._backlog.append(Job(key, path))
        self._dispatch()

    def collect(self, timeout: float | None = None) -> list[tuple[Hashable, FaceReport]]:
        """Wait up to `timeout` seconds for at least one result; return all that are ready."""
        results: list[tuple[Hashable, FaceReport]] = []
        self._dispatch()
        waitables = self.waitables()
        if not waitables:
            return results
        limits = [t for t in (timeout, self.next_timeout()) if t is not None]
        ready = set(wait(waitables, min(limits) if limits else None))
        for index, worker in enumerate(self._workers):
            if not worker.ready and worker.job is None:
                if worker.conn in ready or worker.process.sentinel in ready:
                    self._take_ready(index)
        for index, worker in enumerate(self._workers):
            job = worker.job
            if job is None:
                continue
            if worker.conn in ready:
                try:
                    key, report = worker.conn.recv()
                except (EOFError, OSError):  # its end of the pipe closed: it died
                    results.extend(self._crashed(index, job))
                else:
                    worker.job = None
                    results.append((key, report))
                continue
            if worker.process.sentinel in ready or not worker.process.is_alive():
                results.extend(self._crashed(index, job))
            elif time.monotonic() - job.started > self._timeout:
                self._replace(index, kill=True)
                results.append((job.key, FaceReport(
                    job.path, "image", error=f"analysis took longer than {self._timeout:g} s",
                    abandoned=True)))
        self._dispatch()
        return results

    def imap(self, paths: Iterable[str], stop: Callable[[], bool] = lambda: False) -> Iterator[FaceReport]:
        return imap(self, paths, stop)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self._workers:
            worker.stop(kill=worker.job is not None)
        self._workers = []

    def _crashed(self, index: int, job: Job) -> list[tuple[Hashable, FaceReport]]:
        code = self._replace(index)
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        if job.attempts < RETRIES_AFTER_CRASH:
            job.attempts += 1
            self._backlog.appendleft(job)
            return []
        return [(job.key, FaceReport(job.path, "image", abandoned=True,
                                     error=f"the worker analysing it died ({how}), twice"))]

    def _replace(self, index: int, kill: bool = False) -> int | None:
        """Stop (reap) the worker at `index`, start a new one; returns the old exit code."""
        old = self._workers[index]
        old.job = None
        old.stop(kill=kill)
        self._workers[index] = Worker(self._ctx, self._settings)
        self.restarts += 1
        code: int | None = old.process.exitcode
        return code

    def _take_ready(self, index: int) -> None:
        worker = self._workers[index]
        try:
            if worker.conn.poll() and worker.conn.recv() == READY:
                worker.ready = True
                return
        except (EOFError, OSError):
            pass
        if not worker.process.is_alive():
            log.error("a worker died while loading the models (exit status %s); starting another",
                      self._replace(index))

    def _dispatch(self) -> None:
        for index in range(len(self._workers)):
            if not self._backlog:
                return
            if not self._workers[index].ready:
                self._take_ready(index)  # may replace a worker that died starting
            worker = self._workers[index]
            if worker.job is not None or not worker.ready:
                continue
            job = self._backlog.popleft()
            job.started = time.monotonic()
            try:
                worker.conn.send((job.key, job.path))
            except OSError:  # it died while idle: replace it; the job waits for the new one
                self._backlog.appendleft(job)
                self._replace(index)
                continue
            worker.job = job


def imap(pool: WorkerPool, paths: Iterable[str], stop: Callable[[], bool] = lambda: False) -> Iterator[FaceReport]:
    """Analyse `paths` with `pool`, at most its capacity outstanding; yields as they finish.

    Once `stop()` is true no more paths are taken; what is in flight still comes back,
    unless no result can come back any more (a lost Dask scheduler: it stays in inbound).
    """
    todo = iter(paths)
    exhausted = False
    while True:
        while not exhausted and not stop() and pool.pending < pool.capacity:
            path = next(todo, None)
            if path is None:
                exhausted = True
            else:
                pool.submit(path, path)
        if not pool.pending:
            return
        if stop() and pool.state != "running":
            log.warning("stopping with %d files not analysed (no scheduler); they stay in inbound",
                        pool.pending)
            return
        for _, report in pool.collect(timeout=0.5):
            yield report
