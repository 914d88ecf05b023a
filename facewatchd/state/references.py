"""The people and their reference faces (128 little-endian float64 each, never pickle)."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..vocabulary import Origin
from .database import Database, path_of, path_value


class ActiveReferences(NamedTuple):
    ids: tuple[int, ...]
    persons: tuple[str, ...]
    matrix: np.ndarray
    auto: tuple[bool, ...]  # made by auto_reference


@dataclass(frozen=True)
class ReferenceRow:
    id: int
    person: str
    origin: Origin
    path: str
    sha256: str
    box: tuple[int, int, int, int]
    active: bool



class ReferenceTable(Database):
    """Persons and their reference faces."""

    def person_id(self, name: str) -> int:
        row = self.db.execute("SELECT id FROM persons WHERE name = ?", (name,)).fetchone()
        if row:
            return int(row[0])
        return _inserted(self.db.execute("INSERT INTO persons (name, created) VALUES (?, ?)",
                                         (name, time.time())))

    def add_reference(self, person: str, origin: Origin, path: str, sha256: str,
                      box: tuple[int, int, int, int], encoding: np.ndarray) -> int:
        with self.transaction():
            return _inserted(self.db.execute(
                "INSERT INTO refs (person_id, origin, path, sha256, box, encoding, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.person_id(person), origin, path_value(path), sha256, json.dumps(list(box)),
                 np.asarray(encoding, "<f8").tobytes(), time.time())))

    def references(self, origin: Origin | None = None) -> list[ReferenceRow]:
        rows = self.db.execute(
            f"{_REFERENCE_ROWS} WHERE ? IS NULL OR r.origin = ? ORDER BY r.id", (origin, origin))
        return [_reference(r) for r in rows]

    def reference(self, ref_id: int) -> ReferenceRow | None:
        row = self.db.execute(f"{_REFERENCE_ROWS} WHERE r.id = ?", (ref_id,)).fetchone()
        return _reference(row) if row else None

    def persons(self) -> list[dict[str, Any]]:
        """Each person with references: how many are in use and how many disabled."""
        rows = self.db.execute(
            "SELECT p.name, sum(r.active), sum(NOT r.active) FROM persons p"
            " JOIN refs r ON r.person_id = p.id GROUP BY p.id ORDER BY p.name")
        return [{"name": n, "references": active, "disabled": disabled} for n, active, disabled in rows]

    def reference_counts(self) -> dict[str, int]:
        """Active references per person, for those who have any."""
        return {p["name"]: p["references"] for p in self.persons() if p["references"]}

    def forget_reference(self, ref_id: int) -> None:
        """Remove a reference that never took effect (its teaching was refused), and its
        person if that leaves them none."""
        with self.transaction():
            row = self.db.execute("DELETE FROM refs WHERE id = ? RETURNING person_id",
                                  (ref_id,)).fetchone()
            if row is not None:
                self.db.execute("DELETE FROM persons WHERE id = ? AND NOT EXISTS"
                                " (SELECT 1 FROM refs WHERE person_id = ?)", (row[0], row[0]))

    def imported_since(self, since: float) -> list[int]:
        """The references import-regions made at or after `since` that are in use."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM refs WHERE origin = ? AND created >= ? AND active ORDER BY id",
            (Origin.IMPORTED, since))]

    def set_reference_active(self, ref_id: int, active: bool) -> bool:
        """Returns False if there is no reference `ref_id`."""
        return self.db.execute("UPDATE refs SET active = ? WHERE id = ?",
                               (int(active), ref_id)).rowcount == 1

    def active_references(self) -> ActiveReferences:
        """Every reference in use: ids, persons and encodings (an N×128 matrix), ordered
        by person, as policy.decide.References wants them."""
        rows = self.db.execute(
            "SELECT r.id, p.name, r.encoding, r.origin FROM refs r JOIN persons p ON p.id = r.person_id"
            " WHERE r.active ORDER BY p.name, r.id").fetchall()
        matrix = np.frombuffer(b"".join(r[2] for r in rows), "<f8").reshape(len(rows), 128)
        return ActiveReferences(tuple(r[0] for r in rows), tuple(r[1] for r in rows), matrix,
                                tuple(r[3] == Origin.AUTO for r in rows))


_REFERENCE_ROWS = ("SELECT r.id, p.name, r.origin, r.path, r.sha256, r.box, r.active"
                   " FROM refs r JOIN persons p ON p.id = r.person_id")


def _reference(r: sqlite3.Row) -> ReferenceRow:
    return ReferenceRow(r[0], r[1], Origin(r[2]), path_of(r[3]), r[4], tuple(json.loads(r[5])), bool(r[6]))


def _inserted(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT made."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid
