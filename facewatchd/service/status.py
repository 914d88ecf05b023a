"""What the daemon says of itself: `facewatchctl status` (data) and systemd's STATUS=
(one line)."""

from __future__ import annotations

import time
from typing import Any, Protocol

from .. import __version__
from ..config import Config
from ..files.sorter import Sorter
from ..files.watch import Watcher
from ..state import Store
from ..vocabulary import REVIEW_OUTCOMES, Outcome
from .intake import Intake, Stats
from .log import LastError
from .pools import Pools
from .tasks import Tasks


class Observed(Protocol):
    config: Config
    stats: Stats
    intake: Intake
    pools: Pools | None
    sorter: Sorter
    store: Store
    tasks: Tasks
    last_error: LastError
    watcher: Watcher | None

    @property
    def state(self) -> str: ...  # starting, running, reloading, stopping


def report(d: Observed) -> dict[str, Any]:
    assert d.pools is not None
    s, intake, pool = d.stats, d.intake, d.pools.current
    return {
        "version": __version__, "uptime_s": round(time.monotonic() - s.started, 1),
        "state": d.state, "paused": d.config.daemon.paused, "workers": pool.size, "worker_restarts": pool.restarts,
        "analysis": pool.describe(),
        "queued": len(intake.queue), "settling": len(intake.settler),
        "in_flight": len(intake.in_flight), "scanning": bool(intake.scans),
        "processed": s.processed, "matched": s.outcomes[Outcome.SORTED],
        "review": s.outcomes[Outcome.REVIEW], "failed": s.outcomes[Outcome.FAILED],
        "duplicates": s.outcomes[Outcome.DUPLICATE], "left": s.outcomes[Outcome.LEFT],
        "analysed": s.analysed, "waiting_to_move": len(intake.left),
        "ignored": intake.ignored_count(), "held": len(d.sorter.held_files()),
        "tasks": d.tasks.names(), "jobs": d.tasks.jobs(), "references": d.store.reference_counts(),
        "last_error": d.last_error.text, "last_error_time": d.last_error.time,
        "unavailable": d.sorter.mounts.problems(),
        "in_review": d.store.count_current(REVIEW_OUTCOMES),
        **backlog(d),
        "watching": [str(w.inbound) for w in d.config.watches],
        "polling": [str(p) for p in d.watcher.polled] if d.watcher else [],
    }


def backlog(d: Observed) -> dict[str, Any]:
    """How many files wait (settling, queued, being analysed), the rate over the last
    minute (files/s) and the time left at that rate (None: nothing is moving)."""
    waiting = d.intake.waiting + len(d.intake.in_flight)
    rate = d.stats.rate()
    return {"backlog": waiting, "rate": round(rate, 2),
            "eta_s": round(waiting / rate) if waiting and rate > 0 else None}


def line(d: Observed) -> str:
    s = d.stats
    o = s.outcomes
    text = (f"{s.processed} sorted ({o[Outcome.SORTED]} to people, {o[Outcome.REVIEW]} to review, "
            f"{o[Outcome.FAILED]} failed); {d.intake.waiting} waiting, {len(d.intake.in_flight)} in flight")
    if (b := backlog(d))["eta_s"] is not None:
        text += f"; {b['rate']:.1f} files/s, {_left(b['eta_s'])} left"
    text += "".join(f"; {j['name']}: {j['done']} of {j['total']}" for j in d.tasks.jobs())
    if d.config.daemon.paused:
        text = f"PAUSED (facewatchctl resume): {text}"
    if problems := d.sorter.mounts.problems():
        text += f"; {problems[0]}"
    analysis = d.pools.current.describe() if d.pools else {"mode": "local"}
    if analysis["mode"] == "cluster":
        text += (f"; {analysis['workers']} Dask workers" if analysis["state"] == "connected"
                 else f"; Dask scheduler {analysis['state'].upper()}, files wait in inbound")
    return text


def _left(seconds: float) -> str:
    """A time left, as people say it: 40 s, 12 min, 3 h 20 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:.0f} min"
