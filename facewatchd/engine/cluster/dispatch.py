"""The dispatcher, on the cluster thread: the files waiting (the backlog), the batches in
flight on the connection, their time limits, and what becomes of each task.

- Bounded: at most `max_tasks` tasks in flight (default twice the workers' threads,
  following the cluster as it grows); a partial batch waits LINGER for more files.
- A task ends one of five ways, each a method: done (its reports delivered); raised,
  past its `retries` (its files come back unopened: they stay in inbound); killed, its
  workers dead past the scheduler's `allowed-failures` (a batch is split and each file
  runs alone; a file alone comes back abandoned, set aside in failed/, as the local pool
  does after its worker died on it twice); lost with the connection (sent again once it
  is back); timed out (below).
- Timed out: a task still out GRACE past its files' time limits (the worker's own limit
  cannot end analysis that holds the GIL, as dlib does, nor a stopped process) is given
  up, as the local pool kills a worker past its time limit: if the scheduler says a
  worker is running it, the task is cancelled and that worker restarted (a worker
  without a nanny is removed, for its deployment to start again); a batch is split, each
  file sent alone once that worker is gone, and a file alone comes back abandoned (set
  aside in failed/). A scheduler that does not answer counts as lost.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import distributed

from ...config import ClusterConfig
from ..report import FaceReport
from ..worker import EngineSettings
from .batch import Batch, Item, prepare
from .connection import Connection, one_line
from .worker import PLUGIN_NAME, EnginePlugin, analyse_batch

log = logging.getLogger("facewatchd.cluster")

LINGER = 0.05  # seconds a partial batch waits for more files
GRACE = 10.0  # seconds a task may take beyond its files' time limits: its way to a worker and back


@dataclass
class _Sent:
    batch: Batch
    future: distributed.Future[list[FaceReport]]
    sent: float  # time.monotonic(): Dask runs a worker's tasks in the order they were sent
    limit: float  # the time limit of each of its files, as sent
    since: float  # its time counts from then: when sent, or when last seen not yet running

    @property
    def budget(self) -> float:
        return len(self.batch.items) * self.limit + GRACE


class Dispatcher:
    """Every file from its submission until its report is delivered, across connections."""

    def __init__(self, settings: EngineSettings, cluster: ClusterConfig, timeout: float,
                 deliver: Callable[[int, FaceReport], None], connection: Connection,
                 kick: asyncio.Event, stopping: threading.Event) -> None:
        """`kick` wakes the cluster thread's loop (a task ended, files to send again);
        `stopping` says nothing more is to be sent."""
        self.settings, self.cluster, self.timeout = settings, cluster, timeout
        self.inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()  # filled by the main thread
        self._deliver, self._connection, self._kick, self._stopping = deliver, connection, kick, stopping
        self._backlog: deque[Item] = deque()
        self._backlog_since = 0.0  # when the oldest item of the backlog came (a batch forming)
        self._tasks: dict[str, _Sent] = {}  # by Dask key
        self._plugin_due = True
        self._restarts: set[asyncio.Task[None]] = set()  # stuck workers being restarted

    @property
    def waiting(self) -> int:
        return len(self._backlog)

    def max_tasks(self) -> int:
        return self.cluster.max_tasks or max(2, 2 * self._connection.health.threads)

    def reconfigure(self, settings: EngineSettings, timeout: float) -> None:
        """New settings for the tasks sent from now on; the workers load the new models."""
        if settings != self.settings:
            self._plugin_due = True
            self._kick.set()
        self.settings, self.timeout = settings, timeout

    def connected(self) -> None:
        self._plugin_due = True  # a new scheduler knows nothing of ours

    async def register_plugin(self, client: distributed.Client) -> None:
        """When due: the workers load the models ahead of the first task."""
        if not self._plugin_due:
            return
        self._plugin_due = False
        try:
            await asyncio.wait_for(client.register_plugin(EnginePlugin(self.settings), name=PLUGIN_NAME),
                                   self.cluster.connect_timeout + 60)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # tasks load the models themselves then
            log.warning("could not load the models on the workers ahead of time: %s", one_line(e))

    def take_inbox(self) -> None:
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return
            if not self._backlog:
                self._backlog_since = time.monotonic()
            self._backlog.append(item)

    async def dispatch(self, client: distributed.Client) -> float | None:
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
            generation = self._connection.generation
            prepared = await asyncio.get_running_loop().run_in_executor(
                None, prepare, items, self.settings, self.cluster, self._deliver)
            self._backlog.extendleft(reversed(prepared.rest))
            batch = prepared.batch
            if batch is None:
                continue
            if client.status != "running" or generation != self._connection.generation:
                self._backlog.extendleft(reversed(batch.items))
                return None
            while batch.key in self._tasks:  # the same files twice at once (`facewatchctl test`)
                batch.key += "+"
            future = client.submit(analyse_batch, self.settings, batch.files, self.timeout,
                                   key=batch.key, retries=self.cluster.retries, pure=False)
            now = time.monotonic()
            sent = self._tasks[batch.key] = _Sent(batch, future, now, self.timeout, now)
            log.debug("sent %s: %d files", batch.key, len(batch.items))
            self._count()
            asyncio.ensure_future(self._watch(sent))
        return None

    def requeue_all(self) -> None:
        """The connection is gone: every batch in flight goes back, in order, to be sent again."""
        batches = sorted((sent.batch for sent in self._tasks.values()), key=lambda b: b.items[0].uid)
        self._tasks.clear()
        for batch in reversed(batches):
            self._backlog.extendleft(reversed(batch.items))
        self._backlog_since = time.monotonic()
        self._count()

    # How a task ends

    async def _watch(self, sent: _Sent) -> None:
        """Wait for the task to end; then, if it is still ours, the method for how it ended."""
        outcome: partial[None]
        try:
            reports = await sent.future
        except distributed.client.FutureCancelledError:
            outcome = partial(self._lost, sent)
        except asyncio.CancelledError:
            raise  # this thread is stopping
        except distributed.scheduler.KilledWorker as e:
            outcome = partial(self._killed, sent, e)
        except Exception as e:  # raised by the task itself, past its retries
            outcome = partial(self._raised, sent, e)
        else:
            if isinstance(reports, list) and len(reports) == len(sent.batch.items):
                outcome = partial(self._done, sent, reports)
            else:
                outcome = partial(self._raised, sent, TypeError(f"a task returned {type(reports).__name__}"))
        log.debug("%s: %s", sent.batch.key, outcome.func.__name__.lstrip("_"))
        # Not ours any more if requeued already (the connection was lost): its files went back.
        if self._tasks.get(sent.batch.key) is sent:
            del self._tasks[sent.batch.key]
            try:
                sent.future.release()
            except Exception:  # a closed client: nothing to release
                pass
            outcome()
            self._count()
        self._kick.set()

    def _done(self, sent: _Sent, reports: list[FaceReport]) -> None:
        """Finished: each file's report, made the daemon's own (batch.py)."""
        batch = sent.batch
        for i, (item, report) in enumerate(zip(batch.items, reports, strict=True)):
            self._deliver(item.uid, batch.report(i, report))

    def _lost(self, sent: _Sent) -> None:
        """Cancelled: the connection went; sent again once it is back."""
        self._backlog.extendleft(reversed(sent.batch.items))

    def _killed(self, sent: _Sent, error: distributed.scheduler.KilledWorker) -> None:
        """Its workers died, past the scheduler's allowed-failures."""
        items = sent.batch.items
        if len(items) > 1:
            log.warning("the workers running a batch of %d files died (%s); running each alone",
                        len(items), one_line(error))
            self._backlog.extendleft(reversed(_alone(items)))
        else:
            self._abandon(items[0], f"the workers analysing it died ({one_line(error)})")

    def _raised(self, sent: _Sent, error: Exception) -> None:
        """The task raised, past its retries: its files come back unopened."""
        items = sent.batch.items
        why = f"the cluster could not analyse it: {type(error).__name__}: {one_line(error)}"
        log.error("a task failed after %d retries (%s); its %d files stay in inbound",
                  self.cluster.retries, why, len(items))
        self._connection.set(error=why)
        for item in items:
            self._deliver(item.uid, FaceReport(item.path, item.kind, error=why))

    async def give_up_stuck(self, client: distributed.Client) -> str | None:
        """Give up the tasks a worker is running past their budget (see the module's
        docstring); returns why the connection is to be dropped, if the scheduler does not
        say where they are. A task not running yet (waiting behind another on its worker,
        or for a worker) has its time start again: its own files did not use it."""
        now = time.monotonic()
        late = [sent for sent in self._tasks.values() if now - sent.since > sent.budget]
        if not late:
            return None
        try:
            processing: dict[str, list[str]] = await asyncio.wait_for(
                client.processing(), self.cluster.connect_timeout)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            return f"it did not answer within {self.cluster.connect_timeout:g} s"
        except Exception as e:  # the connection went meanwhile
            return one_line(e)
        on = {key: worker for worker, keys in processing.items() for key in keys}
        running: dict[str, _Sent] = {}  # worker -> the first of ours it was sent: the one it runs
        for sent in self._tasks.values():
            worker = on.get(sent.batch.key)
            if worker is not None and (worker not in running or sent.sent < running[worker].sent):
                running[worker] = sent
        for sent in late:
            worker = on.get(sent.batch.key)
            if worker is None or running[worker] is not sent:
                sent.since = now
            elif self._tasks.get(sent.batch.key) is sent:  # not finished meanwhile
                await self._timed_out(client, sent, worker)
        return None

    async def _timed_out(self, client: distributed.Client, sent: _Sent, worker: str) -> None:
        """Still out on `worker` past its budget: given up, and that worker restarted."""
        items = sent.batch.items
        del self._tasks[sent.batch.key]
        try:
            await client.cancel([sent.future])  # not run again elsewhere: what it holds is ours to decide
        except Exception:  # the connection went: nothing runs it any more
            pass
        waited = time.monotonic() - sent.sent
        again: list[Item] = []
        if len(items) > 1:
            log.warning("the Dask worker %s has not finished a batch of %d files in %.0f s "
                        "(time limit %g s a file): restarting it, then running each file alone",
                        worker, len(items), waited, sent.limit)
            again = _alone(items)
        else:
            log.error("the Dask worker %s has not finished %s in %.0f s (time limit %g s): "
                      "giving it up, restarting that worker", worker, items[0].path, waited, sent.limit)
            self._abandon(items[0], f"analysis took longer than {sent.limit:g} s "
                                    f"(the Dask worker {worker} did not finish it)")
        self._count()
        restart = asyncio.ensure_future(self._restart(client, worker, again))
        self._restarts.add(restart)
        restart.add_done_callback(self._restarts.discard)

    async def _restart(self, client: distributed.Client, worker: str, again: list[Item]) -> None:
        """Restart a stuck worker, then send `again`: not before, or the scheduler could
        give it to that worker."""
        try:
            await self._connection.restart_worker(client, worker)
        finally:  # even when the connection is lost or the thread stops: they stay ours
            self._backlog.extendleft(reversed(again))
            self._kick.set()

    def _abandon(self, item: Item, why: str) -> None:
        """A file alone that cannot be analysed: set aside in failed/."""
        self._deliver(item.uid, FaceReport(item.path, item.kind, abandoned=True, error=why))

    def _count(self) -> None:
        self._connection.set(tasks=len(self._tasks),
                             files=sum(len(sent.batch.items) for sent in self._tasks.values()))


def _alone(items: list[Item]) -> list[Item]:
    """A batch's files, each to run alone: so a file that cannot be analysed is found."""
    return [replace(item, solo=True) for item in items]
