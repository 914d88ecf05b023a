"""What a person sees during long work: on a terminal one live line (tqdm: done of
total, counts so far, rate, time left), redrawn in place; elsewhere (a pipe, CI, a
service's journal) plain lines, at most one every PLAIN_EVERY seconds, with no control
characters. tqdm, not our own: it measures the rate and time left as rsync and pip do."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

from tqdm import tqdm

PLAIN_EVERY = 10.0  # seconds between plain lines
T = TypeVar("T")


class Progress:
    def __init__(self, total: int, what: str, stream: IO[str] | None = None, live: bool = False) -> None:
        """`live`: a bar even before the total is known (to()'s job)."""
        self.stream = stream or sys.stdout
        self.total, self.what, self.done = total, what, 0
        self.counts: dict[str, int] = {}
        self.started = self._said = time.monotonic()
        # The terminal's width, or 80 where it says 0 (a pseudo-terminal nobody sized).
        self.bar = (tqdm(total=total, unit=" files", desc=what, file=self.stream, leave=True,
                         ncols=shutil.get_terminal_size().columns, smoothing=0.1)
                    if self.stream.isatty() and (total or live) else None)

    def update(self, counts: dict[str, int] | None = None) -> None:
        """One more done; `counts` are what became of them so far (to people, review)."""
        self.done += 1
        self.counts = counts if counts is not None else self.counts
        if self.bar is not None:
            self.bar.set_postfix_str(self._counts(), refresh=False)
            self.bar.update(1)
        elif time.monotonic() - self._said >= PLAIN_EVERY and self.done < self.total:
            self._said = time.monotonic()
            print(self.line(), file=self.stream, flush=True)

    def to(self, done: int, total: int) -> None:
        """Where a job someone else does has got to (the daemon's, as `status` says)."""
        if self.bar is not None:
            if total != self.total:
                self.bar.total = total
            if done > self.done:  # as update() does, so that tqdm's rate is right
                self.bar.update(done - self.done)
            else:
                self.bar.refresh()
        self.done, self.total = done, total

    def line(self) -> str:
        """The plain line: 30 of 60 files, 12 to people, 3.1 files/s, 10 s left."""
        seconds = time.monotonic() - self.started
        rate = self.done / seconds if seconds > 0 else 0.0
        left = f", {(self.total - self.done) / rate:.0f} s left" if rate > 0 else ""
        counts = f", {self._counts()}" if self.counts else ""
        return f"{self.what}: {self.done} of {self.total}{counts}, {rate:.1f} files/s{left}"

    def _counts(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in self.counts.items())

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def counted(items: Iterable[T], total: int, what: str, stream: IO[str] | None = None) -> Iterator[T]:
    """`items`, with a Progress of them as they come."""
    progress = Progress(total, what, stream)
    try:
        for item in items:
            yield item
            progress.update()
    finally:
        progress.close()
