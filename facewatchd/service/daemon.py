"""The daemon: start-up, the one main loop, reload and drain.

One thread does everything that changes state. Each turn of the loop is a few named
steps, and each fails alone: an error is logged, shown in `status` (last error), and
the loop goes on.

    signals → intake (arrivals → settler → pool) → wait → collect (reports → sorter,
    tasks) → control (the socket) → tasks (a slice of long work) → timers

It sleeps in one wait() on the pools' pipes, the control sockets and a wake-up pipe
that the watcher threads and signal handlers write to. Long work (batch commands,
re-checks, enrolling the references, purging the trash, retrying moves) runs as tasks
a slice at a time (tasks.py), so the loop is back every TASK_SLICE seconds (or one
file's move) to ping the watchdog, however large the batch.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any, cast

from .. import __version__
from .. import config as config_module
from ..config import Config
from ..control import protocol
from ..control.handlers import dispatch
from ..control.protocol import Request
from ..control.server import Connection, ControlServer
from ..control.show import describe_analysis
from ..engine.report import FaceReport
from ..errors import FacewatchError, StoppingError
from ..files import upkeep
from ..files.enroll import EnrollSummary
from ..files.exiftool import ExifTool
from ..files.mounts import Mounts
from ..files.review import ReviewQueue
from ..files.sorter import Sorter
from ..files.watch import Watcher
from ..state import Store
from ..steps import Done, Future, Step
from . import status
from .intake import Intake, Stats
from .log import LastError
from .notify import Notifier
from .pools import Pools
from .refresh import Refresher
from .signals import Signals
from .tasks import Tasks
from .timers import Timers

log = logging.getLogger("facewatchd")

TASK_SLICE = 0.2  # seconds of task work per turn of the loop
REPEAT_LOG = 60.0  # seconds between log lines of a step that keeps failing the same way


class Daemon:
    def __init__(self, config: Config, signals: Signals) -> None:
        self.config = config
        self.signals = signals
        self.notify = Notifier()
        self.stats = Stats()
        self.last_error = LastError()
        self.exiftool = ExifTool()  # started only when [xmp] write needs it
        self.intake = Intake(self)
        # Tasks wait for analysis as many at a time as there are workers, and are told
        # when none can come back for a while (a lost Dask scheduler), so a command answers.
        self.tasks = Tasks(self.analyse, lambda: self.pools.current.size if self.pools else 0,
                           lambda: self.pools.unavailable() if self.pools else None)
        self.refresher = Refresher(self)
        self.phase = "starting"  # then running; reloading while new references come in
        self._draining_until: float | None = None
        self.timers = Timers()
        self._failing: dict[str, tuple[str, float]] = {}  # step → (error, when last logged)
        self._fatal: BaseException | None = None
        self.pools: Pools | None = None
        self.watcher: Watcher | None = None
        self.control: ControlServer | None = None
        self._review: ReviewQueue | None = None

    # Start and stop

    def run(self) -> int:
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.signals.install(wakeup_fd=self._wake_w)
        logging.getLogger("facewatchd").addHandler(self.last_error)
        self.store = Store(self.config.daemon.state_dir)
        try:
            self.config = self.configured()
            self.sorter = Sorter(self.config, self.store, self.notify.keepalive, exiftool=self.exiftool)
            self.sorter.journal.recover()
            self.pools = Pools(self.config)
            self.control = ControlServer(self.config.daemon.socket, self.config.daemon.group,
                                         self._answer)
            self.control.listen()
            self._start_watching()
            # READY once the references are in: nothing is sorted against a half set.
            self.refresher.request("start")
            self._loop()
            if self._fatal is not None:
                raise self._fatal
            return 0
        finally:
            self.notify.stopping()
            self.tasks.abandon(StoppingError("facewatchd is stopping"))
            if self.watcher:
                self.watcher.stop()
            if self.control:
                self.control.close()
                if self.control.created_socket:
                    self.control.path.unlink(missing_ok=True)
            if self.pools:
                self.pools.close()
            self.exiftool.close()
            self.store.close()
            logging.getLogger("facewatchd").removeHandler(self.last_error)
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _start_watching(self) -> None:
        folders = [(w.inbound, w.recursive) for w in self.config.watches]
        self.watcher = Watcher(folders + [(self.config.recognition.references, True)], self._wake)
        self.watcher.start()
        self.timers.watching(self.config)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"w")
        except BlockingIOError:
            pass  # a wake-up is already pending

    def _begin_drain(self) -> None:
        # First, so that whatever fails below, the daemon still stops.
        self._draining_until = time.monotonic() + self.config.daemon.stop_timeout
        self.notify.stopping()
        if self.watcher:
            self.watcher.stop()
        waiting = self.intake.drain()
        self.tasks.abandon(StoppingError("facewatchd is stopping"))
        log.info("stopping: %d files being analysed will be finished; %d waiting stay in inbound"
                 " (and %d held there after an undo)", len(self.intake.in_flight), waiting,
                 len(self.sorter.held_files()))

    # The loop

    def _loop(self) -> None:
        assert self.control is not None and self.pools is not None
        while self._fatal is None:
            self.notify.keepalive()
            if self.signals.forced:
                return
            if self.signals.stop_requested and self._draining_until is None:
                self._step("drain", self._begin_drain)
            in_flight = self.intake.in_flight
            analysing = self.pools.current.state == "running"  # a lost scheduler finishes nothing
            if self._draining_until is not None and (
                    not in_flight or not analysing or time.monotonic() > self._draining_until):
                if in_flight:
                    log.warning("%s: abandoning %d files being analysed; they stay in inbound",
                                "stop_timeout reached" if analysing else "no Dask scheduler to finish them",
                                len(in_flight))
                return
            if self.signals.take_reload():
                self._step("reload", self.request_reload)
            if self._draining_until is None:
                self._step("intake", self._take_arrivals)
                self._step("feed", self.intake.feed)
            waitables = [self._wake_r, *self.pools.waitables(), *self.control.waitables()]
            ready = set(wait(waitables, self._sleep_time()))
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 4096)
                except BlockingIOError:
                    pass
            self._step("collect", self._collect)
            self._step("sort", self.intake.sort_analysed)
            self._step("control", self.control.service, ready)
            self._step("tasks", self.tasks.run, TASK_SLICE)
            self._step("timers", lambda: self.timers.tick(self))

    def _step(self, name: str, step: Callable[..., object], *args: Any) -> None:
        """Run one step of the loop; an error in it is logged and the loop goes on."""
        try:
            step(*args)
        except Exception as e:
            error, now = f"{type(e).__name__}: {e}", time.monotonic()
            before = self._failing.get(name)
            if before is None or before[0] != error or now - before[1] >= REPEAT_LOG:
                log.error("%s failed, carrying on: %s", name, error, exc_info=True)
                self._failing[name] = (error, now)

    def _sleep_time(self) -> float:
        assert self.control is not None and self.pools is not None
        now = time.monotonic()
        due = [*self.timers.due(), self.intake.next_retry(), self._draining_until]
        candidates = [30.0, self.notify.next_ping(), self.intake.settler.next_due(),
                      self.pools.next_timeout(), *(t - now for t in due if t is not None)]
        if self.intake.busy or self.tasks.runnable or self.control.has_unsent():
            candidates.append(0.0 if self.tasks.runnable else 0.05)
        return max(0.0, min(c for c in candidates if c is not None))

    def _collect(self) -> None:
        assert self.pools is not None
        for report, then in self.pools.collect():
            self.stats.analysed += 1
            self._step(f"handling the report of {report.path}", then, report)

    # Files: arrivals → the intake; work → the pool

    def _take_arrivals(self) -> None:
        assert self.watcher is not None
        if self.intake.take(self.watcher):
            # A photo added to (or a folder made in) the references: enrol once quiet.
            self.timers.references_changed(self.config)

    def analyse(self, path: str, then: Callable[[FaceReport], None]) -> None:
        """Have a worker analyse `path`; `then(report)` runs on the main loop."""
        assert self.pools is not None
        self.pools.analyse(path, then)

    def capacity(self) -> int:
        assert self.pools is not None
        return self.pools.current.capacity

    def run_task(self, name: str, steps: Step, done: Done) -> None:
        # At start READY waits for the references however long the cluster takes to be
        # there; a later refresh (a reload) is told when it cannot be, and fails.
        self.tasks.start(name, steps, done, patient=self.phase == "starting")

    def keepalive(self) -> None:
        self.notify.keepalive()

    # The references, and reload

    def request_reload(self, why: str = "reload") -> Future:
        """Re-read the configuration and, for a reload, the references folder; queued
        files stay queued (`why`: "reload", or a setting changed at run time).

        Raises ConfigError for a bad file (the running configuration stays). The Future
        is set with the EnrollSummary once the new references are in use.
        """
        try:
            new = self.configured()
        except FacewatchError as e:
            log.error("reload refused, keeping the running configuration: %s", e)
            raise
        future = Future()
        self.refresher.request(why, new, [future], enrol=why == "reload")
        return future

    def configured(self) -> Config:
        """The configuration file with the settings changed at run time (config/overrides.py)."""
        overrides = {key: s["value"] for key, s in self.store.overrides().items()}
        return config_module.layered(self.config.path, overrides, log.warning)

    def apply(self, new: Config, why: str) -> None:
        """Use a reloaded configuration (from the refresher, before enrolling). Only a
        reload takes the configured folders' filesystems as they are now (files/mounts.py)."""
        assert self.pools is not None and self.watcher is not None
        if self.phase != "starting":
            self.phase = "reloading"
            self.notify.reloading()
        old, self.config = self.config, new
        for key in ("state_dir", "socket", "group"):
            if getattr(old.daemon, key) != getattr(new.daemon, key):
                log.warning("[daemon] %s changed: takes effect at the next start", key)
        mounts = Mounts(new) if why == "reload" else self.sorter.mounts.follow(new)
        self.sorter = Sorter(new, self.store, self.notify.keepalive, mounts, self.exiftool)
        if (new.watches, new.recognition.references) != (old.watches, old.recognition.references):
            self.watcher.stop()
            self._start_watching()
        self.pools.apply(old, new)
        self.intake.apply(new)
        self.intake.retry_now()  # what could not be moved may go now (a disk back, say)

    def refreshed(self, why: str, summary: EnrollSummary | None, error: BaseException | None) -> None:
        """The references are in (or could not be brought in)."""
        if error is not None and self.phase == "starting":
            self._fatal = error  # never ready: better a clear exit than a daemon sorting nothing
            return
        if self.phase == "starting" and summary is not None:
            assert self.pools is not None
            log.info("facewatchd %s ready: analysis on %s, references of %d people, watching %s",
                     __version__, describe_analysis(self.pools.current.describe()), len(summary.persons),
                     ", ".join(str(w.inbound) for w in self.config.watches))
            self.intake.open = True
        elif summary is not None:
            log.info("reloaded: references of %d people (%d new reference photos)",
                     len(summary.persons), summary.added)
        if self.phase != "running":
            self.phase = "running"
            self.notify.ready(self.status_line())
        if why in ("start", "reload", "settings"):
            self.intake.scan_all(why)

    def references_changed(self, taught: dict[str, list[int]] | None = None) -> Step:
        """Use the references as they are now, and file the review items that now match
        (a task's steps; returns what was filed)."""
        self.sorter.reload_references()
        return (yield from upkeep.recheck(self.review, taught))

    @property
    def review(self) -> ReviewQueue:
        """The review queue of the sorter in use: one while it lasts, so what it remembers
        of its items' decisions is kept between commands (control.handlers.Service)."""
        if self._review is None or self._review.sorter is not self.sorter:
            self._review = ReviewQueue(self.sorter)
        return self._review

    # The control socket (what handlers ask of the daemon: control.handlers.Service)

    def _answer(self, conn: Connection, request: Request) -> protocol.Answer | None:
        """A control request: answered now, or, when its handler is long work, by a task."""
        result = dispatch(self, conn.peer, request)
        if not inspect.isgenerator(result):
            return protocol.answer(request.id, result)

        def done(value: Any, failure: BaseException | None) -> None:
            assert self.control is not None
            self.control.reply(conn, protocol.finished(request.id, value, failure))

        self.tasks.start(request.cmd, cast(Step, result), done)
        return None

    @property
    def state(self) -> str:
        return "stopping" if self._draining_until is not None else self.phase

    def status(self) -> dict[str, Any]:
        return status.report(self)

    def status_line(self) -> str:
        return status.line(self)
