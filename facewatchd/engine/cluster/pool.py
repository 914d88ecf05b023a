"""ClusterPool: the local pool's interface (WorkerPool, engine/pool.py) on a Dask cluster,
as the daemon's main thread uses it.

Only the pure part leaves the daemon: decode, detect, encode (worker.py runs FaceEngine
there, its models loaded once per worker by a plugin). Deciding, moving and the ledger
stay in the main process, exactly as with the local pool; the daemon and --oneshot use
either pool the same way (engine/pools.py picks one).

    main thread                      cluster thread (asyncio)          Dask
    submit(key, path) ─ inbox ─────▶ batches of `batch` files, at ───▶ scheduler ─▶ workers
    collect() ◀─ results + pipe ──── most `max_tasks` in flight;       (a FaceEngine per
    waitables(): the pipe            reconnects; fixes up reports       worker process)

- The main thread never touches the network: it puts items in a queue and takes reports
  from another; a pipe written with each report (and each change of state) is the one
  waitable, so the daemon's one wait() wakes for them. The cluster thread is thread.py
  (its connection connection.py, its batches dispatch.py); what a task carries, and its
  key, batch.py.
- Bounded: `pending` counts the files submitted and not yet collected; the caller stops
  at `capacity` (a full batch for each task slot and one forming), so a million-file
  backfill floods neither the scheduler nor the daemon's memory.
- Each file is delivered at most once: a repeated result (a task run twice) is dropped,
  and counted, never sorted twice.
- The scheduler lost: the files in flight stay in inbound and wait, the state says so,
  and they are sent again once it is back. Nothing falls back to local analysis. Those
  who cannot wait (a `facewatchctl test`) are told, through `unavailable`, once no worker
  has been there for PATIENCE connection timeouts.
- A task stuck on a worker is given up when its files' time limits are past
  (dispatch.py), so every file comes back.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import asdict
from multiprocessing.connection import wait
from typing import Any

from ...config import ClusterConfig
from ...errors import UnavailableError
from ..pool import imap
from ..report import FaceReport
from ..worker import EngineSettings
from .batch import Item
from .thread import ClusterThread

log = logging.getLogger("facewatchd.cluster")

# How long, in [cluster] connect_timeouts, work that cannot wait for ever waits for a
# worker: time for a few tries to reach a scheduler that restarts, short of systemd's
# timeout of a reload (90 s).
PATIENCE = 3


class ClusterPool:
    """Submit paths with `submit`, collect (key, FaceReport) pairs with `collect`."""

    def __init__(self, settings: EngineSettings, cluster: ClusterConfig, timeout: float,
                 *, fail_fast: bool = False) -> None:
        """`fail_fast`: if the first connection fails, give up (for --oneshot, which says
        so in one line through `wait_connected`) instead of trying again."""
        self.cluster = cluster
        self.patience = PATIENCE * cluster.connect_timeout
        self.dropped = 0  # results for files already delivered (never expected; counted)
        self._outstanding: dict[int, Hashable] = {}  # uid -> the caller's key
        self._next_uid = 0
        self._closed = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._results: queue.SimpleQueue[tuple[int, FaceReport]] = queue.SimpleQueue()
        self._thread = ClusterThread(settings, cluster, timeout, self._deliver, self._poke, fail_fast)
        self._thread.start()

    # WorkerPool

    @property
    def size(self) -> int:
        """Dask workers there now."""
        return self._thread.health.workers

    @property
    def capacity(self) -> int:
        return self.cluster.batch * (self._thread.max_tasks() + 1)

    @property
    def pending(self) -> int:
        return len(self._outstanding)

    @property
    def restarts(self) -> int:
        """Times the connection to the scheduler was lost and made again."""
        return self._thread.health.reconnects

    @property
    def state(self) -> str:
        """"running" while connected (as pool.Pool); else connecting, lost, unreachable, closed."""
        state = self._thread.health.state
        return "running" if state == "connected" else state

    def waitables(self) -> list[Any]:
        return [self._wake_r]

    def next_timeout(self) -> float | None:
        """While no worker is there, when `unavailable` will say so; otherwise None: the
        cluster thread keeps the time limits, and results wake the pipe."""
        since = self._thread.health.down_since
        left = None if since is None else since + self.patience - time.monotonic()
        return left if left is not None and left > 0 else None

    def unavailable(self) -> str | None:
        """Why nothing sent can come back now, once no worker has been there for
        PATIENCE connect_timeouts; else None (the files wait, sent again once it is back)."""
        health = self._thread.health
        if health.down_since is None or time.monotonic() - health.down_since < self.patience:
            return None
        address = self.cluster.scheduler
        if health.state == "connected":
            return f"the Dask scheduler at {address} has no workers"
        return health.error or f"not connected to the Dask scheduler at {address} ({health.state})"

    def submit(self, key: Hashable, path: str) -> None:
        self._next_uid += 1
        self._outstanding[self._next_uid] = key
        self._thread.put(Item(self._next_uid, path))

    def collect(self, timeout: float | None = None) -> list[tuple[Hashable, FaceReport]]:
        """Wait up to `timeout` seconds for at least one result; return all that are ready."""
        if self._results.empty() and (timeout is None or timeout > 0):
            wait([self._wake_r], timeout)
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        results: list[tuple[Hashable, FaceReport]] = []
        while True:
            try:
                uid, report = self._results.get_nowait()
            except queue.Empty:
                return results
            if uid not in self._outstanding:  # delivered already: it must not be sorted twice
                self.dropped += 1
                log.warning("dropped a second result for %s", report.path)
                continue
            results.append((self._outstanding.pop(uid), report))

    def imap(self, paths: Iterable[str], stop: Callable[[], bool] = lambda: False) -> Iterator[FaceReport]:
        return imap(self, paths, stop)

    def describe(self) -> dict[str, Any]:
        """Where analysis runs and how it goes, for status and the oneshot summary."""
        health = asdict(self._thread.health)
        retry_at = health.pop("retry_at")
        del health["down_since"]
        return {"mode": "cluster", "scheduler": self.cluster.scheduler, **health,
                "retry_in": None if retry_at is None else round(max(0.0, retry_at - time.monotonic()), 1),
                "unavailable": self.unavailable(),
                "send_bytes": self.cluster.send_bytes, "batch": self.cluster.batch,
                "max_tasks": self._thread.max_tasks(), "dropped": self.dropped}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread.stop():
            os.close(self._wake_r)
            os.close(self._wake_w)
        # else the thread may still write to the pipe: left open, not reused by another file

    def __enter__(self) -> ClusterPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # Only this pool

    def wait_connected(self) -> None:
        """Block until connected with a worker there; else raise UnavailableError. For
        --oneshot: an unreachable scheduler is one clear line, before anything moves."""
        address = self.cluster.scheduler
        if not self._thread.first_attempt.wait(self.cluster.connect_timeout + 15):
            raise UnavailableError(f"cannot reach the Dask scheduler at {address}: no answer")
        health = self._thread.health
        if health.state != "connected":
            raise UnavailableError(health.error or f"cannot reach the Dask scheduler at {address}")
        deadline = time.monotonic() + self.cluster.connect_timeout
        while self._thread.health.workers == 0:
            if time.monotonic() > deadline:
                raise UnavailableError(f"the Dask scheduler at {address} has no workers "
                                       f"(none joined within {self.cluster.connect_timeout:g} s)")
            time.sleep(0.1)

    def reconfigure(self, settings: EngineSettings, timeout: float) -> None:
        """New engine settings or time limit (a reload): the tasks sent from now on use them."""
        self._thread.reconfigure(settings, timeout)

    # Called from the cluster thread

    def _deliver(self, uid: int, report: FaceReport) -> None:
        self._results.put((uid, report))
        self._poke()

    def _poke(self) -> None:
        try:
            os.write(self._wake_w, b"r")
        except OSError:
            pass  # a wake-up is pending already (the pipe is full), or we are closing
