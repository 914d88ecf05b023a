"""Files on their way in: arrivals and scans → settler → queue → the pool → the sorter.

Bounded: the settler and the queue hold at most `queue_limit` paths together; beyond
that new arrivals are dropped and a rescan finds them later, so the backlog of a
50,000-file dump stays in inbound, not in memory. Files that could not be moved wait
here with what their analysis found, and only the move is tried again while they are
unchanged (`retry_after`, doubling up to RETRY_MAX).
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..config import Config
from ..engine import kinds
from ..engine.report import FaceReport, Signature
from ..files import scan
from ..files.sorter import Handled, Sorter
from ..files.triage import Tally, follow, sort, sort_many, triage
from ..files.watch import Arrival, Settler, Watcher
from ..steps import Step
from ..vocabulary import Outcome

log = logging.getLogger("facewatchd")

RETRY_MAX = 900.0  # seconds: the longest wait before a move is tried again
# Files analysed are moved in groups (Sorter.handle_many: two synced commits a group, not
# two a file): a group goes once nothing else is being analysed, once it has GROUP_MAX
# files, or once its first has waited GROUP_WAIT seconds.
GROUP_MAX = 128
GROUP_WAIT = 0.05


RATE_WINDOW = 60.0  # seconds: the rate `status` gives is over the last minute


@dataclass
class Stats(Tally):
    """The tally since start, how many files a worker looked at (a retried move is not
    analysed again), and when the files of the last minute were done (the rate)."""

    started: float = field(default_factory=time.monotonic)
    analysed: int = 0
    recent: deque[float] = field(default_factory=deque)

    def count(self, outcome: Handled) -> None:
        super().count(outcome)
        self.recent.append(time.monotonic())
        self._forget(self.recent[-1])

    def _forget(self, now: float) -> None:
        while self.recent and self.recent[0] < now - RATE_WINDOW:
            self.recent.popleft()

    def rate(self) -> float:
        """Files done a second over the last minute (or since start, if that is less)."""
        now = time.monotonic()
        self._forget(now)
        return len(self.recent) / max(1.0, min(RATE_WINDOW, now - self.started))


@dataclass
class Left:
    """A file that could not be moved: what its analysis found, and when to try again."""

    report: FaceReport
    delay: float
    due: float


class Host(Protocol):
    """What the intake needs of the daemon."""

    config: Config
    sorter: Sorter
    stats: Stats

    def analyse(self, path: str, then: Callable[[FaceReport], None]) -> None: ...

    def capacity(self) -> int: ...  # files the pool takes at once (pending)


Found = Iterator[tuple[Path, kinds.Kind | None]]


class Intake:
    def __init__(self, host: Host) -> None:
        self.host = host
        limits = host.config.daemon
        self.settler = Settler(limits.settle, limits.queue_limit)
        self.queue: dict[Path, None] = {}  # ready to analyse, in order, no duplicates
        self.in_flight: set[Path] = set()  # being analysed, or analysed and to be sorted
        self.analysed: dict[Path, tuple[FaceReport, float]] = {}  # to be sorted: since when
        self.left: dict[Path, Left] = {}
        self.ignored: set[Path] = set()  # files left alone in inbound: not media
        self.scans: deque[tuple[str, Found]] = deque()
        self.scan_again: str | None = None  # a full scan was asked for while one ran
        self.open = False  # nothing is sorted before the references are in

    @property
    def waiting(self) -> int:
        return len(self.queue) + len(self.settler)

    @property
    def paused(self) -> bool:
        """Sorting stopped ([daemon] paused): files are still seen, settled and counted as
        waiting, but none is analysed or moved, and none waiting for a move is retried."""
        return self.host.config.daemon.paused

    @property
    def busy(self) -> bool:
        """Something to do at once: the loop should not sleep long."""
        return bool(self.scans or self.analysed or (self.queue and not self.paused))

    def apply(self, config: Config) -> None:
        self.settler.quiet = config.daemon.settle
        self.settler.limit = config.daemon.queue_limit

    def take(self, watcher: Watcher) -> bool:
        """What the watcher saw (its queue, and whether events were lost); True when
        something changed in the references folder, which is the refresher's."""
        references, seen = self.host.config.recognition.references, False
        while True:
            try:
                arrival = watcher.arrivals.get_nowait()
            except queue.Empty:
                break
            if arrival.path.is_relative_to(references):
                seen = True
            else:
                self.arrived(arrival)
        if watcher.take_overflow() or self.settler.overflowed:
            self.settler.overflowed = False
            self.events_lost()
        return seen

    def arrived(self, arrival: Arrival) -> None:
        """Something appeared in an inbound folder: a folder is scanned, a file considered."""
        if arrival.is_dir:
            watch = self.host.sorter.watch_for(arrival.path)
            if watch is not None and watch.recursive:
                self.add_scan(str(arrival.path), arrival.path, True)
        else:
            self._consider(arrival.path, kinds.kind_of(arrival.path), now=None)

    def events_lost(self) -> None:
        log.warning("file events were lost (a burst larger than the queues); rescanning")
        self.scan_all("events lost")

    def scan_all(self, why: str) -> None:
        if any(label == "all" for label, _ in self.scans):
            # One is under way, but its listing may predate what this one is for (events
            # lost during it): look through everything once more when it is done.
            self.scan_again = why
            return
        log.info("scanning the inbound folders (%s)", why)
        for watch in self.host.config.watches:
            self.add_scan("all", watch.inbound, watch.recursive)

    def add_scan(self, label: str, folder: Path, recursive: bool) -> None:
        self.scans.append((label, scan.walk(folder, recursive)))

    def retry_now(self) -> None:
        """Files that could not be moved are tried again at once (a person fixed the disk)."""
        for left in self.left.values():
            left.due = 0.0

    def release(self, path: Path) -> bool:
        """Sort a file an undo held in inbound, once it is quiet."""
        if not self.host.sorter.release(path):
            return False
        self.settler.offer(path, now=0.0)
        return True

    def drain(self) -> int:
        """Stop taking files (the daemon is stopping); how many were waiting, in inbound."""
        waiting = self.waiting
        self.queue.clear()
        self.settler = Settler(self.settler.quiet, self.settler.limit)
        self.scans.clear()
        self.open = False
        return waiting

    def feed(self) -> None:
        """Scans → settler; settled files → queue (a sidecar to its photo); queue → pool."""
        if not self.open:
            return
        while self.scans and self.waiting < self.host.config.daemon.queue_limit:
            label, found = self.scans[0]
            path, kind = next(found, (None, None))
            if path is None:
                self.scans.popleft()
                if self.scan_again and not any(label == "all" for label, _ in self.scans):
                    why, self.scan_again = self.scan_again, None
                    self.scan_all(f"{why}, again")
            else:
                self._consider(path, kind, now=0.0)
        for path in self.settler.ready():
            if kinds.kind_of(path) == "sidecar":
                if not follow(self.host.sorter, path):
                    self._ignore(path)
            elif path not in self.in_flight:
                self.queue[path] = None
        while (self.queue and not self.paused
               and len(self.in_flight) - len(self.analysed) < self.host.capacity()):
            path = next(iter(self.queue))
            del self.queue[path]
            self.in_flight.add(path)
            self.host.analyse(str(path), functools.partial(self._analysed, path))

    def _analysed(self, path: Path, report: FaceReport) -> None:
        self.analysed[path] = (report, time.monotonic())

    def sort_analysed(self) -> None:
        """Sort the files analysed, as a group, when one is due (GROUP_MAX, GROUP_WAIT)."""
        if not self.analysed:
            return
        first = next(iter(self.analysed.values()))[1]
        if (len(self.analysed) < min(GROUP_MAX, len(self.in_flight))
                and time.monotonic() - first < GROUP_WAIT):
            return  # others are being analysed: they may join
        group = list(self.analysed.items())[:GROUP_MAX]
        for path, _ in group:
            del self.analysed[path]
        outcomes = sort_many(self.host.sorter, [report for _, (report, _) in group])
        for (path, (report, _)), outcome in zip(group, outcomes, strict=True):
            self._settle(path, report, outcome)

    def _consider(self, path: Path, kind: kinds.Kind | None, now: float | None) -> None:
        """A file seen in inbound: media and sidecars wait in the settler until they stop
        changing (`now` = 0: found by a scan, ready unless still changing); anything else
        is left where it is, and counted."""
        triaged = triage(path, kind, self.host.sorter)
        if triaged == "ignored":
            self._ignore(path)
        elif triaged != "held" and self._wanted(path):
            self.settler.offer(path, now=now, others=len(self.queue))

    def _ignore(self, path: Path) -> None:
        if len(self.ignored) < self.host.config.daemon.queue_limit:
            self.ignored.add(path)

    def _wanted(self, path: Path) -> bool:
        """Not on its way already, not waiting to be moved again."""
        if path in self.in_flight or path in self.queue:
            return False
        left = self.left.get(path)
        return left is None or not _unchanged(path, left.report.signature)

    def _settle(self, path: Path, report: FaceReport, outcome: Handled) -> None:
        """Count a file sorted; one that could not be moved waits to be moved again."""
        self.in_flight.discard(path)
        self.host.stats.count(outcome)
        before = self.left.pop(path, None)
        if outcome.outcome != Outcome.LEFT or report.signature is None or not os.path.lexists(path):
            return
        if not _unchanged(path, report.signature):
            self.settler.offer(path)  # changed while analysed: look again once it settles
        elif len(self.left) < self.host.config.daemon.queue_limit:
            delay = min(RETRY_MAX, 2 * before.delay) if before else self.host.config.daemon.retry_after
            self.left[path] = Left(report, delay, time.monotonic() + delay)

    def next_retry(self) -> float | None:
        """When the earliest file that could not be moved is due again (monotonic)."""
        if self.paused:
            return None
        return min((left.due for left in self.left.values()), default=None)

    def retry_left(self) -> Step:
        """Move again, from what their analysis found, the files that could not be moved
        and have not changed since; a changed one is analysed again."""
        for path in [p for p, left in self.left.items() if left.due <= time.monotonic()]:
            left = self.left.get(path)
            if left is None or path in self.in_flight:
                continue
            if _unchanged(path, left.report.signature):
                self._settle(path, left.report, sort(self.host.sorter, left.report))
            else:
                del self.left[path]
                if os.path.lexists(path):
                    self._consider(path, kinds.kind_of(path), now=0.0)
            yield None

    def ignored_count(self) -> int:
        """How many files left alone are still in inbound (forgetting those gone)."""
        self.ignored = {p for p in self.ignored if os.path.lexists(p)}
        return len(self.ignored)


def _unchanged(path: Path, signature: Signature | None) -> bool:
    try:
        return Signature.of(os.lstat(path)) == signature
    except OSError:
        return False
