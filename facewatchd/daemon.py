"""The daemon: start-up, the one main loop, reload and drain.

One thread does everything that changes state. Each turn of the loop is a few
named steps, and each fails alone: an error is logged, shown in `status` (last
error), and the loop goes on.

    signals → intake (arrivals → settler) → feed (settled files → pool) → wait →
    collect (reports → sorter, tasks) → control (the socket) → tasks → timers

It sleeps in one wait() on the pools' pipes, the control sockets and a wake-up pipe
that the watcher threads and signal handlers write to. Long work (batch commands,
re-checks, enrolling the references, purging the trash, retrying moves) runs as
tasks a slice at a time (tasks.py), so the loop is back every TASK_SLICE seconds (or
one file's move) to ping the watchdog, however large the batch.

Where files wait, bounded: the settler and the queue hold at most `queue_limit`
paths together; beyond that new arrivals are dropped and a rescan finds them later,
so the backlog of a 50,000-file dump stays in inbound, not in memory.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from . import __version__, config as config_module, kinds, scan
from .commands import Commands
from .config import Config
from .control import ControlServer
from .enroll import EnrollSummary, enrol
from .errors import FacewatchError, StoppingError
from .notify import Notifier
from .pool import EngineSettings, Pool
from .report import FaceReport, Signature
from .review import ReviewQueue
from .signals import Signals
from .sorter import Outcome, Sorter
from .store import REVIEW_OUTCOMES, Store
from .tasks import Future, Step, Tasks
from .watch import Settler, Watcher

log = logging.getLogger("facewatchd")

WINDOW = 2  # inbound files outstanding per worker: one in work, one ready to go
STATUS_EVERY = 2.0  # seconds between STATUS= updates, when something changed
PURGE_EVERY = 3600.0  # seconds between looks into the review trash for what has expired
TASK_SLICE = 0.2  # seconds of task work per turn of the loop
# A file that could not be moved is tried again after [daemon] retry_after seconds,
# then after twice as long each time, up to RETRY_MAX; only the move is retried, from
# what its analysis found, while the file is unchanged.
RETRY_MAX = 900.0
REPEAT_LOG = 60.0  # seconds between log lines of a step that keeps failing the same way


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    processed: int = 0
    matched: int = 0
    review: int = 0
    failed: int = 0
    duplicates: int = 0
    left: int = 0
    analysed: int = 0  # files a worker looked at (a retried move is not analysed again)

    def count(self, outcome: Outcome) -> None:
        self.processed += 1
        field_name = {"sorted": "matched", "duplicate": "duplicates"}.get(outcome.outcome,
                                                                         outcome.outcome)
        setattr(self, field_name, getattr(self, field_name) + 1)


@dataclass
class Left:
    """A file that could not be moved: what its analysis found, and when to try again."""

    report: FaceReport
    delay: float
    due: float


class LastError(logging.Handler):
    """Keeps the last warning or error logged: what `status` shows as the last error."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.text: str | None = None
        self.time: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.text, self.time = record.getMessage(), record.created


