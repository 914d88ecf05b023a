"""What the workers found in the files they analysed: their faces and a thumbnail, so the
queue can be taught, re-checked, clustered and shown, and what was filed re-checked and
shown, without decoding anything again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .database import Database


@dataclass(frozen=True)
class StoredFace:
    id: int
    sha256: str
    index: int  # its place in the file's FaceReport.faces
    box: tuple[int, int, int, int]
    score: float
    time: float | None
    encoding: np.ndarray
    side: float = 0.0  # as engine.report.Face (0: not recorded)
    sharpness: float = 0.0



class FaceTable(Database):
    """Faces and thumbnails of analysed files, by content hash."""

    def save_faces(self, sha256: str, faces: Sequence[tuple[Any, ...]],
                   thumbnail: bytes, thumbnail_time: float | None) -> None:
        """Keep the faces (box, score, time, encoding[, side, sharpness]) and thumbnail of a file's content:
        those of its latest analysis, whole. The same faces found again keep their ids
        (clusters and ignored faces name them); other faces (the content analysed again
        under other settings) replace them all, so face numbers are never mixed."""
        rows = [(json.dumps(list(box)), score, t, np.asarray(enc, "<f8").tobytes())
                for box, score, t, enc, *_ in faces]
        seen = [(*face[4:6], None, None)[:2] for face in faces]
        with self.transaction():
            kept = self.db.execute("SELECT box, score, time, encoding FROM faces WHERE sha256 = ?"
                                   " ORDER BY idx", (sha256,)).fetchall()
            if [tuple(r) for r in kept] != rows:
                self.db.execute("DELETE FROM ignored_faces WHERE face_id IN"
                                " (SELECT id FROM faces WHERE sha256 = ?)", (sha256,))
                self.db.execute("DELETE FROM faces WHERE sha256 = ?", (sha256,))
                self.db.executemany(
                    "INSERT INTO faces (sha256, idx, box, score, time, encoding, side, sharpness)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(sha256, i, *row, *seen[i]) for i, row in enumerate(rows)])
                self.db.execute("DELETE FROM thumbnails WHERE sha256 = ?", (sha256,))
            if thumbnail:
                self.db.execute("INSERT OR IGNORE INTO thumbnails (sha256, jpeg, time) VALUES (?, ?, ?)",
                                (sha256, thumbnail, thumbnail_time))

    def add_stored_face(self, sha256: str, box: tuple[int, int, int, int], encoding: np.ndarray) -> int:
        """One more face of a content (drawn by a person): its index, after the others'."""
        with self.transaction():
            (index,) = self.db.execute("SELECT coalesce(max(idx) + 1, 0) FROM faces WHERE sha256 = ?",
                                       (sha256,)).fetchone()
            self.db.execute("INSERT INTO faces (sha256, idx, box, score, time, encoding, side)"
                            " VALUES (?, ?, ?, 0.0, NULL, ?, ?)",
                            (sha256, index, json.dumps(list(box)), np.asarray(encoding, "<f8").tobytes(),
                             float(min(box[1] - box[3], box[2] - box[0]))))
            return int(index)

    def faces_of(self, hashes: list[str]) -> dict[str, list[StoredFace]]:
        """The stored faces of each content hash, in their original order."""
        found: dict[str, list[StoredFace]] = {h: [] for h in hashes}
        for start in range(0, len(hashes), 500):  # SQLite's limit on bound parameters
            chunk = hashes[start:start + 500]
            for r in self.db.execute(
                    f"SELECT id, sha256, idx, box, score, time, encoding, side, sharpness FROM faces"
                    f" WHERE sha256 IN ({','.join('?' * len(chunk))}) ORDER BY sha256, idx", chunk):
                found[r[1]].append(StoredFace(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5],
                                              np.frombuffer(r[6], "<f8"), r[7] or 0.0, r[8] or 0.0))
        return found

    def thumbnail(self, sha256: str) -> tuple[bytes, float | None] | None:
        row = self.db.execute("SELECT jpeg, time FROM thumbnails WHERE sha256 = ?", (sha256,)).fetchone()
        return (row[0], row[1]) if row else None

    def thumbnail_times(self, hashes: list[str]) -> dict[str, float | None]:
        """For each content hash that has a thumbnail, the time into a video it shows
        (None for a photo); hashes without one are left out."""
        found: dict[str, float | None] = {}
        for start in range(0, len(hashes), 500):  # SQLite's limit on bound parameters
            chunk = hashes[start:start + 500]
            found.update(self.db.execute(
                f"SELECT sha256, time FROM thumbnails WHERE sha256 IN ({','.join('?' * len(chunk))})",
                chunk).fetchall())
        return found

    def ignore_faces(self, face_ids: list[int]) -> None:
        with self.transaction():
            self.db.executemany("INSERT OR IGNORE INTO ignored_faces (face_id) VALUES (?)",
                                [(i,) for i in face_ids])

    def ignored_faces(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT face_id FROM ignored_faces")}


