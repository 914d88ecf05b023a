"""One file found in inbound, the same for the daemon and --oneshot: what it is to the
sorter, its sorting (a bug costs that file, not the run), and the one tally of outcomes.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..engine import kinds
from ..engine.report import FaceReport
from ..vocabulary import Outcome
from .sorter import Handled, Sorter

log = logging.getLogger("facewatchd")

Triaged = Literal["media", "sidecar", "held", "ignored"]  # Outcome words for the last two


def triage(path: Path, kind: kinds.Kind | None, sorter: Sorter) -> Triaged:
    """media: to analyse and sort; sidecar: goes with its photo; held: put back by an
    undo, left until released; ignored: not ours to take (left where it is)."""
    if kind is None:
        return "ignored"
    if kind == "sidecar":
        return "sidecar"
    return "held" if sorter.is_held(path) else "media"


def sort(sorter: Sorter, report: FaceReport) -> Handled:
    """Decide and move the file of `report`; an internal error leaves it in inbound."""
    try:
        return sorter.handle(report)
    except Exception as e:
        log.exception("internal error while sorting %s; it stays in inbound", report.path)
        return Handled(Path(report.path), Outcome.LEFT, f"internal error: {type(e).__name__}: {e}")


def sort_many(sorter: Sorter, reports: list[FaceReport]) -> list[Handled]:
    """`sort` for many files at once (Sorter.handle_many: moved as a group); an internal
    error leaves each file where it is then (those moved already are in the ledger)."""
    try:
        return sorter.handle_many(reports)
    except Exception as e:
        log.exception("internal error while sorting %d files; those not moved stay in inbound",
                      len(reports))
        return [Handled(Path(r.path), Outcome.LEFT, f"internal error: {type(e).__name__}: {e}")
                for r in reports]


def follow(sorter: Sorter, sidecar: Path) -> bool:
    """A settled sidecar with no photo beside it: to its photo's place if that was sorted
    before. False when it stays (ignored)."""
    return kinds.photo_of(sidecar) is not None or sorter.follow(sidecar).outcome != Outcome.IGNORED


@dataclass
class Tally:
    """What became of the files handled: outcomes, files per person, review reasons."""

    outcomes: Counter[str] = field(default_factory=Counter)  # sorted, review, duplicate, failed, left
    per_person: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)  # why files went to review

    def count(self, outcome: Handled) -> None:
        self.outcomes[outcome.outcome] += 1
        self.per_person.update(outcome.persons)
        if outcome.outcome == Outcome.REVIEW:
            self.reasons[outcome.reason] += 1

    @property
    def processed(self) -> int:
        return sum(self.outcomes.values())
