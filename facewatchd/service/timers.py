"""What the daemon does at times rather than on events: the periodic rescan, enrolling
a references folder once it is quiet, purging the review trash, retrying moves that
failed, and saying how it is (STATUS=, and the queue's size for the statistics)."""

from __future__ import annotations

import time
from typing import Protocol

from ..config import Config
from ..files import upkeep
from ..files.review import ReviewQueue
from ..state import Store
from ..vocabulary import REVIEW_OUTCOMES
from .intake import Intake
from .notify import Notifier
from .refresh import Refresher
from .tasks import Tasks

STATUS_EVERY = 2.0  # seconds between STATUS= updates, when something changed
PURGE_EVERY = 3600.0  # seconds between looks into the review trash for what has expired


class Host(Protocol):
    config: Config
    store: Store
    intake: Intake
    tasks: Tasks
    refresher: Refresher
    notify: Notifier

    @property
    def review(self) -> ReviewQueue: ...

    def status_line(self) -> str: ...


class Timers:
    def __init__(self) -> None:
        self.next_rescan = float("inf")
        self.next_purge = 0.0  # at the first tick
        self.references_due: float | None = None  # when to enrol a changed references folder
        self._said = ("", 0.0)  # the last STATUS= line, and when

    def watching(self, config: Config) -> None:
        """Folders are watched from now: the next periodic rescan is an interval away."""
        interval = config.daemon.rescan_interval
        self.next_rescan = time.monotonic() + interval if interval else float("inf")

    def references_changed(self, config: Config) -> None:
        """Something changed in the references folder: enrol once it is quiet."""
        self.references_due = time.monotonic() + config.daemon.settle

    def due(self) -> list[float]:
        return [t for t in (self.next_rescan, self.next_purge, self.references_due) if t is not None]

    def tick(self, d: Host) -> None:
        now = time.monotonic()
        if now >= self.next_rescan:
            self.next_rescan = now + (d.config.daemon.rescan_interval or float("inf"))
            d.intake.scan_all("periodic rescan")
        if self.references_due is not None and now >= self.references_due:
            self.references_due = None
            d.refresher.request("the references folder changed")
        if now >= self.next_purge:
            self.next_purge = now + PURGE_EVERY
            d.tasks.background("purging the review trash", upkeep.purge(d.review, d.config.review.trash_days))
            d.store.note_queue(d.store.count_current(REVIEW_OUTCOMES))
        if (retry := d.intake.next_retry()) is not None and retry <= now:
            d.tasks.background("retrying files that could not be moved", d.intake.retry_left())
        line = d.status_line()
        if line != self._said[0] and now - self._said[1] >= STATUS_EVERY:
            d.notify.status(line)
            self._said = (line, now)
            d.store.note_queue(d.store.count_current(REVIEW_OUTCOMES))  # the statistics' queue size
