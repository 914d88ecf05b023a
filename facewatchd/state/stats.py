"""Statistics by day, read off the ledger (every move is a row with its time, outcome,
reason, persons and who made it), so they last as long as the ledger and cost nothing
to keep; and the review queue's size at the end of each day, which no row says."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import date, timedelta
from typing import Any

from ..vocabulary import Actor, Outcome, Reason
from .database import Database

_DAY = "date(created, 'unixepoch', 'localtime')"


class StatsTable(Database):
    def daily(self, days: int) -> list[dict[str, Any]]:
        """The last `days` days (today included, oldest first), each: the files sorted per
        person and to review per reason as they arrived, duplicates, failed, what people
        did in review, the files re-checks filed, undone moves, the share of decided files
        that went to someone, and the queue's size that day (None: not running then)."""
        first = date.today() - timedelta(days=days - 1)
        start = time.mktime(first.timetuple())
        found = {(first + timedelta(n)).isoformat(): _Day() for n in range(days)}
        for row in self.db.execute(
                f"SELECT {_DAY} AS day, actor, outcome, reason, persons, count(*) AS n FROM files"
                " WHERE state = 'done' AND created >= ? GROUP BY day, actor, outcome, reason, persons",
                (start,)):
            if row["day"] in found:
                found[row["day"]].add(row)
        sizes = dict(self.db.execute("SELECT day, size FROM queue_sizes WHERE day >= ?",
                                     (first.isoformat(),)).fetchall())
        return [found[day].as_dict(day, sizes.get(day)) for day in sorted(found)]

    def note_queue(self, size: int) -> None:
        """The review queue's size now, kept as today's (the last one of the day stays)."""
        today = date.today().isoformat()
        row = self.db.execute("SELECT size FROM queue_sizes WHERE day = ?", (today,)).fetchone()
        if row is None or row[0] != size:
            self.db.execute("INSERT OR REPLACE INTO queue_sizes (day, size) VALUES (?, ?)", (today, size))


class _Day:
    def __init__(self) -> None:
        self.sorted: Counter[str] = Counter()  # per person (a photo of two counts for both)
        self.review: Counter[str] = Counter()  # per reason
        self.actions: Counter[str] = Counter()  # kept, taught, deleted, restored
        self.files: Counter[str] = Counter()  # sorted, review, duplicate, failed, as they arrived
        self.rechecked = 0
        self.undone = 0

    def add(self, row: Any) -> None:
        n, actor, outcome, reason = row["n"], row["actor"], row["outcome"], row["reason"]
        if actor == Actor.DAEMON:
            self.files[outcome] += n
            if outcome == Outcome.SORTED:
                self.sorted.update(dict.fromkeys(json.loads(row["persons"]), n))
            elif outcome in (Outcome.REVIEW, Outcome.DUPLICATE, Outcome.FAILED):
                self.review[Reason.FAILED if outcome == Outcome.FAILED else reason] += n
        elif actor == Actor.USER:
            action = {Reason.KEPT: "kept", Reason.TAUGHT: "taught"}.get(reason) or (
                "deleted" if outcome == Outcome.TRASH else "restored")
            self.actions[action] += n
        elif actor == Actor.RECHECK:
            self.rechecked += n
        elif actor == Actor.UNDO:
            self.undone += n

    def as_dict(self, day: str, queue: int | None) -> dict[str, Any]:
        decided = self.files[Outcome.SORTED] + self.files[Outcome.REVIEW]
        return {"day": day, "sorted": dict(self.sorted), "to_people": self.files[Outcome.SORTED],
                "review": dict(self.review), "to_review": self.files[Outcome.REVIEW],
                "duplicates": self.files[Outcome.DUPLICATE], "failed": self.files[Outcome.FAILED],
                "actions": {a: self.actions[a] for a in ("kept", "taught", "deleted", "restored")},
                "rechecked": self.rechecked, "undone": self.undone,
                "match_rate": round(self.files[Outcome.SORTED] / decided, 3) if decided else None,
                "queue": queue}
