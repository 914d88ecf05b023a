"""The cluster thread of the Dask pool ([cluster]): an asyncio loop in a thread of its
own that owns the connection (connection.py) and the dispatcher (dispatch.py), so the
daemon's main thread never touches the network. The main thread reaches it only through
ClusterThread's public methods: items go through a thread-safe queue, everything else
through the loop's call_soon_threadsafe; the Health it reads is replaced whole.

Its loop: connect (or wait the backoff and try again); serve the connection (send
batches, take results, give up stuck tasks) until it is lost; every batch in flight back
to the front of the backlog; again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import distributed

from ...config import ClusterConfig
from ..report import FaceReport
from ..worker import EngineSettings
from .batch import Item
from .connection import Connection, Health, pause
from .dispatch import Dispatcher

log = logging.getLogger("facewatchd.cluster")

POLL = 0.5  # seconds between looks at the connection (and the workers)
STOP_POLITELY = 3.0  # seconds for the thread to close its client when stopped


class ClusterThread:
    """The cluster thread: an asyncio loop that owns the Dask client and every batch."""

    def __init__(self, settings: EngineSettings, cluster: ClusterConfig, timeout: float,
                 deliver: Callable[[int, FaceReport], None], poke: Callable[[], None],
                 fail_fast: bool) -> None:
        self._stopping = threading.Event()  # set by the main thread: nothing more is sent
        # Made here, run in the thread (asyncio.Runner with this loop does not make it
        # the main thread's); the events bind to it when first awaited there.
        self._loop = asyncio.new_event_loop()
        self._kick = asyncio.Event()  # work to do, or stopping
        self._stop_event = asyncio.Event()  # stopping only: cuts a backoff short
        self._main: asyncio.Task[None] | None = None
        self._connection = Connection(cluster, poke, fail_fast, self._stopping)
        self._dispatcher = Dispatcher(settings, cluster, timeout, deliver, self._connection,
                                      self._kick, self._stopping)
        self._thread = threading.Thread(target=self._run, name="facewatchd-dask", daemon=True)

    # From the main thread

    @property
    def health(self) -> Health:
        return self._connection.health

    @property
    def first_attempt(self) -> threading.Event:
        """Set once the first connection is made or failed."""
        return self._connection.first_attempt

    def start(self) -> None:
        self._thread.start()

    def put(self, item: Item) -> None:
        self._dispatcher.inbox.put(item)
        self._call(self._kick.set)

    def max_tasks(self) -> int:
        return self._dispatcher.max_tasks()

    def reconfigure(self, settings: EngineSettings, timeout: float) -> None:
        self._call(lambda: self._dispatcher.reconfigure(settings, timeout))

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
            self._connection.closed(error="the cluster thread failed (see the log)")

    async def _amain(self) -> None:
        self._main = asyncio.current_task()
        try:
            while not self._stopping.is_set():
                client = await self._connection.connect(self._stop_event)
                if client is None:
                    continue
                self._dispatcher.connected()
                try:
                    why = await self._serve(client)
                finally:
                    self._dispatcher.requeue_all()
                    await self._connection.close(client)
                if self._stopping.is_set():
                    break
                self._connection.lost(why, self._dispatcher.waiting)
        except asyncio.CancelledError:
            pass
        finally:
            self._connection.closed()

    async def _serve(self, client: distributed.Client) -> str:
        """Send batches and take results until the connection is lost; returns why."""
        while True:
            self._kick.clear()
            if self._stopping.is_set():
                return "stopping"
            if client.status != "running":
                return "the connection to it was closed"
            await self._dispatcher.register_plugin(client)
            self._connection.count_workers(client)
            self._dispatcher.take_inbox()
            if (why := await self._dispatcher.give_up_stuck(client)) is not None:
                return why
            linger = await self._dispatcher.dispatch(client)
            await pause(min(POLL, linger or POLL), self._kick, self._stopping)
