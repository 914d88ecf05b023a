"""The daemon: start-up, the one main loop, reload and drain.

One thread does everything that changes state: it takes arrivals from the watcher,
lets them settle, feeds the pool a bounded number of files, sorts each report as it
comes back, and answers the control socket. It sleeps in one wait() on the pool's
pipes, the control sockets and a wake-up pipe that the watcher threads and signal
handlers write to.

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
from typing import Any, Callable, Iterator

from . import __version__, config as config_module, scan
from .commands import Commands
from .config import Config
from .control import ControlServer
from .enroll import Enrollment, sync_references
from .errors import ConfigError
from .notify import Notifier
from .pool import EngineSettings, Pool
from .report import FaceReport
from .review import ReviewQueue
from .signals import Signals
from .sorter import Outcome, Sorter
from .store import REVIEW_OUTCOMES, Store
from .watch import Settler, Watcher

log = logging.getLogger("facewatchd")

WINDOW = 2  # files outstanding per worker: one in work, one ready to go
STATUS_EVERY = 2.0  # seconds between STATUS= updates, when something changed
PURGE_EVERY = 3600.0  # seconds between looks into the review trash for what has expired
RETRY_LEFT = 60.0  # seconds before files that could not be moved are tried again


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    processed: int = 0
    matched: int = 0
    review: int = 0
    failed: int = 0
    duplicates: int = 0
    left: int = 0
    last_error: str | None = None

    def count(self, outcome: Outcome) -> None:
        self.processed += 1
        field_name = {"sorted": "matched", "duplicate": "duplicates"}.get(outcome.outcome,
                                                                         outcome.outcome)
        setattr(self, field_name, getattr(self, field_name) + 1)
        if outcome.outcome in ("failed", "left"):
            self.last_error = f"{outcome.source}: {outcome.reason}"


class Daemon:
    def __init__(self, config: Config, signals: Signals) -> None:
        self.config = config
        self.signals = signals
        self.notify = Notifier()
        self.stats = Stats()
        self.settler = Settler(config.daemon.settle, config.daemon.queue_limit)
        self.queue: dict[Path, None] = {}  # ready to analyse, in order, no duplicates
        self.in_flight: set[Path] = set()
        self.scans: deque[tuple[str, Iterator[Path]]] = deque()
        self._jobs: dict[int, Callable[[FaceReport], None]] = {}
        self._next_key = 0
        self._draining_until: float | None = None
        self._next_rescan = float("inf")
        self._next_purge = 0.0  # at the first tick
        self._references_due: float | None = None  # when to enrol a changed references folder
        self._last_status = ("", 0.0)
        self._reload_waiters: list[Callable[[object], None]] = []
        self.enrollment: Enrollment | None = None

    # Start and stop

    def run(self) -> int:
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.signals.install(wakeup_fd=self._wake_w)
        self.store = Store(self.config.daemon.state_dir)
        self.pool: Pool | None = None
        self.watcher: Watcher | None = None
        self.control: ControlServer | None = None
        try:
            self.sorter = Sorter(self.config, self.store)
            self.sorter.recover()
            self.pool = Pool(EngineSettings.of(self.config), self.config.daemon.workers,
                             self.config.recognition.file_timeout)
            summary = sync_references(
                self.config.recognition.references, self.store,
                lambda paths: self.pool.imap(map(str, paths), lambda: self.signals.stop_requested))
            self.references_changed()  # the folder may have changed while we were stopped
            self.control = ControlServer(self.config.daemon.socket, self.config.daemon.group,
                                         Commands(self))
            self.control.listen()
            self._start_watching()
            self.scan_all("start")
            self.notify.ready(self.status_line())
            log.info("facewatchd %s ready: %d workers, references of %d people, watching %s",
                     __version__, self.pool.size, len(summary.persons),
                     ", ".join(str(w.inbound) for w in self.config.watches))
            self._loop()
            return 0
        finally:
            self.notify.stopping()
            if self.watcher:
                self.watcher.stop()
            if self.control:
                self.control.close()
                if self.control.created_socket:
                    self.control.path.unlink(missing_ok=True)
            if self.pool:
                self.pool.close()
            self.store.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

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
        while True:
            if self.signals.forced:
                return
            if self.signals.stop_requested and self._draining_until is None:
                self._begin_drain()
            if self._draining_until is not None and (
                    not self.in_flight or time.monotonic() > self._draining_until):
                if self.in_flight:
                    log.warning("stop_timeout reached: abandoning %d files being analysed; "
                                "they stay in inbound", len(self.in_flight))
                return
            if self.signals.take_reload():
                self.reload(None)
            if self._draining_until is None:
                self._take_arrivals()
                self._feed()
            ready = set(wait(self._waitables(), self._sleep_time()))
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 4096)
                except BlockingIOError:
                    pass
            for key, report in self.pool.collect(timeout=0):
                self._jobs.pop(key)(report)
            self.control.service(ready)
            self._tick()

    def _waitables(self) -> list[object]:
        return [self._wake_r] + self.pool.waitables() + self.control.waitables()

    def _sleep_time(self) -> float:
        candidates = [30.0, self.notify.next_ping(), self.pool.next_timeout(),
                      self.settler.next_due(), self._next_rescan - time.monotonic()]
        if self._references_due is not None:
            candidates.append(self._references_due - time.monotonic())
        if self.scans or self.queue or self.control.has_unsent():
            candidates.append(0.05)
        if self._draining_until is not None:
            candidates.append(self._draining_until - time.monotonic())
        return max(0.0, min(c for c in candidates if c is not None))

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_rescan:
            self.scan_all("periodic rescan")
            self._next_rescan = now + (self.config.daemon.rescan_interval or float("inf"))
        if self._references_due is not None and now >= self._references_due and not self.enrollment:
            self._references_due = None
            self._enrol_references()
        if now >= self._next_purge:
            ReviewQueue(self.sorter).purge(self.config.review.trash_days)
            self._next_purge = now + PURGE_EVERY
        self.notify.ping()
        line = self.status_line()
        if line != self._last_status[0] and now - self._last_status[1] >= STATUS_EVERY:
            self.notify.status(line)
            self._last_status = (line, now)

    def _begin_drain(self) -> None:
        self.notify.stopping()
        self._draining_until = time.monotonic() + self.config.daemon.stop_timeout
        if self.watcher:
            self.watcher.stop()
        left = len(self.queue) + len(self.settler)
        self.queue.clear()
        self.settler = Settler(self.config.daemon.settle, self.config.daemon.queue_limit)
        self.scans.clear()
        log.info("stopping: %d files being analysed will be finished; %d waiting stay in inbound",
                 len(self.in_flight), left)

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
            elif self._wanted(arrival.path):
                self.settler.offer(arrival.path, others=len(self.queue))
        if self.watcher.take_overflow() or self.settler.overflowed:
            self.settler.overflowed = False
            log.warning("file events were lost (a burst larger than the queues); rescanning")
            self.scan_all("events lost")

    def scan_all(self, why: str) -> None:
        if any(label == "all" for label, _ in self.scans):
            return
        log.info("scanning the inbound folders (%s)", why)
        for watch in self.config.watches:
            self.add_scan("all", watch.inbound, watch.recursive)

    def add_scan(self, label: str, folder: Path, recursive: bool) -> None:
        media = (path for path, is_media in scan.walk(folder, recursive) if is_media)
        self.scans.append((label, media))

    def _feed(self) -> None:
        limit = self.config.daemon.queue_limit
        while self.scans and len(self.settler) + len(self.queue) < limit:
            label, paths = self.scans[0]
            path = next(paths, None)
            if path is None:
                self.scans.popleft()
            elif self._wanted(path):
                self.settler.offer(path, now=0.0)  # found by a scan: ready unless still changing
        for path in self.settler.ready():
            if path not in self.in_flight:
                self.queue[path] = None
        while self.queue and self.pool.pending < WINDOW * self.pool.size:
            path = next(iter(self.queue))
            del self.queue[path]
            self.in_flight.add(path)
            self.analyse(str(path), lambda report, path=path: self._sort(path, report))

    def _wanted(self, path: Path) -> bool:
        """Not on its way already, and not put back by an undo."""
        return path not in self.in_flight and path not in self.queue and not self.sorter.is_held(path)

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
        if outcome.outcome == "left":  # a full disk, a missing folder...: look again soon
            self._next_rescan = min(self._next_rescan, time.monotonic() + RETRY_LEFT)

    # Reload

    def reload(self, done: Callable[[object], None] | None) -> None:
        """Re-read the configuration and the references folder; queued files stay queued.

        `done` is called with the enrollment summary when the new references are in,
        or with the ConfigError if the file is bad (the running configuration stays).
        """
        try:
            new = config_module.load(self.config.path)
        except ConfigError as e:
            log.error("reload refused, keeping the running configuration: %s", e)
            if done:
                done(e)
            return
        if done:
            self._reload_waiters.append(done)
        if self.enrollment is not None:
            return  # one is under way; its end answers this request too
        self.notify.reloading()
        old, self.config = self.config, new
        for key in ("state_dir", "socket", "group"):
            if getattr(old.daemon, key) != getattr(new.daemon, key):
                log.warning("[daemon] %s changed: takes effect at the next start", key)
        self.sorter = Sorter(new, self.store)
        if (new.watches, new.recognition.references) != (old.watches, old.recognition.references):
            self.watcher.stop()
            self._start_watching()
        if (EngineSettings.of(new), new.daemon.workers, new.recognition.file_timeout) != (
                EngineSettings.of(old), old.daemon.workers, old.recognition.file_timeout):
            self._replace_pool()
        self.settler.quiet = new.daemon.settle
        self._enrol_references()

    def _enrol_references(self) -> None:
        """Bring the references in line with their folder; new photos go to the pool."""
        self.enrollment = Enrollment(self.config.recognition.references, self.store)
        for path in list(self.enrollment.todo):
            self.analyse(str(path), self._enrolled)
        if not self.enrollment.todo:
            self._reloaded()

    def _enrolled(self, report: FaceReport) -> None:
        self.enrollment.add(report)
        if not self.enrollment.todo:
            self._reloaded()

    def references_changed(self, taught: dict[str, list[int]] | None = None) -> list[dict[str, Any]]:
        """Use the references as they are now, and file the review items that now match."""
        self.sorter.reload_references()
        return ReviewQueue(self.sorter).recheck(taught)

    def _reloaded(self) -> None:
        summary, self.enrollment = self.enrollment.summary, None
        self.references_changed()
        log.info("reloaded: references of %d people (%d new)", len(summary.persons), summary.added)
        self.notify.ready(self.status_line())
        for done in self._reload_waiters:
            done(summary)
        self._reload_waiters = []
        self.scan_all("reload")

    def _replace_pool(self) -> None:
        """New engine settings: let the old pool finish what it has, then start the new one."""
        old = self.pool
        while old.pending:
            for key, report in old.collect(timeout=1.0):
                self._jobs.pop(key)(report)
        old.close()
        self.pool = Pool(EngineSettings.of(self.config), self.config.daemon.workers,
                         self.config.recognition.file_timeout)

    # What status and facewatchctl show

    def status(self) -> dict[str, object]:
        s = self.stats
        return {
            "version": __version__, "uptime_s": round(time.monotonic() - s.started, 1),
            "state": ("stopping" if self._draining_until is not None
                      else "reloading" if self.enrollment is not None else "running"),
            "workers": self.pool.size, "worker_restarts": self.pool.restarts,
            "queued": len(self.queue), "settling": len(self.settler),
            "in_flight": len(self.in_flight), "scanning": bool(self.scans),
            "processed": s.processed, "matched": s.matched, "review": s.review,
            "failed": s.failed, "duplicates": s.duplicates, "left": s.left,
            "references": self.store.reference_counts(), "last_error": s.last_error,
            "in_review": self.store.count_current(REVIEW_OUTCOMES),
            "watching": [str(w.inbound) for w in self.config.watches],
            "polling": [str(p) for p in self.watcher.polled] if self.watcher else [],
        }

    def status_line(self) -> str:
        s = self.stats
        return (f"{s.processed} sorted ({s.matched} to people, {s.review} to review, "
                f"{s.failed} failed); {len(self.queue) + len(self.settler)} waiting, "
                f"{len(self.in_flight)} in flight")
