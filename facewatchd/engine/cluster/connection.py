"""The connection to the Dask scheduler, on the cluster thread: the client, and the
state machine around it, told to the main thread as one Health.

    connecting ─▶ connected ─▶ lost ─▶ connected ─▶ ...   lost: a new try after each backoff
        └─▶ unreachable ─▶ connected                       the same; with fail_fast, the end
    and closed once the thread ends.

- Our own reconnection, with backoff from FIRST_BACKOFF doubling up to `reconnect_max`:
  Dask's ends by closing the client, and a new scheduler knows nothing of our plugin.
- A plain TCP connection first, so the error is "Connection refused" or an unknown host
  rather than Dask's "timed out" after its whole timeout.
- Every change of state, workers or error pokes the daemon: its STATUS= and status follow.
- The scheduler's own calls: restarting a worker the dispatcher found stuck.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import dask
import distributed

from ...config import ClusterConfig

log = logging.getLogger("facewatchd.cluster")

FIRST_BACKOFF = 1.0  # seconds before the first new try; doubles up to reconnect_max
RESTART_TIMEOUT = 60.0  # seconds for the scheduler to restart (or remove) a stuck worker

State = Literal["connecting", "connected", "lost", "unreachable", "closed"]


@dataclass(frozen=True)
class Health:
    """How the cluster goes, as the cluster thread last saw it; replaced whole, so the
    main thread always reads one consistent version."""

    state: State = "connecting"
    workers: int = 0
    threads: int = 0
    tasks: int = 0  # in flight
    files: int = 0  # in those tasks
    reconnects: int = 0
    error: str | None = None
    retry_at: float | None = None  # time.monotonic() of the next try
    down_since: float | None = None  # time.monotonic() since when no worker has been there


class Connection:
    """The client of one scheduler address, made again each time it is lost."""

    def __init__(self, cluster: ClusterConfig, poke: Callable[[], None], fail_fast: bool,
                 stopping: threading.Event) -> None:
        """`stopping` is the cluster thread's: with `fail_fast` a first try that fails sets
        it, and the thread ends."""
        self.cluster = cluster
        _quiet_dask()
        self.health = Health(down_since=time.monotonic())
        self.first_attempt = threading.Event()  # set once the first connection is made or failed
        self.generation = 0  # connections made: a batch prepared during one is sent on it only
        self._poke, self._fail_fast, self._stopping = poke, fail_fast, stopping
        self._ever_connected = False
        self._backoff = FIRST_BACKOFF

    async def connect(self, stop: asyncio.Event) -> distributed.Client | None:
        """A client connected to the scheduler, or None after saying why and waiting the
        backoff (cut short by `stop` only: new files do not)."""
        address = self.cluster.scheduler
        try:
            await self._probe()
            client: distributed.Client = await asyncio.wait_for(
                distributed.Client(address, asynchronous=True, timeout=self.cluster.connect_timeout,
                                   # results come back through the scheduler: the daemon
                                   # talks to it alone (one address for the drop-in to open)
                                   direct_to_workers=False, set_as_default=False, name="facewatchd"),
                self.cluster.connect_timeout + 5)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # OSError, TimeoutError, a version clash...
            await self._failed(one_line(e), stop)
            return None
        self._backoff = FIRST_BACKOFF
        self.generation += 1
        reconnects = self.health.reconnects + (1 if self._ever_connected else 0)
        self._ever_connected = True
        identity = client.scheduler_info()
        self.set(state="connected", error=None, retry_at=None, reconnects=reconnects,
                 workers=identity.get("n_workers", 0), threads=identity.get("total_threads", 0))
        log.info("analysis on the Dask scheduler at %s: %d workers, %d threads",
                 address, self.health.workers, self.health.threads)
        self.first_attempt.set()
        return client

    async def _failed(self, error: str, stop: asyncio.Event) -> None:
        address = self.cluster.scheduler
        message = (f"lost the Dask scheduler at {address}, still cannot reach it: {error}"
                   if self._ever_connected else f"cannot reach the Dask scheduler at {address}: {error}")
        if self._fail_fast and not self._ever_connected:
            self._stopping.set()
            self.set(state="unreachable", error=message)
            self.first_attempt.set()
            return
        backoff = self._backoff
        again = self.health.state in ("lost", "unreachable")
        log.log(logging.WARNING if again else logging.ERROR,
                "%s; files wait in inbound; trying again in %g s", message, backoff)
        self.set(state="lost" if self._ever_connected else "unreachable", error=message,
                 retry_at=time.monotonic() + backoff)
        self.first_attempt.set()
        await pause(backoff, stop, self._stopping)
        self._backoff = min(backoff * 2, self.cluster.reconnect_max)

    async def _probe(self) -> None:
        """A plain TCP connection first: "Connection refused" or an unknown host says
        more than the "timed out" Dask reports after trying until its timeout."""
        host, _, port = self.cluster.scheduler.removeprefix("tcp://").rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)),
                                               self.cluster.connect_timeout)
        except TimeoutError:
            raise OSError(f"no answer within {self.cluster.connect_timeout:g} s") from None
        except socket.gaierror as e:
            raise OSError(f"{host}: {e.strerror}") from None
        except OSError as e:
            raise OSError(os.strerror(e.errno) if e.errno else str(e)) from None
        writer.close()

    def count_workers(self, client: distributed.Client) -> None:
        """The workers and threads the scheduler has now, as the client last heard."""
        identity = client.scheduler_info()
        workers, threads = identity.get("n_workers", 0), identity.get("total_threads", 0)
        if (workers, threads) != (self.health.workers, self.health.threads):
            log.info("Dask workers: %d (%d threads)", workers, threads)
            self.set(workers=workers, threads=threads)

    async def restart_worker(self, client: distributed.Client, worker: str) -> None:
        """Have the scheduler restart a stuck worker (its nanny kills and starts it again),
        or remove it if it has none, so nothing more is sent there; as Dask does itself
        with a worker that stops sending heartbeats (worker-ttl), only sooner."""
        try:
            if client.scheduler is None:  # closed meanwhile
                return
            # The scheduler's own call: Client.restart_workers refuses workers without a nanny.
            done = await asyncio.wait_for(client.scheduler.restart_workers(
                workers=[worker], wait_for_workers=False, on_error="return",
                stimulus_id=f"facewatchd-stuck-{time.time()}"), RESTART_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # lost meanwhile, or it would not go: its tasks are given up in turn
            log.warning("could not restart the stuck Dask worker %s: %s", worker, one_line(e))
        else:
            log.info("stuck Dask worker %s: %s", worker, done.get(worker, done))

    def lost(self, why: str, waiting: int) -> None:
        """The connection went (and is closed): say so; the next `connect` tries again."""
        log.error("lost the Dask scheduler at %s (%s); the %d files in flight stay in "
                  "inbound until it is back", self.cluster.scheduler, why, waiting)
        self.set(state="lost", workers=0, threads=0,
                 error=f"lost the Dask scheduler at {self.cluster.scheduler} ({why}); reconnecting")

    async def close(self, client: distributed.Client) -> None:
        try:
            await asyncio.wait_for(client.close(timeout=2), 5)
        except asyncio.CancelledError:
            raise
        except Exception:  # it is going away either way
            pass

    def closed(self, error: str | None = None) -> None:
        """The thread ends: nothing more comes back."""
        self.set(state="closed", **({} if error is None else {"error": error}))
        self.first_attempt.set()

    def set(self, **changes: Any) -> None:
        before = self.health
        after = replace(before, **changes)
        if after.workers and after.down_since is not None:
            after = replace(after, down_since=None)
        elif not after.workers and after.down_since is None:
            after = replace(after, down_since=time.monotonic())
        self.health = after
        if any(getattr(before, k) != v for k, v in changes.items() if k in ("state", "workers", "error")):
            self._poke()  # the daemon's STATUS= and status follow


async def pause(seconds: float, until: asyncio.Event, stopping: threading.Event) -> None:
    """Sleep up to `seconds`, less once `until` is set; not at all when stopping."""
    if stopping.is_set():
        return
    try:
        await asyncio.wait_for(until.wait(), seconds)
    except TimeoutError:
        pass


def one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _quiet_dask() -> None:
    """Dask's loggers write to stderr by default; in the daemon only their errors matter,
    through our handler (journald or stderr), beside this package's clearer lines."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.split(".")[0] in ("distributed", "tornado", "bokeh"):
            logger.handlers[:] = []
            logger.propagate = True
            if name.startswith("distributed."):
                logger.setLevel(logging.NOTSET)  # as "distributed" says
    # Its client logs tracebacks for a lost scheduler, which this package reports in a line.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    # send_bytes tasks carry up to batch.TASK_BYTES; the warning about large graphs is for graphs
    # that repeat data, which these do not.
    dask.config.set({"distributed.admin.large-graph-warning-threshold": "1GiB"})
