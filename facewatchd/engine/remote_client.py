"""The cluster thread of the Dask pool ([cluster]): an asyncio loop that owns the Dask
client, sends batches and takes their results, so the daemon's main thread never
touches the network.

- Bounded: at most `max_tasks` tasks in flight (default twice the workers' threads,
  following the cluster as it grows); a partial batch waits LINGER for more files.
- Faults: a worker that dies mid-task -> Dask runs the task elsewhere (the scheduler's
  `allowed-failures`); past that (KilledWorker) the batch is split and each file runs
  alone, and a file whose workers still die comes back abandoned (set aside in
  failed/, as the local pool does after its worker died on it twice). A task that
  raises is run `retries` times more; then its files come back unopened (they stay in
  inbound). The scheduler lost -> every batch in flight goes back to the front of the
  backlog, the state says "lost", tries back off up to `reconnect_max` (our own: Dask's
  reconnection ends by closing the client, and a new scheduler knows nothing of our
  plugin), and then every unfinished batch is sent again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import dask
import distributed

from ..config import ClusterConfig
from .remote_batch import Batch, Item, prepare
from .remote_worker import PLUGIN_NAME, EnginePlugin, analyse_batch
from .report import FaceReport
from .worker import EngineSettings

log = logging.getLogger("facewatchd.cluster")

LINGER = 0.05  # seconds a partial batch waits for more files
POLL = 0.5  # seconds between looks at the connection (and the workers)
FIRST_BACKOFF = 1.0  # seconds before the first new try; doubles up to reconnect_max
STOP_POLITELY = 3.0  # seconds for the thread to close its client when stopped

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


@dataclass
class _Sent:
    batch: Batch
    future: distributed.Future[list[FaceReport]]


class ClusterThread:
    """The cluster thread: an asyncio loop that owns the Dask client and every batch."""

    def __init__(self, settings: EngineSettings, cluster: ClusterConfig, timeout: float,
                 deliver: Callable[[int, FaceReport], None], poke: Callable[[], None],
                 fail_fast: bool) -> None:
        self.settings, self.cluster, self.timeout = settings, cluster, timeout
        _quiet_dask()
        self.health = Health()
        self.first_attempt = threading.Event()  # set once the first connection is made or failed
        self._deliver, self._poke, self._fail_fast = deliver, poke, fail_fast
        self._inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._backlog: deque[Item] = deque()
        self._backlog_since = 0.0  # when the oldest item of the backlog came (a batch forming)
        self._tasks: dict[str, _Sent] = {}  # by Dask key
        self._generation = 0  # connections made: a batch prepared during one is sent on it only
        self._ever_connected = False
        self._plugin_due = True
        self._stopping = threading.Event()  # set by the main thread: nothing more is sent
        # Made here, run in the thread (asyncio.Runner with this loop does not make it
        # the main thread's); the events bind to it when first awaited there.
        self._loop = asyncio.new_event_loop()
        self._kick = asyncio.Event()  # work to do, or stopping
        self._stop_event = asyncio.Event()  # stopping only: cuts a backoff short
        self._main: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="facewatchd-dask", daemon=True)

    # From the main thread

    def start(self) -> None:
        self._thread.start()

    def put(self, item: Item) -> None:
        self._inbox.put(item)
        self._call(self._kick.set)

    def max_tasks(self) -> int:
        return self.cluster.max_tasks or max(2, 2 * self.health.threads)

    def reconfigure(self, settings: EngineSettings, timeout: float) -> None:
        def apply() -> None:
            if settings != self.settings:
                self._plugin_due = True
                self._kick.set()
            self.settings, self.timeout = settings, timeout

        self._call(apply)

    def stop(self) -> bool:
        """End the thread: the client closed, nothing more sent (unfinished files stay in
        inbound); whether it ended. A flag first, then cancellation, again until it ends:
        in Python 3.11 a cancellation can be swallowed by wait_for when its awaitable
        completes at the same moment (seen as a hang in close() about one time in three)."""
        self._stopping.set()
        self._call(self._kick.set)
        self._call(self._stop_event.set)
        self._thread.join(STOP_POLITELY)
        deadline = time.monotonic() + 30
        while self._thread.is_alive() and time.monotonic() < deadline:
            if self._main is not None:
                self._call(self._main.cancel)
            self._thread.join(1)
        if self._thread.is_alive():
            log.error("the Dask client thread did not stop within 30 s")
            return False
        return True

    def _call(self, callback: Callable[[], object]) -> None:
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:
            pass  # the loop has ended already

    # The thread

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=lambda: self._loop) as runner:
                runner.run(self._amain())
        except BaseException:  # the thread must end quietly, and say why
            log.exception("the cluster thread failed")
            self._set(state="closed", error="the cluster thread failed (see the log)")
            self.first_attempt.set()

    async def _amain(self) -> None:
        self._main = asyncio.current_task()
        backoff = FIRST_BACKOFF
        try:
            while not self._stopping.is_set():
                client = await self._connect(backoff)
                if client is None:
                    backoff = min(backoff * 2, self.cluster.reconnect_max)
                    continue
                backoff = FIRST_BACKOFF
                try:
                    why = await self._serve(client)
                finally:
                    self._requeue_all()
                    await self._close_client(client)
                if self._stopping.is_set():
                    break
                waiting = len(self._backlog)
                log.error("lost the Dask scheduler at %s (%s); the %d files in flight stay in "
                          "inbound until it is back", self.cluster.scheduler, why, waiting)
                self._set(state="lost", workers=0, threads=0,
                          error=f"lost the Dask scheduler at {self.cluster.scheduler} ({why}); reconnecting")
        except asyncio.CancelledError:
            pass
        finally:
            self._set(state="closed")
            self.first_attempt.set()

    async def _connect(self, backoff: float) -> distributed.Client | None:
        """A client connected to the scheduler, or None after saying why and waiting `backoff`."""
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
            message = (f"lost the Dask scheduler at {address}, still cannot reach it: {_one_line(e)}"
                       if self._ever_connected else
                       f"cannot reach the Dask scheduler at {address}: {_one_line(e)}")
            if self._fail_fast and not self._ever_connected:
                self._stopping.set()
                self._set(state="unreachable", error=message)
                self.first_attempt.set()
                return None
            again = self.health.state in ("lost", "unreachable")
            log.log(logging.WARNING if again else logging.ERROR,
                    "%s; files wait in inbound; trying again in %g s", message, backoff)
            self._set(state="lost" if self._ever_connected else "unreachable", error=message,
                      retry_at=time.monotonic() + backoff)
            self.first_attempt.set()
            await self._pause(backoff, self._stop_event)  # new files do not cut it short
            return None
        self._generation += 1
        reconnects = self.health.reconnects + (1 if self._ever_connected else 0)
        self._ever_connected = True
        self._plugin_due = True  # a new scheduler knows nothing of ours
        identity = client.scheduler_info()
        self._set(state="connected", error=None, retry_at=None, reconnects=reconnects,
                  workers=identity.get("n_workers", 0), threads=identity.get("total_threads", 0))
        log.info("analysis on the Dask scheduler at %s: %d workers, %d threads",
                 address, self.health.workers, self.health.threads)
        self.first_attempt.set()
        return client

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

    async def _serve(self, client: distributed.Client) -> str:
        """Send batches and take results until the connection is lost; returns why."""
        while True:
            self._kick.clear()
            if self._stopping.is_set():
                return "stopping"
            if client.status != "running":
                return "the connection to it was closed"
            if self._plugin_due:
                self._plugin_due = False
                await self._register_plugin(client)
            identity = client.scheduler_info()
            workers, threads = identity.get("n_workers", 0), identity.get("total_threads", 0)
            if (workers, threads) != (self.health.workers, self.health.threads):
                log.info("Dask workers: %d (%d threads)", workers, threads)
                self._set(workers=workers, threads=threads)
            self._take_inbox()
            linger = await self._dispatch(client)
            await self._pause(min(POLL, linger or POLL))

    async def _pause(self, seconds: float, until: asyncio.Event | None = None) -> None:
        """Sleep up to `seconds`, less if kicked (work to do, or stopping)."""
        if self._stopping.is_set():
            return
        try:
            await asyncio.wait_for((until or self._kick).wait(), seconds)
        except TimeoutError:
            pass

    async def _register_plugin(self, client: distributed.Client) -> None:
        try:
            await asyncio.wait_for(client.register_plugin(EnginePlugin(self.settings), name=PLUGIN_NAME),
                                   self.cluster.connect_timeout + 60)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # tasks load the models themselves then
            log.warning("could not load the models on the workers ahead of time: %s", _one_line(e))

    def _take_inbox(self) -> None:
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if not self._backlog:
                self._backlog_since = time.monotonic()
            self._backlog.append(item)

    async def _dispatch(self, client: distributed.Client) -> float | None:
        """Send batches while there is room; returns how long a partial batch may linger."""
        size = self.cluster.batch
        while self._backlog and len(self._tasks) < self.max_tasks() and not self._stopping.is_set():
            solo = self._backlog[0].solo
            if not solo and len(self._backlog) < size:
                waited = time.monotonic() - self._backlog_since
                if waited < LINGER:
                    return LINGER - waited
            items = [self._backlog.popleft()]
            while not solo and self._backlog and len(items) < size and not self._backlog[0].solo:
                items.append(self._backlog.popleft())
            self._backlog_since = time.monotonic()
            generation = self._generation
            prepared = await asyncio.get_running_loop().run_in_executor(
                None, prepare, items, self.settings, self.cluster, self._deliver)
            self._backlog.extendleft(reversed(prepared.rest))
            batch = prepared.batch
            if batch is None:
                continue
            if client.status != "running" or generation != self._generation:
                self._backlog.extendleft(reversed(batch.items))
                return None
            while batch.key in self._tasks:  # the same files twice at once (`facewatchctl test`)
                batch.key += "+"
            future = client.submit(analyse_batch, self.settings, batch.files, self.timeout,
                                   key=batch.key, retries=self.cluster.retries, pure=False)
            sent = self._tasks[batch.key] = _Sent(batch, future)
            log.debug("sent %s: %d files", batch.key, len(batch.items))
            self._count()
            asyncio.ensure_future(self._watch(sent))
        return None

    async def _watch(self, sent: _Sent) -> None:
        outcome: tuple[str, Any]
        try:
            reports = await sent.future
        except distributed.client.FutureCancelledError as e:
            outcome = ("cancelled", e)
        except asyncio.CancelledError:
            raise  # this thread is stopping
        except distributed.scheduler.KilledWorker as e:
            outcome = ("killed", e)
        except Exception as e:  # raised by the task itself, past its retries
            outcome = ("error", e)
        else:
            if isinstance(reports, list) and len(reports) == len(sent.batch.items):
                outcome = ("ok", reports)
            else:
                outcome = ("error", TypeError(f"a task returned {type(reports).__name__}"))
        self._finish(sent, *outcome)
        self._kick.set()

    def _finish(self, sent: _Sent, how: str, value: Any) -> None:
        batch = sent.batch
        log.debug("%s: %s", batch.key, how)
        if self._tasks.get(batch.key) is not sent:
            return  # requeued already (the connection was lost): its files went back
        del self._tasks[batch.key]
        try:
            sent.future.release()
        except Exception:  # a closed client: nothing to release
            pass
        if how == "ok":
            for i, (item, report) in enumerate(zip(batch.items, value, strict=True)):
                self._deliver(item.uid, batch.report(i, report))
        elif how == "cancelled":  # the connection went: sent again once it is back
            self._backlog.extendleft(reversed(batch.items))
        elif how == "killed" and len(batch.items) > 1:
            log.warning("the workers running a batch of %d files died (%s); running each alone",
                        len(batch.items), _one_line(value))
            self._backlog.extendleft(reversed([replace(item, solo=True) for item in batch.items]))
        elif how == "killed":
            item = batch.items[0]
            self._deliver(item.uid, FaceReport(item.path, item.kind, abandoned=True,
                                               error=f"the workers analysing it died ({_one_line(value)})"))
        else:
            why = f"the cluster could not analyse it: {type(value).__name__}: {_one_line(value)}"
            log.error("a task failed after %d retries (%s); its %d files stay in inbound",
                      self.cluster.retries, why, len(batch.items))
            self._set(error=why)
            for item in batch.items:
                self._deliver(item.uid, FaceReport(item.path, item.kind, error=why))
        self._count()

    def _requeue_all(self) -> None:
        """The connection is gone: every batch in flight goes back, in order, to be sent again."""
        batches = sorted((sent.batch for sent in self._tasks.values()), key=lambda b: b.items[0].uid)
        self._tasks.clear()
        for batch in reversed(batches):
            self._backlog.extendleft(reversed(batch.items))
        self._backlog_since = time.monotonic()
        self._count()

    async def _close_client(self, client: distributed.Client) -> None:
        try:
            await asyncio.wait_for(client.close(timeout=2), 5)
        except asyncio.CancelledError:
            raise
        except Exception:  # it is going away either way
            pass

    def _count(self) -> None:
        self._set(tasks=len(self._tasks), files=sum(len(sent.batch.items) for sent in self._tasks.values()))

    def _set(self, **changes: Any) -> None:
        before = self.health
        self.health = replace(before, **changes)
        if any(getattr(before, k) != v for k, v in changes.items() if k in ("state", "workers", "error")):
            self._poke()  # the daemon's STATUS= and status follow


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _quiet_dask() -> None:
    """Dask's loggers write to stderr by default; in the daemon only their errors matter,
    through our handler (journald or stderr), beside this module's clearer lines."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.split(".")[0] in ("distributed", "tornado", "bokeh"):
            logger.handlers[:] = []
            logger.propagate = True
            if name.startswith("distributed."):
                logger.setLevel(logging.NOTSET)  # as "distributed" says
    # Its client logs tracebacks for a lost scheduler, which this module reports in a line.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    # send_bytes tasks carry up to remote_batch.TASK_BYTES; the warning about large graphs is for graphs
    # that repeat data, which these do not.
    dask.config.set({"distributed.admin.large-graph-warning-threshold": "1GiB"})

