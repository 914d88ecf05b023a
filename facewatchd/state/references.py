"""The people, their reference faces and their negative examples ("not this person"),
as 128 little-endian float64 each, never pickle."""

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
    created: float = 0.0
    score: float | None = None
    side: float | None = None
    sharpness: float | None = None


@dataclass(frozen=True)
class Quality:
    """How the encoder saw a face, for the reference audit (None: not recorded)."""

    score: float | None = None
    side: float | None = None  # px
    sharpness: float | None = None  # variance of the Laplacian of the face chip

    @classmethod
    def of(cls, face: Any) -> Quality:
        """Of an engine Face or a StoredFace (0 means unknown there)."""
        return cls(face.score, face.side or None, face.sharpness or None)


class Negatives(NamedTuple):
    """The negative examples in use: face i is not persons[i]."""

    ids: tuple[int, ...] = ()
    persons: tuple[str, ...] = ()
    matrix: np.ndarray = np.zeros((0, 128))


@dataclass(frozen=True)
class NegativeRow:
    id: int
    person: str
    path: str
    sha256: str
    box: tuple[int, int, int, int]
    active: bool
    created: float


class ReferenceTable(Database):
    """Persons and their reference faces."""

    def person_id(self, name: str) -> int:
        row = self.db.execute("SELECT id FROM persons WHERE name = ?", (name,)).fetchone()
        if row:
            return int(row[0])
        return _inserted(self.db.execute("INSERT INTO persons (name, created) VALUES (?, ?)",
                                         (name, time.time())))

    def add_reference(self, person: str, origin: Origin, path: str, sha256: str,
                      box: tuple[int, int, int, int], encoding: np.ndarray,
                      quality: Quality = Quality()) -> int:
        with self.transaction():
            return _inserted(self.db.execute(
                "INSERT INTO refs (person_id, origin, path, sha256, box, encoding, created, score,"
                " side, sharpness) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.person_id(person), origin, path_value(path), sha256, json.dumps(list(box)),
                 np.asarray(encoding, "<f8").tobytes(), time.time(), quality.score, quality.side,
                 quality.sharpness)))

    def reference_encodings(self, ref_ids: list[int]) -> dict[int, np.ndarray]:
        rows = self.db.execute(f"SELECT id, encoding FROM refs WHERE id IN ({','.join('?' * len(ref_ids))})",
                               ref_ids)
        return {r[0]: np.frombuffer(r[1], "<f8") for r in rows}

    def set_reference_path(self, ref_id: int, path: str) -> None:
        self.db.execute("UPDATE refs SET path = ? WHERE id = ?", (path_value(path), ref_id))

    # Negative examples

    def add_negative(self, person: str, path: str, sha256: str, box: tuple[int, int, int, int],
                     encoding: np.ndarray) -> int:
        """Face `box` of the file `sha256` is not `person`; its id."""
        with self.transaction():
            return _inserted(self.db.execute(
                "INSERT INTO negatives (person_id, path, sha256, box, encoding, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (self.person_id(person), path_value(path), sha256, json.dumps(list(box)),
                 np.asarray(encoding, "<f8").tobytes(), time.time())))

    def negatives(self, person: str | None = None) -> list[NegativeRow]:
        rows = self.db.execute(
            "SELECT n.id, p.name, n.path, n.sha256, n.box, n.active, n.created FROM negatives n"
            " JOIN persons p ON p.id = n.person_id WHERE ? IS NULL OR p.name = ? ORDER BY n.id",
            (person, person))
        return [NegativeRow(r[0], r[1], path_of(r[2]), r[3], tuple(json.loads(r[4])), bool(r[5]), r[6])
                for r in rows]

    def set_negative_active(self, negative_id: int, active: bool) -> bool:
        return self.db.execute("UPDATE negatives SET active = ? WHERE id = ?",
                               (int(active), negative_id)).rowcount == 1

    def active_negatives(self) -> Negatives:
        rows = self.db.execute(
            "SELECT n.id, p.name, n.encoding FROM negatives n JOIN persons p ON p.id = n.person_id"
            " WHERE n.active ORDER BY n.id").fetchall()
        matrix = np.frombuffer(b"".join(r[2] for r in rows), "<f8").reshape(len(rows), 128)
        return Negatives(tuple(r[0] for r in rows), tuple(r[1] for r in rows), matrix)

    # Renaming and merging people

    def move_person(self, old: str, new: str, references: list[int] | None = None,
                    negatives: list[int] | None = None) -> tuple[list[int], list[int]]:
        """Give `old`'s references and negative examples (or only those listed) to `new`,
        made if need be; `old` is forgotten once nothing is theirs. Returns the ids moved."""
        with self.transaction():
            row = self.db.execute("SELECT id FROM persons WHERE name = ?", (old,)).fetchone()
            if row is None:
                return [], []
            moved = []
            into = self.person_id(new)
            for table, wanted in (("refs", references), ("negatives", negatives)):
                ids = [r[0] for r in self.db.execute(f"SELECT id FROM {table} WHERE person_id = ?", (row[0],))
                       if wanted is None or r[0] in wanted]
                self.db.executemany(f"UPDATE {table} SET person_id = ? WHERE id = ?", [(into, i) for i in ids])
                moved.append(ids)
            self.db.execute("DELETE FROM persons WHERE id = ? AND NOT EXISTS (SELECT 1 FROM refs WHERE"
                            " person_id = ?) AND NOT EXISTS (SELECT 1 FROM negatives WHERE person_id = ?)",
                            (row[0], row[0], row[0]))
            return moved[0], moved[1]

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
            "SELECT p.name, sum(r.active), sum(NOT r.active), (SELECT count(*) FROM negatives n"
            " WHERE n.person_id = p.id AND n.active) FROM persons p"
            " JOIN refs r ON r.person_id = p.id GROUP BY p.id ORDER BY p.name")
        return [{"name": n, "references": active, "disabled": disabled, "negatives": negatives}
                for n, active, disabled, negatives in rows]

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
                self.db.execute("DELETE FROM persons WHERE id = ? AND NOT EXISTS (SELECT 1 FROM refs"
                                " WHERE person_id = ?) AND NOT EXISTS (SELECT 1 FROM negatives WHERE"
                                " person_id = ?)", (row[0], row[0], row[0]))

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


_REFERENCE_ROWS = ("SELECT r.id, p.name, r.origin, r.path, r.sha256, r.box, r.active, r.created,"
                   " r.score, r.side, r.sharpness FROM refs r JOIN persons p ON p.id = r.person_id")


def _reference(r: sqlite3.Row) -> ReferenceRow:
    return ReferenceRow(r[0], r[1], Origin(r[2]), path_of(r[3]), r[4], tuple(json.loads(r[5])), bool(r[6]),
                        *r[7:11])


def _inserted(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT made."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid
