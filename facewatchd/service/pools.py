"""The worker pool in use, and the pools being retired after a reload changed the engine
settings: they finish what they have in the background while new files go to the new
one, so a reload never waits for a worker (a hung one has its file abandoned at its time
limit, like any other).

With [cluster] the pool is the Dask one (engine/cluster/) and stays for the daemon's
life: a reload hands it the new engine settings for the tasks it sends from then on,
and a changed [cluster] (or a section added or removed) waits for the next start, as
the sandbox's network does (the drop-in of systemd/facewatchd-cluster.conf).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any

from ..config import Config
from ..engine.pool import WorkerPool
from ..engine.pools import new_pool, renew
from ..engine.report import FaceReport

log = logging.getLogger("facewatchd")

Then = Callable[[FaceReport], None]


class Pools:
    def __init__(self, config: Config) -> None:
        self.cluster = config.cluster  # fixed for the daemon's life
        self.current = new_pool(config)
        self.retiring: list[WorkerPool] = []
        self._jobs: dict[Hashable, Then] = {}
        self._next_key = 0

    @property
    def all(self) -> list[WorkerPool]:
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

    def apply(self, old: Config, new: Config) -> None:
        """A reloaded configuration: new settings get a new local pool, the old one
        finishing in the background; a cluster pool takes them for its next tasks."""
        if new.cluster != self.cluster:
            log.warning("[cluster] changed: takes effect at the next start")
        fresh = renew(self.current, old, new)
        if fresh is not None:
            self.retiring.append(self.current)
            self.current = fresh

    def waitables(self) -> list[Any]:
        return [w for pool in self.all for w in pool.waitables()]

    def next_timeout(self) -> float | None:
        return min((t for pool in self.all if (t := pool.next_timeout()) is not None), default=None)

    def unavailable(self) -> str | None:
        """Why no analysis can come back for a while (the pool in use: retired ones take
        no new files), or None."""
        return self.current.unavailable()

    def close(self) -> None:
        for pool in self.all:
            pool.close()
