"""Watching the inbound folders: inotify events become paths to look at.

What inotify reports, measured here: a file written in place ends with a
close-after-write; one renamed in from elsewhere in the tree gives only a move; one
moved in from another filesystem gives only a create; files written into a newly
created folder lose most of their events. So this acts on close-after-write, on the
destination of moves, on creates, and on new folders (which the daemon scans), and
nothing is taken as ready until it has stopped changing (`Settler`).

watchdog calls no handler when the kernel's event queue overflows; it only logs a
warning, which `Watcher` listens for to ask for a rescan. A folder that cannot get
inotify watches (the watch limit) is polled instead.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import stat
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from ..engine import kinds

log = logging.getLogger("facewatchd.watch")

POLL_INTERVAL = 5.0  # seconds, for folders that get no inotify watches
_EVENTS = [FileClosedEvent, FileMovedEvent, FileCreatedEvent, DirCreatedEvent, DirMovedEvent]


@dataclass(frozen=True)
class Arrival:
    """Something appeared in an inbound folder: a file to settle, or a folder to scan."""

    path: Path
    is_dir: bool


class _Handler(FileSystemEventHandler):
    def __init__(self, arrivals: queue.SimpleQueue[Arrival], wake: Callable[[], None]) -> None:
        self.arrivals, self.wake = arrivals, wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        path = Path(os.fsdecode(event.dest_path if event.event_type == "moved" else event.src_path))
        if kinds.wanted(path.name):
            self.arrivals.put(Arrival(path, event.is_directory))
            self.wake()


class _OverflowListener(logging.Handler):
    """watchdog's only sign of a kernel queue overflow is this log record."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.on_overflow()


def _not_the_stop_race(record: logging.LogRecord) -> bool:
    # watchdog 7 logs this as an error when it is stopped while its reader thread is in a
    # read (a benign race in its own stop()); it is no error of ours, nor worth `status`.
    return "called when the thread is inactive" not in record.getMessage()


logging.getLogger("watchdog.observers.inotify").addFilter(_not_the_stop_race)
# And it warns when a folder made with its subfolders at once (`mkdir -p a/b`) gets its
# watch added twice, from its own event and from the scan of its parent: the same
# callback replaces itself, nothing is lost (tests/files/test_watch.py sees the files).
BENIGN_WATCHDOG_WARNING = r"Callback with id '\d+' already exists for watch"
warnings.filterwarnings("ignore", BENIGN_WATCHDOG_WARNING, RuntimeWarning)


class Watcher:
    """inotify watches on folders (the inbound ones, the references); arrivals queue up
    for the main loop."""

    def __init__(self, folders: Iterable[tuple[Path, bool]], wake: Callable[[], None]) -> None:
        self.folders = tuple(folders)  # (folder, recursive)
        self.wake = wake
        self.arrivals: queue.SimpleQueue[Arrival] = queue.SimpleQueue()
        self._overflowed = threading.Event()
        self._listener = _OverflowListener(self._on_overflow)
        self._inotify = Observer()
        self._polling: PollingObserver | None = None
        self.polled: list[Path] = []  # folders that could not get inotify watches

    def start(self) -> None:
        logging.getLogger("watchdog.observers.inotify_c").addHandler(self._listener)
        handler = _Handler(self.arrivals, self.wake)
        self._inotify.start()
        for folder, recursive in self.folders:
            before = _inotify_watches()
            try:
                watched = self._inotify.schedule(handler, str(folder), recursive=recursive,
                                                 event_filter=_EVENTS)
            except OSError as e:
                if e.errno not in (errno.ENOSPC, errno.EMFILE):
                    raise
                why = e.strerror
            else:
                # watchdog skips subfolders it cannot watch without a word: count what
                # the kernel really holds against the folders there are.
                wanted = 1 + (_subfolders(folder) if recursive else 0)
                if _inotify_watches() - before >= wanted:
                    continue
                self._inotify.unschedule(watched)
                why = "inotify watch limit reached"
            log.error("cannot watch %s with inotify (%s; raise fs.inotify.max_user_watches "
                      "or max_user_instances): polling it every %g s instead",
                      folder, why, POLL_INTERVAL)
            if self._polling is None:
                self._polling = PollingObserver(timeout=POLL_INTERVAL)
                self._polling.start()
            self._polling.schedule(handler, str(folder), recursive=recursive,
                                   event_filter=_EVENTS)
            self.polled.append(folder)

    def stop(self) -> None:
        logging.getLogger("watchdog.observers.inotify_c").removeHandler(self._listener)
        for observer in (self._inotify, self._polling):
            if observer is not None and observer.is_alive():
                observer.stop()
                observer.join(timeout=5)

    def take_overflow(self) -> bool:
        """Whether events were lost since the last call."""
        lost = self._overflowed.is_set()
        self._overflowed.clear()
        return lost

    def _on_overflow(self) -> None:
        self._overflowed.set()
        self.wake()


def _inotify_watches() -> int:
    """How many inotify watches this process holds, as the kernel counts them."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify":
                with open(f"/proc/self/fdinfo/{fd}") as info:
                    count += sum(line.startswith("inotify wd:") for line in info)
        except OSError:
            continue
    return count


def _subfolders(folder: Path) -> int:
    return sum(len(dirs) for _, dirs, _ in os.walk(folder))


class Settler:
    """Holds paths until they have stopped changing.

    A path is ready once no event has come for `quiet` seconds and its mtime is at
    least that old too (a copy keeps touching it; a scan finds old files ready at
    once). At most `limit` paths are held (with those held elsewhere); past that
    `overflowed` is set and the extra paths are dropped, to be found again by a rescan.
    """

    def __init__(self, quiet: float, limit: int) -> None:
        self.quiet, self.limit = quiet, limit
        self._last_event: dict[Path, float] = {}
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._last_event)

    def offer(self, path: Path, now: float | None = None, others: int = 0) -> None:
        """Hold `path`; `others` paths held elsewhere (the queue) count against the limit."""
        if path not in self._last_event and len(self._last_event) + others >= self.limit:
            self.overflowed = True
            return
        self._last_event[path] = time.monotonic() if now is None else now

    def ready(self, now: float | None = None) -> list[Path]:
        """Paths that have settled (removed from the settler); gone or odd ones are dropped."""
        now = time.monotonic() if now is None else now
        wall = time.time()
        out = []
        for path, last in list(self._last_event.items()):
            if now - last < self.quiet:
                continue
            try:
                st = os.lstat(path)
            except OSError:
                del self._last_event[path]
                continue
            if not stat.S_ISREG(st.st_mode):
                del self._last_event[path]
            elif wall - st.st_mtime >= self.quiet or st.st_mtime > wall + 1:
                del self._last_event[path]
                out.append(path)
            else:
                self._last_event[path] = now  # still being written: look again later
        return out

    def next_due(self) -> float | None:
        """Seconds until the earliest held path may be ready."""
        if not self._last_event:
            return None
        return max(0.0, min(self._last_event.values()) + self.quiet - time.monotonic())
