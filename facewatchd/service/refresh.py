"""Bringing the references in line with their folder, then re-checking the review queue:
at start, on reload (after applying the new configuration), and when the folder changes.

One at a time: what is asked while one runs waits, and the newest configuration asked
for is the one applied next; whoever asked (a Future) is answered when the refresh that
began after the asking ends. So a reload that arrives during an enrollment is never
dropped, nor answered before its configuration is in use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..config import Config
from ..files.enroll import EnrollSummary, enrol
from ..state import Store
from ..steps import Done, Future, Step


class Host(Protocol):
    config: Config
    store: Store

    def apply(self, config: Config, why: str) -> None: ...

    def references_changed(self, taught: dict[str, list[int]] | None = None) -> Step: ...

    def keepalive(self) -> None: ...

    def run_task(self, name: str, steps: Step, done: Done) -> None: ...

    def refreshed(self, why: str, summary: EnrollSummary | None, error: BaseException | None) -> None: ...


class Refresher:
    def __init__(self, host: Host) -> None:
        self.host = host
        self._running: list[Future] | None = None  # who waits for the one under way
        self._next: tuple[str, Config | None, list[Future], bool] | None = None

    @property
    def running(self) -> bool:
        return self._running is not None

    def request(self, why: str, config: Config | None = None, futures: Sequence[Future] = (),
                enrol: bool = True) -> None:
        """Refresh (with `config` applied first); `enrol`: bring the references in line
        with their folder too (a setting changed at run time needs only the re-check,
        unless it names another folder)."""
        if self._running is not None:
            _, queued, waiting, enrolling = self._next or (why, None, [], False)
            self._next = (why, config or queued, [*waiting, *futures], enrol or enrolling)
            return
        self._running = list(futures)
        self.host.run_task(f"references ({why})", self._steps(why, config, enrol),
                           lambda summary, error: self._done(why, summary, error))

    def _steps(self, why: str, config: Config | None, enrolling: bool) -> Step:
        if config is not None:
            before = self.host.config.recognition.references
            self.host.apply(config, why)
            enrolling = enrolling or config.recognition.references != before
        summary = (yield from enrol(self.host.config.recognition.references, self.host.store,
                                    self.host.keepalive)) if enrolling else None
        yield from self.host.references_changed()
        return summary

    def _done(self, why: str, summary: EnrollSummary | None, error: BaseException | None) -> None:
        futures, self._running = self._running or [], None
        for future in futures:
            future.set(summary, error)
        self.host.refreshed(why, summary, error)
        if self._next is not None:
            (why, config, waiting, enrolling), self._next = self._next, None
            self.request(why, config, waiting, enrolling)