class Daemon:
    def __init__(self, config: Config, signals: Signals) -> None:
        self.config = config
        self.signals = signals
        self.notify = Notifier()
        self.stats = Stats()
        self.last_error = LastError()
        self.settler = Settler(config.daemon.settle, config.daemon.queue_limit)
        self.queue: dict[Path, None] = {}  # ready to analyse, in order, no duplicates
        self.in_flight: set[Path] = set()
        self.left: dict[Path, Left] = {}
        self.ignored: set[Path] = set()  # files left alone in inbound: not media
        self.scans: deque[tuple[str, Iterator[tuple[Path, kinds.Kind | None]]]] = deque()
        self._scan_again: str | None = None  # a full scan was asked for while one ran
        self.tasks = Tasks(self.analyse, lambda: self.pool.size)
        self.phase = "starting"  # then running; reloading while new references come in
        self._jobs: dict[int, Callable[[FaceReport], None]] = {}
        self._next_key = 0
        self._retiring: list[Pool] = []  # replaced pools finishing what they have
        self._draining_until: float | None = None
        self._next_rescan = float("inf")
        self._next_purge = 0.0  # at the first tick
        self._references_due: float | None = None  # when to enrol a changed references folder
        self._refreshing: list[Future] | None = None  # the references are being brought in
        self._next_refresh: tuple[str, Config | None, list[Future]] | None = None
        self._background: set[str] = set()  # the daemon's own tasks under way, by name
        self._failing: dict[str, tuple[str, float]] = {}  # step → (error, when last logged)
        self._fatal: BaseException | None = None
        self._last_status = ("", 0.0)

    # Start and stop

    def run(self) -> int:
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.signals.install(wakeup_fd=self._wake_w)
        logging.getLogger("facewatchd").addHandler(self.last_error)
        self.store = Store(self.config.daemon.state_dir)
        self.pool: Pool | None = None
        self.watcher: Watcher | None = None
        self.control: ControlServer | None = None
        try:
            self.sorter = Sorter(self.config, self.store, self.notify.keepalive)
            self.sorter.journal.recover()
            self.pool = self._new_pool()
            self.control = ControlServer(self.config.daemon.socket, self.config.daemon.group,
                                         Commands(self))
            self.control.listen()
            self._start_watching()
            # READY once the references are in: nothing is sorted against a half set.
            self._refresh("start")
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
            for pool in (self.pool, *self._retiring):
                if pool:
                    pool.close()
            self.store.close()
            logging.getLogger("facewatchd").removeHandler(self.last_error)
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _new_pool(self) -> Pool:
        return Pool(EngineSettings.of(self.config), self.config.daemon.workers,
                    self.config.recognition.file_timeout)

    def _start_watching(self) -> None:
        folders = [(w.inbound, w.recursive) for w in self.config.watches]
        self.watcher = Watcher(folders + [(self.config.recognition.references, True)], self._wake)
        self.watcher.start()
        interval = self.config.daemon.rescan_interval
        self._next_rescan = time.monotonic() + interval if interval else float("inf")

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"w")
        except BlockingIOError:
            pass  # a wake-up is already pending

    # The loop

    def _loop(self) -> None:
        while self._fatal is None:
            self.notify.keepalive()
            if self.signals.forced:
                return
            if self.signals.stop_requested and self._draining_until is None:
                self._step("drain", self._begin_drain)
            if self._draining_until is not None and (
                    not self.in_flight or time.monotonic() > self._draining_until):
                if self.in_flight:
                    log.warning("stop_timeout reached: abandoning %d files being analysed; "
                                "they stay in inbound", len(self.in_flight))
                return
            if self.signals.take_reload():
                self._step("reload", self.request_reload)
            if self._draining_until is None:
                self._step("intake", self._take_arrivals)
                self._step("feed", self._feed)
            ready = set(wait(self._waitables(), self._sleep_time()))
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 4096)
                except BlockingIOError:
                    pass
            self._step("collect", self._collect)
            self._step("control", self.control.service, ready)
            self._step("tasks", self.tasks.run, TASK_SLICE)
            self._step("timers", self._tick)

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

    def _waitables(self) -> list[object]:
        pools = [w for pool in (self.pool, *self._retiring) for w in pool.waitables()]
        return [self._wake_r] + pools + self.control.waitables()

    def _sleep_time(self) -> float:
        now = time.monotonic()
        candidates = [30.0, self.notify.next_ping(), self.settler.next_due(),
                      self._next_rescan - now, self._next_purge - now,
                      *(pool.next_timeout() for pool in (self.pool, *self._retiring))]
        if self._references_due is not None:
            candidates.append(self._references_due - now)
        if self.left:
            candidates.append(min(left.due for left in self.left.values()) - now)
        if self.scans or self.queue or self.tasks.runnable or self.control.has_unsent():
            candidates.append(0.0 if self.tasks.runnable else 0.05)
        if self._draining_until is not None:
            candidates.append(self._draining_until - now)
        return max(0.0, min(c for c in candidates if c is not None))

    def _collect(self) -> None:
        for pool in (self.pool, *self._retiring):
            for key, report in pool.collect(timeout=0):
                self.stats.analysed += 1
                self._step(f"handling the report of {report.path}", self._jobs.pop(key), report)
        for pool in [p for p in self._retiring if not p.pending]:
            self._retiring.remove(pool)
            pool.close()

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_rescan:
            self._next_rescan = now + (self.config.daemon.rescan_interval or float("inf"))
            self.scan_all("periodic rescan")
        if self._references_due is not None and now >= self._references_due:
            self._references_due = None
            self._refresh("the references folder changed")
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            self.background("purging the review trash",
                            ReviewQueue(self.sorter).purge(self.config.review.trash_days))
        if any(left.due <= now for left in self.left.values()):
            self.background("retrying files that could not be moved", self._retry_left())
        line = self.status_line()
        if line != self._last_status[0] and now - self._last_status[1] >= STATUS_EVERY:
            self.notify.status(line)
            self._last_status = (line, now)

    def background(self, name: str, steps: Step) -> None:
        """Run the daemon's own long work as a task, one of each kind at a time."""
        if name in self._background:
            steps.close()
            return
        self._background.add(name)
        self.tasks.start(name, steps, lambda _result, _error: self._background.discard(name))

    def _begin_drain(self) -> None:
        self.notify.stopping()
        self._draining_until = time.monotonic() + self.config.daemon.stop_timeout
        if self.watcher:
            self.watcher.stop()
        left = len(self.queue) + len(self.settler)
        self.queue.clear()
        self.settler = Settler(self.config.daemon.settle, self.config.daemon.queue_limit)
        self.scans.clear()
        self.tasks.abandon(StoppingError("facewatchd is stopping"))
        log.info("stopping: %d files being analysed will be finished; %d waiting stay in inbound"
                 " (and %d held there after an undo)", len(self.in_flight), left,
                 len(self.sorter.held_files()))

    # Files: arrivals → settler → queue → pool → sorter

    def _take_arrivals(self) -> None:
        while True:
            try:
                arrival = self.watcher.arrivals.get_nowait()
            except queue.Empty:
                break
            if arrival.path.is_relative_to(self.config.recognition.references):
                # A photo added to (or a folder made in) the references: enrol once quiet.
                self._references_due = time.monotonic() + self.config.daemon.settle
            elif arrival.is_dir:
                watch = self.sorter.watch_for(arrival.path)
                if watch is not None and watch.recursive:
                    self.add_scan(str(arrival.path), arrival.path, True)
            else:
                self._consider(arrival.path, kinds.kind_of(arrival.path), now=None)
        if self.watcher.take_overflow() or self.settler.overflowed:
            self.settler.overflowed = False
            log.warning("file events were lost (a burst larger than the queues); rescanning")
            self.scan_all("events lost")

    def scan_all(self, why: str) -> None:
        if any(label == "all" for label, _ in self.scans):
            # One is under way, but its listing may predate what this one is for (events
            # lost during it): look through everything once more when it is done.
            self._scan_again = why
            return
        log.info("scanning the inbound folders (%s)", why)
        for watch in self.config.watches:
            self.add_scan("all", watch.inbound, watch.recursive)

    def add_scan(self, label: str, folder: Path, recursive: bool) -> None:
        self.scans.append((label, scan.walk(folder, recursive)))

    def _consider(self, path: Path, kind: kinds.Kind | None, now: float | None) -> None:
        """A file seen in inbound: media and sidecars wait in the settler until they stop
        changing (`now` = 0: found by a scan, ready unless still changing); anything else
        is left where it is, and counted."""
        if kind is None:
            if len(self.ignored) < self.config.daemon.queue_limit:
                self.ignored.add(path)
        elif self._wanted(path):
            self.settler.offer(path, now=now, others=len(self.queue))

    def retry_now(self) -> None:
        """Files that could not be moved are tried again at once (a person fixed the disk)."""
        for left in self.left.values():
            left.due = 0.0

    def _feed(self) -> None:
        if self.phase == "starting":
            return  # nothing is sorted before the references are in
        limit = self.config.daemon.queue_limit
        while self.scans and len(self.settler) + len(self.queue) < limit:
            label, found = self.scans[0]
            path, kind = next(found, (None, None))
            if path is None:
                self.scans.popleft()
                if self._scan_again and not any(label == "all" for label, _ in self.scans):
                    why, self._scan_again = self._scan_again, None
                    self.scan_all(f"{why}, again")
            else:
                self._consider(path, kind, now=0.0)
        for path in self.settler.ready():
            if kinds.kind_of(path) == "sidecar":
                self._sidecar(path)
            elif path not in self.in_flight:
                self.queue[path] = None
        while self.queue and len(self.in_flight) < WINDOW * self.pool.size:
            path = next(iter(self.queue))
            del self.queue[path]
            self.in_flight.add(path)
            self.analyse(str(path), lambda report, path=path: self._sort(path, report))

    def _sidecar(self, path: Path) -> None:
        """A sidecar that has settled: it goes with its photo when that is sorted; if its
        photo was sorted before, it follows it there now; else it stays, ignored."""
        if kinds.photo_of(path) is not None:
            return
        if self.sorter.follow(path).outcome == "ignored" and len(self.ignored) < self.config.daemon.queue_limit:
            self.ignored.add(path)

    def _wanted(self, path: Path) -> bool:
        """Not on its way already, not put back by an undo, not waiting to be moved again."""
        if path in self.in_flight or path in self.queue or self.sorter.is_held(path):
            return False
        left = self.left.get(path)
        return left is None or not _unchanged(path, left.report.signature)

    def analyse(self, path: str, then: Callable[[FaceReport], None]) -> None:
        """Have a worker analyse `path`; `then(report)` runs on the main loop."""
        self._next_key += 1
        self._jobs[self._next_key] = then
        self.pool.submit(self._next_key, path)

    def _sort(self, path: Path, report: FaceReport) -> None:
        self.in_flight.discard(path)
        try:
            outcome = self.sorter.handle(report)
        except Exception as e:  # a bug must cost one file (left in inbound), not the daemon
            log.exception("internal error while sorting %s; it stays in inbound", path)
            outcome = Outcome(path, "left", f"internal error: {type(e).__name__}: {e}")
        self.stats.count(outcome)
        before = self.left.pop(path, None)
        if outcome.outcome != "left" or report.signature is None or not os.path.lexists(path):
            return
        if not _unchanged(path, report.signature):
            self.settler.offer(path)  # changed while analysed: look again once it settles
        elif len(self.left) < self.config.daemon.queue_limit:
            delay = min(RETRY_MAX, 2 * before.delay) if before else self.config.daemon.retry_after
            self.left[path] = Left(report, delay, time.monotonic() + delay)

    def _retry_left(self) -> Step:
        """Move again, from what their analysis found, the files that could not be moved
        and have not changed since; a changed one is analysed again."""
        for path in [p for p, left in self.left.items() if left.due <= time.monotonic()]:
            left = self.left.get(path)
            if left is None or path in self.in_flight:
                continue
            if _unchanged(path, left.report.signature):
                self._sort(path, left.report)
            else:
                del self.left[path]
                if os.path.lexists(path) and self._wanted(path):
                    self.settler.offer(path, now=0.0)
            yield

    # The references, and reload

    def request_reload(self) -> Future:
        """Re-read the configuration and the references folder; queued files stay queued.

        Raises ConfigError for a bad file (the running configuration stays). The Future
        is set with the EnrollSummary once the new references are in use.
        """
        try:
            new = config_module.load(self.config.path)
        except FacewatchError as e:
            log.error("reload refused, keeping the running configuration: %s", e)
            raise
        future = Future()
        self._refresh("reload", new, [future])
        return future

    def _refresh(self, why: str, config: Config | None = None,
                 futures: Sequence[Future] = ()) -> None:
        """Bring the references in line with their folder (after applying `config`, for a
        reload), then re-check the review queue. One at a time: what is asked meanwhile
        waits, and the newest configuration asked for is the one applied next."""
        if self._refreshing is not None:
            _, queued, waiting = self._next_refresh or (why, None, [])
            self._next_refresh = (why, config or queued, [*waiting, *futures])
            return
        self._refreshing = list(futures)
        if config is not None and self.phase != "starting":
            self.phase = "reloading"
            self.notify.reloading()
        self.tasks.start(f"references ({why})", self._refresh_steps(config),
                         lambda summary, error: self._refreshed(why, summary, error))

    def _refresh_steps(self, config: Config | None) -> Step:
        if config is not None:
            self._apply(config)
        summary = yield from enrol(self.config.recognition.references, self.store,
                                   self.notify.keepalive)
        yield from self.references_changed()
        return summary

    def _refreshed(self, why: str, summary: EnrollSummary | None, error: BaseException | None) -> None:
        futures, self._refreshing = self._refreshing or [], None
        for future in futures:
            future.set(summary, error)
        if error is not None and self.phase == "starting":
            self._fatal = error  # never ready: better a clear exit than a daemon sorting nothing
            return
        if self.phase == "starting":
            log.info("facewatchd %s ready: %d workers, references of %d people, watching %s",
                     __version__, self.pool.size, len(summary.persons),
                     ", ".join(str(w.inbound) for w in self.config.watches))
        elif summary is not None:
            log.info("reloaded: references of %d people (%d new reference photos)",
                     len(summary.persons), summary.added)
        if self.phase != "running":
            self.phase = "running"
            self.notify.ready(self.status_line())
        if why in ("start", "reload"):
            self.scan_all(why)
        if self._next_refresh is not None:
            (why, config, waiting), self._next_refresh = self._next_refresh, None
            self._refresh(why, config, waiting)

    def _apply(self, new: Config) -> None:
        old, self.config = self.config, new
        for key in ("state_dir", "socket", "group"):
            if getattr(old.daemon, key) != getattr(new.daemon, key):
                log.warning("[daemon] %s changed: takes effect at the next start", key)
        self.sorter = Sorter(new, self.store, self.notify.keepalive)
        if (new.watches, new.recognition.references) != (old.watches, old.recognition.references):
            self.watcher.stop()
            self._start_watching()
        if (EngineSettings.of(new), new.daemon.workers, new.recognition.file_timeout) != (
                EngineSettings.of(old), old.daemon.workers, old.recognition.file_timeout):
            # The old pool finishes what it has in the background; new files go to the new.
            self._retiring.append(self.pool)
            self.pool = self._new_pool()
        self.settler.quiet = new.daemon.settle
        self.settler.limit = new.daemon.queue_limit

    def references_changed(self, taught: dict[str, list[int]] | None = None) -> Step:
        """Use the references as they are now, and file the review items that now match
        (a task's steps; returns what was filed)."""
        self.sorter.reload_references()
        return (yield from ReviewQueue(self.sorter).recheck(taught))

    # What status and facewatchctl show

    def status(self) -> dict[str, object]:
        s = self.stats
        return {
            "version": __version__, "uptime_s": round(time.monotonic() - s.started, 1),
            "state": "stopping" if self._draining_until is not None else self.phase,
            "workers": self.pool.size, "worker_restarts": self.pool.restarts,
            "queued": len(self.queue), "settling": len(self.settler),
            "in_flight": len(self.in_flight), "scanning": bool(self.scans),
            "processed": s.processed, "matched": s.matched, "review": s.review,
            "failed": s.failed, "duplicates": s.duplicates, "left": s.left,
            "analysed": s.analysed, "waiting_to_move": len(self.left),
            "ignored": self._ignored(), "held": len(self.sorter.held_files()),
            "tasks": self.tasks.names(),
            "references": self.store.reference_counts(),
            "last_error": self.last_error.text, "last_error_time": self.last_error.time,
            "in_review": self.store.count_current(REVIEW_OUTCOMES),
            "watching": [str(w.inbound) for w in self.config.watches],
            "polling": [str(p) for p in self.watcher.polled] if self.watcher else [],
        }

    def _ignored(self) -> int:
        """How many files left alone are still in inbound (forgetting those gone)."""
        self.ignored = {p for p in self.ignored if os.path.lexists(p)}
        return len(self.ignored)

    def status_line(self) -> str:
        s = self.stats
        return (f"{s.processed} sorted ({s.matched} to people, {s.review} to review, "
                f"{s.failed} failed); {len(self.queue) + len(self.settler)} waiting, "
                f"{len(self.in_flight)} in flight")


def _unchanged(path: Path, signature: Signature | None) -> bool:
    try:
        return Signature.of(os.lstat(path)) == signature
    except OSError:
        return False
