"""A review item: the ledger's record of a file in a review folder, its stored faces and
what today's references make of them (review.py reads and acts on them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import WatchConfig
from ..engine.report import Face, FaceReport
from ..errors import UsageError
from ..policy.decide import Decision
from ..state import LedgerEntry, StoredFace
from ..vocabulary import Outcome, Reason
from .folders import subfolder_in_review


def valid_person_name(name: str) -> str:
    """A person's name becomes a folder name: refuse what cannot or should not be one."""
    if (not name or len(os.fsencode(name)) > 200 or name.startswith(".") or "/" in name
            or any(ord(c) < 32 for c in name)):
        raise UsageError(f"{name!r} cannot be a person's folder name")
    return name


@dataclass(frozen=True)
class Item:
    entry: LedgerEntry
    watch: WatchConfig
    review: Path  # the review folder it is in (watch.review, or the one it had before)
    faces: tuple[StoredFace, ...]
    decision: Decision  # against the references in use now
    source: str  # where the file was found, before it first came to review

    @property
    def id(self) -> int:
        return self.entry.item

    @property
    def path(self) -> Path:
        return self.entry.path

    @property
    def reason(self) -> str:
        return reason_of(self.entry)

    @property
    def subfolder(self) -> Path:
        """Where it sat below inbound, read off its place below the review folder."""
        return subfolder_in_review(self.review, self.path.parent)

    def nearest(self) -> tuple[str | None, float | None]:
        found = [(v.distance, v.person) for v in self.decision.faces if v.distance is not None]
        if not found:
            return None, None
        distance, person = min(found)
        return person, distance

    def as_dict(self) -> dict[str, Any]:
        person, distance = self.nearest()
        return {"id": self.id, "path": str(self.path), "reason": self.reason,
                "faces": len(self.faces), "person": person, "distance": distance,
                "kind": self.entry.evidence.get("kind"), "source": self.source,
                "since": self.entry.updated, "deleted": self.entry.outcome == Outcome.TRASH}

    def report(self) -> FaceReport:
        return report_of(self.entry, self.faces)


def reason_of(entry: LedgerEntry) -> str:
    return Reason.FAILED if entry.outcome == Outcome.FAILED else entry.reason


def report_of(entry: LedgerEntry, faces: tuple[StoredFace, ...]) -> FaceReport:
    """The worker's report of a file, rebuilt from the ledger and the stored faces."""
    return FaceReport(str(entry.path), entry.evidence.get("kind", "image"), sha256=entry.sha256,
                      size=tuple(entry.evidence.get("size", (0, 0))),
                      orientation=entry.evidence.get("orientation", 1),
                      faces=tuple(Face(f.box, f.encoding, f.score, f.time, f.side, f.sharpness) for f in faces),
                      seconds=entry.evidence.get("seconds", 0.0))
