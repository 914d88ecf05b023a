"""The one connection to the state database: its lock, its transactions, its migrations.

One SQLite file (WAL) in the state folder, written only by the main process; one
facewatchd per state folder (an flock). Paths are stored as text, or as their raw
bytes when a name is not UTF-8, so every name survives the round trip.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from ..errors import StoreError
from .schema import DB_NAME, MIGRATIONS


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


def path_of(value: str | bytes) -> str:
    """A path as stored (see path_value), back as the name it is."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


class Database:
    """The connection, opened, locked and migrated."""

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
                # leave a moved file the ledger does not know (docs/guarantees.md).
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

    def __enter__(self) -> Database:
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

    @property
    def generation(self) -> int:
        """Changes whenever this connection writes a row: with the daemon as the one
        writer, what was read before is still current while it stays the same."""
        return self.db.total_changes

    def transaction(self) -> _Transaction:
        """`with store.transaction():` — one BEGIN ... COMMIT (or ROLLBACK)."""
        return _Transaction(self.db)


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
