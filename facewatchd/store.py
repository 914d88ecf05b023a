"""The state database: one SQLite file (WAL), written only by the main process.

Tables: persons; refs (reference faces, encodings as 128 little-endian float64,
never pickle); files, the ledger of every file handled, whose rows double as the
journal of moves: a row is written in state 'moving' before its file moves and set
to 'done' after, so start-up can settle whatever a crash interrupted. Every later
move of the same file (kept from review, undone, deleted) is a new row pointing
back to the one before (prior_id); the row no later move replaced (next_id NULL)
says where the file is now. faces and thumbnails keep what the workers found in
files that went to review, so the queue can be taught, clustered and shown
without decoding anything again.
The schema is versioned with PRAGMA user_version and migrated forward on open.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .decide import References
from .errors import StoreError

DB_NAME = "facewatchd.db"

# Each entry moves the schema from version i to i + 1. Append only.
MIGRATIONS = [
    """
    CREATE TABLE persons (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created REAL NOT NULL
    );
    CREATE TABLE refs (
        id INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES persons(id),
        origin TEXT NOT NULL,          -- 'folder': from the references folder
        path TEXT NOT NULL,            -- the photo it was taken from
        sha256 TEXT NOT NULL,
        box TEXT NOT NULL,             -- JSON [top, right, bottom, left]
        encoding BLOB NOT NULL,        -- 128 x float64, little-endian
        active INTEGER NOT NULL DEFAULT 1,
        created REAL NOT NULL
    );
    CREATE INDEX refs_sha ON refs(sha256);
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        source TEXT NOT NULL,          -- where it was found
        target TEXT,                   -- where it went (or is going)
        links TEXT NOT NULL DEFAULT '[]',  -- further names, one per extra person
        state TEXT NOT NULL,           -- moving | done | abandoned
        outcome TEXT NOT NULL,         -- sorted | review | duplicate | failed
        reason TEXT NOT NULL,
        persons TEXT NOT NULL DEFAULT '[]',
        evidence TEXT NOT NULL,        -- JSON: faces, boxes, verdicts, frame times, rule
        original_id INTEGER REFERENCES files(id),
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE INDEX files_sha ON files(sha256);
    CREATE INDEX files_target ON files(target);
    CREATE INDEX files_moving ON files(state) WHERE state = 'moving';
    """,
    """
    ALTER TABLE files ADD COLUMN prior_id INTEGER REFERENCES files(id);
    ALTER TABLE files ADD COLUMN next_id INTEGER REFERENCES files(id);
    ALTER TABLE files ADD COLUMN item_id INTEGER;
    ALTER TABLE files ADD COLUMN actor TEXT NOT NULL DEFAULT 'daemon';
    ALTER TABLE files ADD COLUMN taught TEXT NOT NULL DEFAULT '[]';
    UPDATE files SET item_id = id WHERE outcome IN ('review', 'duplicate', 'failed');
    CREATE INDEX files_current ON files(outcome) WHERE state = 'done' AND next_id IS NULL;
    CREATE INDEX files_item ON files(item_id);
    CREATE INDEX files_source ON files(source);
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        idx INTEGER NOT NULL,
        box TEXT NOT NULL,
        score REAL NOT NULL,
        time REAL,
        encoding BLOB NOT NULL,
        UNIQUE (sha256, idx)
    );
    CREATE TABLE thumbnails (
        sha256 TEXT PRIMARY KEY,
        jpeg BLOB NOT NULL,
        time REAL
    );
    CREATE TABLE ignored_faces (
        face_id INTEGER PRIMARY KEY REFERENCES faces(id)
    );
    """,
    """
    -- The sidecars (XMP, JSON, AAE) a move carried: [{"from", "to", "sha256", "copy"}].
    ALTER TABLE files ADD COLUMN sidecars TEXT NOT NULL DEFAULT '[]';
    """,
]

# Outcomes whose file sits in a review folder: the review queue.
REVIEW_OUTCOMES = ("review", "duplicate", "failed")
# Content seen before: a new copy of it is a duplicate (trash and purged: deleted by
# the user, so a phone that uploads it again does not bring it back unasked).
KNOWN_OUTCOMES = ("sorted", "review", "trash", "purged")


def path_value(path: str | None) -> str | bytes | None:
    """A path as SQLite stores it: text, or its raw bytes when it is not valid UTF-8 (a
    name in another encoding is still a name, and must survive the round trip)."""
    if path is None:
        return None
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path)


def _path(value: str | bytes | None) -> str | None:
    return os.fsdecode(value) if isinstance(value, bytes) else value


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    sha256: str
    size: int
    source: str
    target: str | None
    links: list[str]
    state: str
    outcome: str
    reason: str
    persons: list[str]
    evidence: dict[str, Any]
    original_id: int | None
    created: float
    updated: float
    prior_id: int | None  # the move of this file before this one
    next_id: int | None  # the move after it; None: this row says where the file is now
    item_id: int | None  # the review item this file is, while in review
    actor: str  # daemon, user, recheck, undo, purge, sidecar
    taught: list[int]  # references added by this action (undo disables them)
    sidecars: list[dict[str, Any]]  # what it carried along: {"from", "to", "sha256", "copy"}

    @property
    def current(self) -> bool:
        return self.state == "done" and self.next_id is None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LedgerEntry:
        d = dict(row)
        for key in ("links", "persons", "evidence", "taught", "sidecars"):
            d[key] = json.loads(d[key])
        d["source"], d["target"] = _path(d["source"]), _path(d["target"])
        return cls(**d)


@dataclass(frozen=True)
class StoredFace:
    id: int
    sha256: str
    index: int  # its place in the file's FaceReport.faces
    box: tuple[int, int, int, int]
    score: float
    time: float | None
    encoding: np.ndarray


@dataclass(frozen=True)
class ReferenceRow:
    id: int
    person: str
    origin: str
    path: str
    sha256: str
    box: tuple[int, int, int, int]
    active: bool


class Store:
    """The one connection to the state database."""

    def __init__(self, state_dir: Path) -> None:
        try:
            state_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
            # One facewatchd per state folder: two would move the same files.
            self._lock = open(state_dir / "lock", "a")
        except OSError as e:
            raise StoreError(f"{state_dir}: {e.strerror}") from None
        try:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"{state_dir}: another facewatchd is using this state folder") from None
            self.db = sqlite3.connect(state_dir / DB_NAME, isolation_level=None)
            try:
                self.db.row_factory = sqlite3.Row
                self.db.execute("PRAGMA journal_mode = WAL")
                # FULL: every commit is fsynced before it returns, so the 'moving' row of
                # a move is on disk before the file moves, and a power cut can never
                # leave a moved file the ledger does not know (README: guarantees).
                self.db.execute("PRAGMA synchronous = FULL")
                self.db.execute("PRAGMA foreign_keys = ON")
                self._migrate()
            except BaseException:
                self.db.close()
                raise
        except sqlite3.Error as e:
            self._lock.close()
            raise StoreError(f"{state_dir / DB_NAME}: {e}") from None
        except BaseException:
            self._lock.close()
            raise

    def close(self) -> None:
        self.db.close()
        self._lock.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"the database has schema {version}, newer than this facewatchd "
                             f"({len(MIGRATIONS)})")
        for number in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    def transaction(self) -> sqlite3.Connection:
        """`with store.transaction():` — one BEGIN ... COMMIT (or ROLLBACK)."""
        return _Transaction(self.db)

    # Persons and references

    def person_id(self, name: str) -> int:
        row = self.db.execute("SELECT id FROM persons WHERE name = ?", (name,)).fetchone()
        if row:
            return row[0]
        return self.db.execute("INSERT INTO persons (name, created) VALUES (?, ?)",
                               (name, time.time())).lastrowid

    def add_reference(self, person: str, origin: str, path: str, sha256: str,
                      box: tuple[int, int, int, int], encoding: np.ndarray) -> int:
        with self.transaction():
            return self.db.execute(
                "INSERT INTO refs (person_id, origin, path, sha256, box, encoding, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.person_id(person), origin, path_value(path), sha256, json.dumps(list(box)),
                 np.asarray(encoding, "<f8").tobytes(), time.time()),
            ).lastrowid

    def references(self, origin: str | None = None) -> list[ReferenceRow]:
        rows = self.db.execute(
            "SELECT r.id, p.name, r.origin, r.path, r.sha256, r.box, r.active"
            " FROM refs r JOIN persons p ON p.id = r.person_id"
            " WHERE ? IS NULL OR r.origin = ? ORDER BY r.id", (origin, origin))
        return [ReferenceRow(r[0], r[1], r[2], _path(r[3]), r[4], tuple(json.loads(r[5])), bool(r[6]))
                for r in rows]

    def persons(self) -> list[dict[str, Any]]:
        """Each person with references: how many are in use and how many disabled."""
        rows = self.db.execute(
            "SELECT p.name, sum(r.active), sum(NOT r.active) FROM persons p"
            " JOIN refs r ON r.person_id = p.id GROUP BY p.id ORDER BY p.name")
        return [{"name": n, "references": active, "disabled": disabled} for n, active, disabled in rows]

    def reference_counts(self) -> dict[str, int]:
        """Active references per person, for those who have any."""
        return {p["name"]: p["references"] for p in self.persons() if p["references"]}

    def set_reference_active(self, ref_id: int, active: bool) -> bool:
        """Returns False if there is no reference `ref_id`."""
        return self.db.execute("UPDATE refs SET active = ? WHERE id = ?",
                               (int(active), ref_id)).rowcount == 1

    def active_references(self) -> References:
        rows = self.db.execute(
            "SELECT r.id, p.name, r.encoding FROM refs r JOIN persons p ON p.id = r.person_id"
            " WHERE r.active ORDER BY p.name, r.id").fetchall()  # by person: see References
        if not rows:
            return References()
        matrix = np.frombuffer(b"".join(r[2] for r in rows), "<f8").reshape(len(rows), 128)
        return References(tuple(r[0] for r in rows), tuple(r[1] for r in rows), matrix)

    # The ledger

    def sorted_before(self, sha256: str) -> LedgerEntry | None:
        """The oldest file with this content that is still sorted, in review or deleted."""
        row = self.db.execute(
            f"SELECT * FROM files WHERE sha256 = ? AND state = 'done' AND next_id IS NULL"
            f" AND outcome IN {KNOWN_OUTCOMES} ORDER BY id LIMIT 1", (sha256,)).fetchone()
        return LedgerEntry.from_row(row) if row else None

    def begin_move(self, *, sha256: str, size: int, source: str, target: str | None,
                   outcome: str, reason: str, persons: list[str], evidence: dict[str, Any],
                   original_id: int | None = None, prior_id: int | None = None,
                   item_id: int | None = None, actor: str = "daemon",
                   taught: list[int] = ()) -> int:
        """Journal a move before it happens. A move into review starts a review item
        (item_id = its own id) unless `item_id` carries an existing one along."""
        now = time.time()
        with self.transaction():
            entry_id = self.db.execute(
                "INSERT INTO files (sha256, size, source, target, state, outcome, reason, persons,"
                " evidence, original_id, created, updated, prior_id, item_id, actor, taught)"
                " VALUES (?, ?, ?, ?, 'moving', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sha256, size, path_value(source), path_value(target), outcome, reason,
                 json.dumps(persons),
                 json.dumps(evidence), original_id, now, now, prior_id, item_id, actor,
                 json.dumps(list(taught))),
            ).lastrowid
            if item_id is None and outcome in REVIEW_OUTCOMES:
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

    def plan_sidecars(self, entry_id: int, sidecars: list[dict[str, Any]]) -> None:
        """Journal the sidecars of a move under way before each is moved."""
        self.db.execute("UPDATE files SET sidecars = ?, updated = ? WHERE id = ?",
                        (json.dumps(sidecars), time.time(), entry_id))

    def finish_move(self, entry_id: int, links: list[str] = ()) -> None:
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

    def current(self, outcomes: tuple[str, ...], *, since: float | None = None,
                item_ids: list[int] | None = None) -> list[LedgerEntry]:
        """The entries saying where files now are, of these outcomes, oldest first."""
        sql = (f"SELECT * FROM files WHERE state = 'done' AND next_id IS NULL"
               f" AND outcome IN ({','.join('?' * len(outcomes))})")
        params: list[Any] = list(outcomes)
        if since is not None:
            sql += " AND updated >= ?"
            params.append(since)
        if item_ids is not None:
            sql += f" AND item_id IN ({','.join('?' * len(item_ids))})"
            params += item_ids
        return [LedgerEntry.from_row(r) for r in self.db.execute(sql + " ORDER BY id", params)]

    def count_current(self, outcomes: tuple[str, ...]) -> int:
        return self.db.execute(
            f"SELECT count(*) FROM files WHERE state = 'done' AND next_id IS NULL"
            f" AND outcome IN ({','.join('?' * len(outcomes))})", outcomes).fetchone()[0]

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
            entry = self.entry(entry.next_id)
        return entry

    def sources(self, entry_ids: list[int]) -> dict[int, str]:
        """Where the file of each of these moves was found (its `source`), by id."""
        found: dict[int, str] = {}
        for start in range(0, len(entry_ids), 500):  # SQLite's limit on bound parameters
            chunk = entry_ids[start:start + 500]
            found.update((r[0], _path(r[1])) for r in self.db.execute(
                f"SELECT id, source FROM files WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def entry(self, entry_id: int) -> LedgerEntry | None:
        row = self.db.execute("SELECT * FROM files WHERE id = ?", (entry_id,)).fetchone()
        return LedgerEntry.from_row(row) if row else None

    def entries(self) -> Iterator[LedgerEntry]:
        for row in self.db.execute("SELECT * FROM files ORDER BY id"):
            yield LedgerEntry.from_row(row)


    # What workers found in files sent to review

    def save_faces(self, sha256: str, faces: list[tuple[tuple[int, int, int, int], float,
                                                        float | None, np.ndarray]],
                   thumbnail: bytes, thumbnail_time: float | None) -> None:
        """Keep the faces (box, score, time, encoding) and thumbnail of a file's content."""
        with self.transaction():
            self.db.executemany(
                "INSERT OR IGNORE INTO faces (sha256, idx, box, score, time, encoding)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(sha256, i, json.dumps(list(box)), score, t, np.asarray(enc, "<f8").tobytes())
                 for i, (box, score, t, enc) in enumerate(faces)])
            if thumbnail:
                self.db.execute("INSERT OR IGNORE INTO thumbnails (sha256, jpeg, time) VALUES (?, ?, ?)",
                                (sha256, thumbnail, thumbnail_time))

    def faces_of(self, hashes: list[str]) -> dict[str, list[StoredFace]]:
        """The stored faces of each content hash, in their original order."""
        found: dict[str, list[StoredFace]] = {h: [] for h in hashes}
        for start in range(0, len(hashes), 500):  # SQLite's limit on bound parameters
            chunk = hashes[start:start + 500]
            for r in self.db.execute(
                    f"SELECT id, sha256, idx, box, score, time, encoding FROM faces"
                    f" WHERE sha256 IN ({','.join('?' * len(chunk))}) ORDER BY sha256, idx", chunk):
                found[r[1]].append(StoredFace(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5],
                                              np.frombuffer(r[6], "<f8")))
        return found

    def thumbnail(self, sha256: str) -> tuple[bytes, float | None] | None:
        row = self.db.execute("SELECT jpeg, time FROM thumbnails WHERE sha256 = ?", (sha256,)).fetchone()
        return (row[0], row[1]) if row else None

    def ignore_faces(self, face_ids: list[int]) -> None:
        with self.transaction():
            self.db.executemany("INSERT OR IGNORE INTO ignored_faces (face_id) VALUES (?)",
                                [(i,) for i in face_ids])

    def ignored_faces(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT face_id FROM ignored_faces")}


class _Transaction:
    """BEGIN ... COMMIT; inside another transaction it joins that one."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.outer = False

    def __enter__(self) -> sqlite3.Connection:
        self.outer = not self.db.in_transaction
        if self.outer:
            self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *_: object) -> None:
        if self.outer:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
