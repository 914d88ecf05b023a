"""The ledger: every file handled, and every move of it, one row each.

A row is written 'moving' before its file moves and set 'done' after (or
'abandoned'), so start-up can settle what a crash interrupted (files/journal.py).
Each later move of a file is one more row pointing back to the one before
(prior_id); the row no later move replaced (next_id NULL) says where it is now.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..vocabulary import REVIEW_OUTCOMES, Actor, Outcome
from .database import Database, path_of, path_value

# Content seen before: a new copy of it is a duplicate (trash and purged: deleted by
# the user, so a phone that uploads it again does not bring it back unasked).
KNOWN_OUTCOMES = (Outcome.SORTED, Outcome.REVIEW, Outcome.TRASH, Outcome.PURGED)


@dataclass(frozen=True)
class Record:
    """What a ledger row says of a move, besides the file and where from and to."""

    outcome: Outcome
    reason: str  # a Reason: the decision's, or the action's
    persons: Sequence[str] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)  # faces, verdicts, the rule
    actor: Actor = Actor.DAEMON
    original_id: int | None = None  # the file this one duplicates
    prior_id: int | None = None  # the move of this file before this one
    item_id: int | None = None  # the review item it stays (None: a new one, into review)
    taught: Sequence[int] = ()  # references this move made (undo disables them)


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    sha256: str
    size: int
    source: str
    target: str | None
    links: list[str]
    state: str
    outcome: Outcome
    reason: str
    persons: list[str]
    evidence: dict[str, Any]
    original_id: int | None
    created: float
    updated: float
    prior_id: int | None  # the move of this file before this one
    next_id: int | None  # the move after it; None: this row says where the file is now
    item_id: int | None  # the review item this file is, while in review
    actor: Actor
    taught: list[int]  # references added by this action (undo disables them)
    sidecars: list[dict[str, Any]]  # what it carried along: {"from", "to", "sha256", "copy"}

    @property
    def current(self) -> bool:
        return self.state == "done" and self.next_id is None

    @property
    def path(self) -> Path:
        """Where this move put the file (a purge, which has no target, has none)."""
        if self.target is None:
            raise ValueError(f"ledger entry {self.id} put the file nowhere")
        return Path(self.target)

    @property
    def item(self) -> int:
        """The review item's id (of an entry of review)."""
        if self.item_id is None:
            raise ValueError(f"ledger entry {self.id} is not of a review item")
        return self.item_id

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LedgerEntry:
        d = dict(row)
        for key in ("links", "persons", "evidence", "taught", "sidecars"):
            d[key] = json.loads(d[key])
        d["source"] = path_of(d["source"])
        d["target"] = None if d["target"] is None else path_of(d["target"])
        d["outcome"], d["actor"] = Outcome(d["outcome"]), Actor(d["actor"])
        return cls(**d)

    @property
    def record(self) -> Record:
        """What this row says, for a row that carries it on."""
        return Record(self.outcome, self.reason, self.persons, self.evidence, self.actor,
                      self.original_id, self.prior_id, self.item_id, self.taught)



class Ledger(Database):
    """The ledger's rows: moves begun, finished, abandoned, and where files are now."""

    def sorted_before(self, sha256: str) -> LedgerEntry | None:
        """The oldest file with this content that is still sorted, in review or deleted."""
        row = self.db.execute(
            f"SELECT * FROM files WHERE sha256 = ? AND state = 'done' AND next_id IS NULL"
            f" AND outcome IN ({','.join('?' * len(KNOWN_OUTCOMES))}) ORDER BY id LIMIT 1",
            (sha256, *KNOWN_OUTCOMES)).fetchone()
        return LedgerEntry.from_row(row) if row else None

    def begin_move(self, *, sha256: str, size: int, source: str, target: str | None,
                   record: Record) -> int:
        """Journal a move before it happens. A move into review starts a review item
        (item_id = its own id) unless the record carries an existing one along."""
        now, r = time.time(), record
        with self.transaction():
            entry_id = self.db.execute(
                "INSERT INTO files (sha256, size, source, target, state, outcome, reason, persons,"
                " evidence, original_id, created, updated, prior_id, item_id, actor, taught)"
                " VALUES (?, ?, ?, ?, 'moving', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sha256, size, path_value(source), path_value(target), r.outcome, r.reason,
                 json.dumps(list(r.persons)), json.dumps(dict(r.evidence)), r.original_id, now, now,
                 r.prior_id, r.item_id, r.actor, json.dumps(list(r.taught))),
            ).lastrowid
            assert entry_id is not None
            if r.item_id is None and r.outcome in REVIEW_OUTCOMES:
                self.db.execute("UPDATE files SET item_id = id WHERE id = ?", (entry_id,))
        return entry_id

    def retarget(self, entry_id: int, target: str) -> None:
        self.db.execute("UPDATE files SET target = ?, updated = ? WHERE id = ?",
                        (path_value(target), time.time(), entry_id))

    def plan_links(self, entry_id: int, links: list[str]) -> None:
        """Journal the further names of a move under way before each is made."""
        self.db.execute("UPDATE files SET links = ?, updated = ? WHERE id = ?",
                        (json.dumps(links), time.time(), entry_id))

    def mark_released(self, entry_id: int) -> None:
        """A file an undo held in inbound may be sorted again (see Sorter.release)."""
        self.db.execute("UPDATE files SET evidence = json_set(evidence, '$.released', json('true'))"
                        " WHERE id = ?", (entry_id,))

    def set_taught(self, entry_id: int, taught: Sequence[int], note: str) -> None:
        """Record the references a move made (undo disables them), and why, in its
        evidence (`why` shows it)."""
        self.db.execute("UPDATE files SET taught = ?, evidence = json_set(evidence, '$.learned', ?)"
                        " WHERE id = ?", (json.dumps(list(taught)), note, entry_id))

    def set_xmp(self, entry_id: int, record: dict[str, Any]) -> None:
        """Record what a move wrote into its file's XMP sidecar (files/xmp.py), for undo."""
        self.db.execute("UPDATE files SET evidence = json_set(evidence, '$.xmp', json(?)) WHERE id = ?",
                        (json.dumps(record), entry_id))

    def plan_sidecars(self, entry_id: int, sidecars: list[dict[str, Any]]) -> None:
        """Journal the sidecars of a move under way before each is moved."""
        self.db.execute("UPDATE files SET sidecars = ?, updated = ? WHERE id = ?",
                        (json.dumps(sidecars), time.time(), entry_id))

    def finish_move(self, entry_id: int, links: Sequence[str] = ()) -> None:
        """The move is done: this row now says where the file is, not the one before."""
        with self.transaction():
            self.db.execute("UPDATE files SET state = 'done', links = ?, updated = ? WHERE id = ?",
                            (json.dumps(list(links)), time.time(), entry_id))
            self.db.execute("UPDATE files SET next_id = ?1 WHERE id ="
                            " (SELECT prior_id FROM files WHERE id = ?1)", (entry_id,))

    def abandon_move(self, entry_id: int, note: str) -> None:
        self.db.execute(
            "UPDATE files SET state = 'abandoned', evidence = json_set(evidence, '$.abandoned', ?),"
            " updated = ? WHERE id = ?", (note, time.time(), entry_id))

    def moves_under_way(self) -> list[LedgerEntry]:
        rows = self.db.execute("SELECT * FROM files WHERE state = 'moving' ORDER BY id")
        return [LedgerEntry.from_row(r) for r in rows]

    def entry_for_path(self, path: str) -> LedgerEntry | None:
        """The latest ledger entry of the file now at `path`, or else found at `path`."""
        return (self.current_at(path) or self._latest("state = 'done'", "target", path)
                or self._latest("state = 'done'", "links", path)
                or self._latest("1", "source", path))

    def current_at(self, path: str) -> LedgerEntry | None:
        """The entry that says a file is now at `path` (its target or one of its links)."""
        where = "state = 'done' AND next_id IS NULL"
        return self._latest(where, "target", path) or self._latest(where, "links", path)

    def _latest(self, where: str, column: str, path: str) -> LedgerEntry | None:
        # `target` and `source` are indexed; links are searched only when those miss.
        match = ("EXISTS (SELECT 1 FROM json_each(files.links) WHERE value = ?)"
                 if column == "links" else f"{column} = ?")
        row = self.db.execute(f"SELECT * FROM files WHERE {where} AND {match} ORDER BY id DESC LIMIT 1",
                              (path_value(path),)).fetchone()
        return LedgerEntry.from_row(row) if row else None

    def current(self, outcomes: Sequence[Outcome], *, since: float | None = None,
                item_ids: list[int] | None = None, rows: range | None = None) -> list[LedgerEntry]:
        """The entries saying where files now are, of these outcomes, oldest first (of
        the row ids in `rows`, if given)."""
        sql = (f"SELECT * FROM files WHERE state = 'done' AND next_id IS NULL"
               f" AND outcome IN ({','.join('?' * len(outcomes))})")
        params: list[Any] = list(outcomes)
        if rows is not None:
            sql += " AND id >= ? AND id < ?"
            params += [rows.start, rows.stop]
        if since is not None:
            sql += " AND updated >= ?"
            params.append(since)
        if item_ids is not None:
            sql += f" AND item_id IN ({','.join('?' * len(item_ids))})"
            params += item_ids
        return [LedgerEntry.from_row(r) for r in self.db.execute(sql + " ORDER BY id", params)]

    def written_since(self, after: int, also: Sequence[int] = ()) -> list[LedgerEntry]:
        """The rows after row `after`, and rows `also` (read before while 'moving'),
        oldest first: what an incremental reader of the ledger has not seen settled yet.
        Cost: the rows returned (the primary key's range)."""
        sql, params = "SELECT * FROM files WHERE id > ?", [after]
        if also:
            sql += f" OR id IN ({','.join('?' * len(also))})"
            params += list(also)
        return [LedgerEntry.from_row(r) for r in self.db.execute(sql + " ORDER BY id", params)]

    def last_id(self) -> int:
        """The id of the newest row (0 for none)."""
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM files").fetchone()[0])

    def filed_under(self, person: str) -> list[LedgerEntry]:
        """The files now sorted under `person` (first or further), oldest first."""
        return [LedgerEntry.from_row(r) for r in self.db.execute(
            "SELECT * FROM files WHERE state = 'done' AND next_id IS NULL AND outcome = ?"
            " AND EXISTS (SELECT 1 FROM json_each(files.persons) WHERE value = ?) ORDER BY id",
            (Outcome.SORTED, person))]

    def filed_persons(self) -> list[str]:
        """Everyone files are now sorted under."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT p.value FROM files, json_each(files.persons) p WHERE files.state = 'done'"
            " AND files.next_id IS NULL AND files.outcome = ? ORDER BY p.value", (Outcome.SORTED,))]

    def count_current(self, outcomes: Sequence[Outcome]) -> int:
        return int(self.db.execute(
            f"SELECT count(*) FROM files WHERE state = 'done' AND next_id IS NULL"
            f" AND outcome IN ({','.join('?' * len(outcomes))})", list(outcomes)).fetchone()[0])

    def found_as(self, prefix: str) -> Iterator[LedgerEntry]:
        """Moves of files that were found at a path starting with `prefix`, newest first."""
        value = path_value(prefix)
        if not isinstance(value, str):
            return
        for row in self.db.execute(
                "SELECT * FROM files WHERE source >= ? AND source < ? AND state = 'done'"
                " ORDER BY id DESC", (value, value + "\U0010ffff")):
            yield LedgerEntry.from_row(row)

    def current_of(self, entry: LedgerEntry) -> LedgerEntry:
        """The entry that says where the file of `entry` is now (the end of its history)."""
        while entry.next_id is not None:
            entry = self.linked(entry.next_id)
        return entry

    def sources(self, entry_ids: list[int]) -> dict[int, str]:
        """Where the file of each of these moves was found (its `source`), by id."""
        found: dict[int, str] = {}
        for start in range(0, len(entry_ids), 500):  # SQLite's limit on bound parameters
            chunk = entry_ids[start:start + 500]
            found.update((r[0], path_of(r[1])) for r in self.db.execute(
                f"SELECT id, source FROM files WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def linked(self, entry_id: int) -> LedgerEntry:
        """The entry another one points to (its prior_id, next_id): always there."""
        entry = self.entry(entry_id)
        if entry is None:
            raise LookupError(f"the ledger has no entry {entry_id}, though another points to it")
        return entry

    def entry(self, entry_id: int) -> LedgerEntry | None:
        row = self.db.execute("SELECT * FROM files WHERE id = ?", (entry_id,)).fetchone()
        return LedgerEntry.from_row(row) if row else None

    def entries(self) -> Iterator[LedgerEntry]:
        for row in self.db.execute("SELECT * FROM files ORDER BY id"):
            yield LedgerEntry.from_row(row)


