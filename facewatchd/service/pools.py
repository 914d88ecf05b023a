"""The worker pool in use, and the pools being retired after a reload changed the engine
settings: they finish what they have in the background while new files go to the new
one, so a reload never waits for a worker (a hung one has its file abandoned at its time
limit, like any other)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from ..config import Config
from ..engine.pool import EngineSettings, Pool
from ..engine.report import FaceReport

Then = Callable[[FaceReport], None]


def new_pool(config: Config) -> Pool:
    return Pool(EngineSettings.of(config), config.daemon.workers, config.recognition.file_timeout)


def settings(config: Config) -> tuple[EngineSettings, int, float]:
    """What a pool is made with: a change of these needs a new pool."""
    return EngineSettings.of(config), config.daemon.workers, config.recognition.file_timeout


class Pools:
    def __init__(self, config: Config) -> None:
        self.current = new_pool(config)
        self.retiring: list[Pool] = []
        self._jobs: dict[Hashable, Then] = {}
        self._next_key = 0

    @property
    def all(self) -> list[Pool]:
        return [self.current, *self.retiring]

    def analyse(self, path: str, then: Then) -> None:
        """Have a worker analyse `path`; `then(report)` runs when `collect` finds it back."""
        self._next_key += 1
        self._jobs[self._next_key] = then
        self.current.submit(self._next_key, path)

    def collect(self) -> list[tuple[FaceReport, Then]]:
        """The reports that are back, each with what is to be done with it; retired
        pools that are done are closed."""
        found = [(report, self._jobs.pop(key)) for pool in self.all
                 for key, report in pool.collect(timeout=0)]
        for pool in [p for p in self.retiring if not p.pending]:
            self.retiring.remove(pool)
            pool.close()
        return found

    def replace(self, config: Config) -> None:
        """A new pool for new settings; the old one finishes in the background."""
        self.retiring.append(self.current)
        self.current = new_pool(config)

    def waitables(self) -> list[Any]:
        return [w for pool in self.all for w in pool.waitables()]

    def next_timeout(self) -> float | None:
        return min((t for pool in self.all if (t := pool.next_timeout()) is not None), default=None)

    def close(self) -> None:
        for pool in self.all:
            pool.close()
